package archive

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/openexhibit/exhibit/capture"
	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/ingest"
	"github.com/openexhibit/exhibit/storage"
	"github.com/openexhibit/exhibit/storage/local"
	"github.com/openexhibit/exhibit/verify"
)

// IngestOptions configure one ingest run.
type IngestOptions struct {
	Case string
	// RequireTimestamp fails an item (and a checkpoint) that a TSA does
	// not timestamp; MinTimestamps fails an item whose bundles get fewer
	// timestamps than that from distinct TSAs.
	RequireTimestamp bool
	MinTimestamps    int
	// Jobs is how many files are ingested at once (0: ingest's default).
	Jobs int
	// Encrypt encrypts originals and their metadata (nil: none).
	Encrypt *ingest.Encryption
	// Readers extract format metadata and derivatives (nil: none; see
	// capture/readers for every reader Exhibit ships).
	Readers *capture.Registry
	// Observer receives progress (nil: none).
	Observer ingest.Observer
}

// Acquisition is something acquired, with its parts (see ingest).
type Acquisition = ingest.Acquisition

// Part is one original of an Acquisition: a local file or a byte stream.
type Part = ingest.Part

// IngestReport is the outcome of an ingest run.
type IngestReport struct {
	// Results has one entry per path found, or per part acquired.
	Results []ingest.Result
	// Logged is the number of custody events logged; LogErr is why the
	// run's events were not all logged (nil: they were, or there is no
	// log). NoLog says the archive has no custody log.
	Logged int
	LogErr error
	NoLog  bool
	// SyncErr: the store could not confirm that the last writes are
	// durable (a rerun writes them again).
	SyncErr error
}

// Count returns how many results have status s.
func (r *IngestReport) Count(s ingest.Status) int {
	n := 0
	for _, res := range r.Results {
		if res.Status == s {
			n++
		}
	}
	return n
}

// Ingest archives files and folders: each file is hashed, stored
// write-once, signed and recorded (see package ingest), and the run's
// custody events are appended to the log at its end under one checkpoint.
// A run that cannot log its events does not start. Errors returned are
// those that stopped the run before it read anything; what happened to
// each path, and to the events, is in the report.
func (a *Archive) Ingest(ctx context.Context, o IngestOptions, paths []string) (*IngestReport, error) {
	return a.ingest(ctx, o, func(in *ingest.Ingester) []ingest.Result { return in.Paths(ctx, paths) })
}

// Acquire archives acquisitions, each whole or not at all: every part is
// an item whose signed record names the acquisition and all its parts
// (custody.Acquisition). Otherwise it is Ingest: the run's custody events
// go on the log at its end, and the report has one result per part, in
// order.
func (a *Archive) Acquire(ctx context.Context, o IngestOptions, acqs []*Acquisition) (*IngestReport, error) {
	return a.ingest(ctx, o, func(in *ingest.Ingester) []ingest.Result { return slices.Concat(in.Acquire(ctx, acqs)...) })
}

// ingest is Ingest and Acquire: run reads the inputs with in.
func (a *Archive) ingest(ctx context.Context, o IngestOptions, run func(in *ingest.Ingester) []ingest.Result) (*IngestReport, error) {
	signer, err := a.signer(ctx)
	if err != nil {
		return nil, err
	}
	ts, err := a.timestamper(o.RequireTimestamp || o.MinTimestamps > 0)
	if err != nil {
		return nil, err
	}
	if o.MinTimestamps > len(a.o.TSA) {
		return nil, configErr("--require-timestamps %d: only %d timestamp authorities are configured (tsa: in the configuration, or EXHIBIT_TSA)", o.MinTimestamps, len(a.o.TSA))
	}
	// The log key before anything is written.
	rep := &IngestReport{}
	cl, err := a.openLog(ctx, logWrite, o.RequireTimestamp)
	if errors.Is(err, ErrNoLog) {
		rep.NoLog = true
		a.note(err.Error() + ": no custody events are logged for it")
	} else if err != nil {
		return nil, err
	}
	opts := ingest.Options{
		Store: a.store, Signer: signer, Verifier: a.trust,
		Timestamper: ts, RequireTimestamp: o.RequireTimestamp, MinTimestamps: o.MinTimestamps,
		Case: o.Case, Operator: a.o.Operator,
		Host:      hostInfo(),
		Tool:      a.o.Tool,
		LegalHold: a.o.LegalHold,
		Jobs:      o.Jobs,
		Readers:   o.Readers,
		Encrypt:   o.Encrypt,
		Observer:  o.Observer,
		// Never the archive's own files, nor the keys in the home folder.
		Exclude: []string{a.o.Home},
	}
	if r := a.o.Retention; r != nil {
		opts.Retention = &ingest.Retention{Mode: r.StorageMode(), Period: r.Period()}
	}
	if ls, ok := storage.As[*local.Store](a.store); ok {
		// The archive's folder, however the store was given.
		opts.Exclude = append(opts.Exclude, ls.Dir())
	}
	// Best effort: what an interrupted run left behind a day ago.
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	_ = storage.CleanupStale(cctx, a.store, 24*time.Hour)
	cancel()
	in, err := ingest.New(ctx, opts)
	if err != nil {
		return nil, err
	}
	rep.Results = run(in)
	if cl != nil {
		rep.Logged, rep.LogErr = a.logIngest(context.WithoutCancel(ctx), cl, rep.Results, a.actor(signer.Fingerprint()))
	}
	// Items are durable when reported; what may be lost is a record copy
	// or pointer written after, which a rerun writes again.
	rep.SyncErr = storage.Sync(context.WithoutCancel(ctx), a.store)
	return rep, nil
}

