package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/openexhibit/exhibit/capture/strip"
	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/custody/ledger"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/storage"
	"github.com/openexhibit/exhibit/verify"
)

// Record is an item's custody record whose signature verified.
type Record struct {
	Statement *custody.Statement
	// SignedBy is the fingerprint of the trusted key that signed it.
	SignedBy string
}

// Record reads an item's record bundle and verifies it against the trust
// file: a record is only shown or followed once its signature holds. It
// does not check the item's bytes (Verify does).
func (a *Archive) Record(ctx context.Context, id hashing.Digest) (*Record, error) {
	data, err := storage.ReadAll(ctx, a.store, custody.RecordBundleKey(id), 64<<20)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, withKind(KindNotFound, fmt.Errorf("%s is not in the archive", id), "check the item ID (exhibit ls lists them)")
	}
	if err != nil {
		return nil, err
	}
	vf, err := a.trust.VerifyStatement(data, nil)
	if err != nil {
		return nil, withKind(KindTampered, fmt.Errorf("the record of %s does not verify: %w", id, err), "run exhibit verify "+id.String())
	}
	stmt, err := custody.ParseStatement(vf.Payload)
	if err != nil {
		return nil, withKind(KindTampered, err, "run exhibit verify "+id.String())
	}
	return &Record{Statement: stmt, SignedBy: vf.KeyFingerprint}, nil
}

// Show is Record for a person reading it: the access is logged (an
// accessed event) when this home holds the log key, best effort: what
// kept it from being logged is a note (Options.Note). Evidence of
// tampering with the log is an error, not a note.
func (a *Archive) Show(ctx context.Context, id hashing.Digest) (*Record, error) {
	rec, err := a.Record(ctx, id)
	if err != nil {
		return nil, err
	}
	cl, err := a.openLog(ctx, logTryWrite, false)
	var de *verify.DescriptorError
	switch {
	case errors.As(err, &de) || ledger.IsTampering(err):
		return nil, err
	case errors.Is(err, ErrNoLog):
		a.note("custody log: " + err.Error() + ": no event is logged")
	case err != nil:
		a.note("custody log: not logged: " + err.Error())
	case cl.writable:
		if err := a.logAccess(ctx, cl, id, "show"); ledger.IsTampering(err) {
			return nil, logFailure(err)
		} else if err != nil {
			a.note("custody log: not logged: " + err.Error())
		}
	}
	return rec, nil
}

// logAccess appends an accessed event for item id on behalf of command.
func (a *Archive) logAccess(ctx context.Context, cl *custodyLog, id hashing.Digest, command string) error {
	who, err := a.homeActor()
	if err != nil {
		return err
	}
	_, err = cl.append(ctx, []*custody.Event{custody.AccessedEvent(id.String(), command, time.Now().UTC(), who)})
	return err
}