// hostInfo describes this machine for records.
func hostInfo() custody.Host {
	name, _ := os.Hostname()
	return custody.Host{Name: name, OS: runtime.GOOS, Arch: runtime.GOARCH}
}

// logIngest appends the custody events of a run in one batch (one
// checkpoint; more only past ledger.MaxBatch events): for each item
// archived or repaired, or found archived with no ingested event logged (a
// run that stopped before its append), the item's events
// (custody.IngestEvents). It returns how many events it logged.
func (a *Archive) logIngest(ctx context.Context, cl *custodyLog, results []ingest.Result, who custody.Actor) (int, error) {
	now := time.Now().UTC()
	var events []*custody.Event
	seen := map[string]bool{}
	// Items found archived whose pointers name no ingested event: a run
	// killed after its append but before its pointers may have logged them.
	// The log itself is read (only then) to tell, and their pointers are
	// written; the others are logged now.
	var unsure []ingest.Result
	for _, r := range results {
		if r.Item == "" || seen[r.Item] {
			continue
		}
		switch r.Status {
		case ingest.Archived, ingest.Repaired, ingest.Exists:
		default:
			continue
		}
		seen[r.Item] = true
		id, err := hashing.ParseDigest(r.Item)
		if err != nil {
			return 0, err
		}
		if r.Status != ingest.Archived {
			done, err := hasIngested(ctx, a.store, id)
			if err != nil {
				return 0, fmt.Errorf("custody log: %s: %w", r.Item, err)
			}
			if !done {
				unsure = append(unsure, r)
			}
			continue
		}
		ev, err := a.ingestEvents(ctx, id, r, now, who)
		if err != nil {
			return 0, err
		}
		events = append(events, ev...)
	}
	if len(unsure) > 0 {
		pending := map[string][]*custody.Event{}
		for _, r := range unsure {
			id, _ := hashing.ParseDigest(r.Item)
			ev, err := a.ingestEvents(ctx, id, r, now, who)
			if err != nil {
				return 0, err
			}
			pending[r.Item] = ev
		}
		logged, err := cl.loggedWithoutPointers(ctx, pending)
		if err != nil {
			return 0, err
		}
		for _, r := range unsure {
			if !logged[r.Item] {
				events = append(events, pending[r.Item]...)
			}
		}
	}
	if len(events) == 0 {
		return 0, nil
	}
	_, err := cl.append(ctx, events)
	return len(events), err
}

// ingestEvents are the events of an item's ingest (custody.IngestEvents).
func (a *Archive) ingestEvents(ctx context.Context, id hashing.Digest, r ingest.Result, now time.Time, who custody.Actor) ([]*custody.Event, error) {
	stmt, bound, err := a.signedRecord(ctx, id, r)
	if err != nil {
		return nil, fmt.Errorf("custody log: %s: %w", r.Item, err)
	}
	return custody.IngestEvents(id.String(), &stmt.Predicate, bound, a.store.Location(), now, who), nil
}

// signedRecord is an item's record statement and the digests of its two
// bundles: for an item this run archived, as it wrote and verified them;
// for one archived by an earlier run, from its stored bundles, each
// verified first, so that events name what the trusted key signed, never
// an unsigned copy.
func (a *Archive) signedRecord(ctx context.Context, id hashing.Digest, r ingest.Result) (*custody.Statement, custody.Bound, error) {
	if r.Status == ingest.Archived && r.Record != nil && !r.RecordBundle.IsZero() && !r.OriginalBundle.IsZero() {
		stmt, err := custody.ParseStatement(r.Record)
		return stmt, custody.Bound{Record: r.RecordBundle.String(), Original: r.OriginalBundle.String()}, err
	}
	bundle, err := storage.ReadAll(ctx, a.store, custody.RecordBundleKey(id), 64<<20)
	if err != nil {
		return nil, custody.Bound{}, err
	}
	rv, err := a.trust.VerifyStatement(bundle, id.Sum)
	if err != nil {
		return nil, custody.Bound{}, withKind(KindTampered, fmt.Errorf("%s does not verify, not logging its ingest: %w", custody.RecordBundleKey(id), err), "")
	}
	original, err := storage.ReadAll(ctx, a.store, custody.OriginalBundleKey(id), 64<<20)
	if err != nil {
		return nil, custody.Bound{}, err
	}
	if _, err := a.trust.VerifyDigest(original, id.Sum); err != nil {
		return nil, custody.Bound{}, withKind(KindTampered, fmt.Errorf("%s does not verify, not logging its ingest: %w", custody.OriginalBundleKey(id), err), "")
	}
	stmt, err := custody.ParseStatement(rv.Payload)
	return stmt, custody.Bound{Record: verify.RecordDigest(bundle), Original: hashing.Sum256(original).String()}, err
}