// Formats reads the metadata document a verified record names, decrypting
// it with ids when it is encrypted, checks its digests, and returns what
// each format reader found, by reader ID. It returns nil when the
// document holds nothing but the basic facts.
func (a *Archive) Formats(ctx context.Context, m *custody.Metadata, ids []age.Identity) (map[string]json.RawMessage, error) {
	if m == nil || len(m.Readers) < 2 {
		return nil, nil
	}
	if m.Encryption != nil && len(ids) == 0 {
		return nil, errors.New("the metadata document is encrypted: pass --identity FILE to show it")
	}
	var buf bytes.Buffer
	if _, err := verify.Fetch(ctx, a.store, m.Object, ids, &verify.LimitedWriter{W: &buf, N: 64 << 20}); err != nil {
		return nil, fmt.Errorf("%w (run exhibit verify)", err)
	}
	var doc struct {
		Formats map[string]json.RawMessage `json:"formats"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		return nil, fmt.Errorf("metadata document: %w", err)
	}
	return doc.Formats, nil
}

// GetOptions say which of an item's objects Get writes.
type GetOptions struct {
	// WorkingCopy asks for the stripped working copy, not the original.
	WorkingCopy bool
	// Derivative, when set, asks for the derivative of that name (a
	// capture's screenshot.png, media-001.mp4, …).
	Derivative string
	// Identities decrypt an encrypted original.
	Identities []age.Identity
}

// Got is what Get wrote.
type Got struct {
	// What names it: "original", "working copy NAME" or "derivative NAME".
	What string
	Sum  hashing.Set
}

// Get writes an item's original (or working copy) to w, streamed from the
// store and checked against the verified record: when it returns an
// error, what w received must be thrown away. The access is logged before
// Get returns, so that an access may be logged that did not complete,
// never one that was not logged; without the log key nothing is read.
func (a *Archive) Get(ctx context.Context, id hashing.Digest, o GetOptions, w io.Writer) (*Got, error) {
	rec, err := a.Record(ctx, id)
	if err != nil {
		return nil, err
	}
	cl, err := a.openLog(ctx, logWrite, false)
	if errors.Is(err, ErrNoLog) {
		a.note("custody log: " + err.Error() + ": no event is logged")
	} else if err != nil {
		return nil, err
	}
	r := &rec.Statement.Predicate
	obj, what := r.Original, "original"
	if o.Derivative != "" {
		var names []string
		for _, d := range r.Derivatives {
			names = append(names, d.Name)
			if d.Name == o.Derivative {
				obj, what = d.Object, "derivative "+d.Name
			}
		}
		if what == "original" {
			return nil, withKind(KindNotFound, fmt.Errorf("%s has no derivative %q (it has: %s)", id, o.Derivative, strings.Join(names, ", ")),
				"exhibit show lists the item's derivatives")
		}
	}
	if o.WorkingCopy {
		found := false
		for _, d := range r.Derivatives {
			if d.Kind == strip.Kind {
				obj, what, found = d.Object, "working copy "+d.Name, true
				break
			}
		}
		if !found {
			return nil, withKind(KindNotFound, fmt.Errorf("%s has no stripped working copy", id),
				"only images in formats Exhibit can strip have one; exhibit show lists the item's derivatives and any error")
		}
	}
	sum, err := verify.Fetch(ctx, a.store, obj, o.Identities, w)
	var mm *verify.MismatchError
	var nm *age.NoIdentityMatchError
	switch {
	case errors.Is(err, verify.ErrEncrypted):
		return nil, withKind(KindKey, err, "")
	case errors.As(err, &mm):
		return nil, withKind(KindTampered, fmt.Errorf("the archived %s is not what the record signed: %w", what, err),
			"nothing was written; run exhibit verify "+id.String())
	case errors.Is(err, storage.ErrNotFound):
		return nil, withKind(KindTampered, fmt.Errorf("the archived %s is missing: %w", what, err), "run exhibit verify "+id.String())
	case err != nil && ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.As(err, &nm):
		return nil, withKind(KindKey, fmt.Errorf("get: %w", err), "pass the --identity the original was encrypted to ("+recipients(obj)+")")
	case err != nil:
		return nil, fmt.Errorf("get %s: %w", what, err)
	}
	if cl != nil {
		if err := a.logAccess(ctx, cl, id, "get"); err != nil {
			if ledger.IsTampering(err) {
				return nil, withKind(KindTampered, fmt.Errorf("get: %w", err), "nothing was written: the custody log was tampered with: keep the archive and this output as evidence")
			}
			return nil, withKind(KindIO, fmt.Errorf("get: %w", err), "nothing was written; run get again")
		}
	}
	return &Got{What: what, Sum: sum}, nil
}

func recipients(o custody.Object) string {
	if o.Encryption == nil {
		return ""
	}
	return fmt.Sprint(o.Encryption.Recipients)
}

// Listed is one item as its (unsigned) record copy describes it.
type Listed struct {
	Item       string    `json:"item"`
	Case       string    `json:"case,omitempty"`
	Name       string    `json:"name"`
	Size       int64     `json:"size"`
	MediaType  string    `json:"mediaType"`
	AcquiredAt time.Time `json:"acquiredAt"`
	// Problem is set when the item's record could not be read.
	Problem string `json:"problem,omitempty"`
}

// Holds says whether the archive holds the item of this ID ("sha256:…"):
// its record bundle is there and verifies.
func (a *Archive) Holds(ctx context.Context, item string) (bool, error) {
	id, err := hashing.ParseDigest(item)
	if err != nil {
		return false, err
	}
	_, err = a.Record(ctx, id)
	if KindOf(err) == KindNotFound {
		return false, nil
	}
	return err == nil, err
}

// ItemIDs lists the IDs of the items the archive holds (the folders under
// items/): a listing, not a proof.
func (a *Archive) ItemIDs(ctx context.Context) ([]hashing.Digest, error) {
	return (&verify.Verifier{Store: a.store}).Items(ctx)
}

// List lists the items of the archive in st (of a case, when caseName is
// set) from their unsigned record copies, oldest acquisition first: a
// listing, not a proof (Verify proves). Items whose record cannot be read
// are listed with the problem, in any case.
func List(ctx context.Context, st storage.Store, caseName string) ([]Listed, error) {
	ids, err := (&verify.Verifier{Store: st}).Items(ctx)
	if err != nil {
		return nil, fmt.Errorf("list items: %w", err)
	}
	entries := []Listed{}
	for _, id := range ids {
		en := Listed{Item: id.String()}
		data, err := storage.ReadAll(ctx, st, custody.RecordKey(id), 64<<20)
		if err == nil {
			var s custody.Statement
			if err = json.Unmarshal(data, &s); err == nil {
				r := s.Predicate
				en.Case, en.Name, en.Size, en.MediaType, en.AcquiredAt = r.Case, r.Name(), r.Original.Size, r.Original.MediaType, r.AcquiredAt()
			}
		}
		if err != nil {
			en.Problem = "record unreadable (" + err.Error() + "): run exhibit verify " + id.String()
		}
		if caseName != "" && en.Case != caseName && en.Problem == "" {
			continue
		}
		entries = append(entries, en)
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].AcquiredAt.Before(entries[j].AcquiredAt) })
	return entries, nil
}
