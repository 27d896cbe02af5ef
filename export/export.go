// Package export makes disclosure packages: a selection of an archive's
// items as a BagIt bag that the recipient checks offline, with standard
// tools or with `exhibit verify-export`, without the archive, learning
// nothing of the archive's other items but hashes in the proofs and the
// log's size.
//
// A package (docs/formats.md, "Disclosure packages") holds per exhibit the
// original and/or the stripped working copy, the signed record and both
// bundles, the item's custody events, and the trust material needed to
// check them; VERIFY.md with the commands that check it; a report for
// people (report.html), index.csv and a CASE/UCO document. The export is
// itself custody: each item gets an exported event naming the package's
// tag manifest and its recipient, and the package carries an inclusion
// proof of every event it holds against one signed checkpoint.
package export

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"filippo.io/age"
	"golang.org/x/mod/sumdb/tlog"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/openexhibit/exhibit/archive"
	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/sign"
	"github.com/openexhibit/exhibit/storage"
	"github.com/openexhibit/exhibit/verify"
)

// Content says which of an item's bytes a package carries.
type Content int

const (
	// Both: the original with its metadata document and every derivative.
	Both Content = iota
	// WorkingCopies: the stripped working copies only, never a byte of an
	// original nor its metadata: for recipients who may not see them.
	WorkingCopies
	// Originals: the originals with their metadata documents and the
	// derivatives that are not working copies.
	Originals
)

func (c Content) String() string {
	return [...]string{"originals and working copies", "working copies only", "originals only"}[c]
}

// Options configure an export.
type Options struct {
	// Case selects every item of a case; Items selects items by ID (in
	// the order given). One of them is set.
	Case  string
	Items []hashing.Digest
	// Out is the package's folder; it must not exist.
	Out string
	// Recipient labels whom the package is for (bag-info.txt, the
	// exported events).
	Recipient string
	// Organization and Contact name the sender in bag-info.txt.
	Organization, Contact string
	Content               Content
	// Prefix starts each exhibit number ("EX-" gives EX-0001…).
	Prefix string
	// Identities decrypt encrypted originals and metadata documents.
	Identities []age.Identity
	// Version is the exporting program's version, for bag-info.txt.
	Version string
	// PDF, when set, is the path of chromium-headless-shell, which prints
	// report.html to report.pdf as well.
	PDF string
	// Zip writes the package as Out + ".zip" (one folder inside, named
	// after Out) instead of a folder.
	Zip bool
	// Progress, when set, is told of each exhibit written.
	Progress func(done, total int)
}

// Exhibit is one item of a package.
type Exhibit struct {
	Number string
	Item   hashing.Digest
	Record *custody.Record
	// SignedBy is the fingerprint of the key that signed the record.
	SignedBy string
	// Content names what of the item the package holds.
	Content string
	// Files are the exhibit's payload files, relative to the bag.
	Files []string
	// Original and WorkingCopy are the files of the original and of the
	// stripped working copy, when the package holds them.
	Original, WorkingCopy string
	// Blobs are the files the record's subjects name, which cosign checks
	// the record against: the original and the derivatives the package
	// holds (not the metadata document, which the record names apart).
	Blobs []string
	// Events are the item's custody events the package carries, oldest
	// first (the exported event excluded).
	Events []archive.LoggedEvent
	// Verified is the item's verification right before the export.
	Verified verify.ItemReport
	// Timestamps are the trusted times of the record bundle's timestamps.
	Timestamps []sign.TimestampResult
	// Withheld says why the package holds none of the item's bytes (no
	// working copy exists), when it does not.
	Withheld string
	// derived are the package's files of derivatives, by derivative name.
	derived map[string]string
	// copies are the objects the verification copied, by what it calls
	// them ("original", "metadata", "derivative/<name>").
	copies map[string]*copyFile
}

// Result is what Export made.
type Result struct {
	Dir      string
	Exhibits []*Exhibit
	// TagManifest is the SHA-256 of tagmanifest-sha256.txt: what the
	// exported events name.
	TagManifest hashing.Digest
	Checkpoint  custody.Checkpoint
	// Timestamped says whether the checkpoint carries an RFC 3161 token.
	Timestamped bool
	// PayloadBytes and PayloadFiles are the Payload-Oxum.
	PayloadBytes int64
	PayloadFiles int
}

// NotIntactError: an item did not verify, so it is not exported.
type NotIntactError struct {
	Reports []verify.ItemReport
}

func (e *NotIntactError) Error() string {
	var parts []string
	for _, r := range e.Reports {
		parts = append(parts, r.Item+" is "+string(r.Verdict))
	}
	return "not exported: " + strings.Join(parts, "; ")
}

// Export writes a disclosure package of the selected items of a into
// o.Out (or o.Out.zip). The items are verified first, in the same read
// that copies their objects into the package: a package is made only of
// intact items. It is written into a folder beside o.Out, put on record in
// the custody log (exported events, which need the log key), completed
// with the proofs, synced, and only then moved to o.Out. An export that
// fails before it is on record leaves nothing; one that fails after keeps
// its ".partial-…" folder and says so (the log then names a package that
// was not delivered).
func Export(ctx context.Context, a *archive.Archive, o Options) (*Result, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	ids, err := selectItems(ctx, a, o)
	if err != nil {
		return nil, err
	}
	if o.PDF != "" {
		if _, err := os.Stat(o.PDF); err != nil {
			return nil, &OptionError{fmt.Errorf("--pdf needs chromium-headless-shell: %w", err)}
		}
	}
	final := o.Out
	if o.Zip {
		final = o.Out + ".zip"
	}
	if _, err := os.Lstat(final); err == nil {
		return nil, &OptionError{fmt.Errorf("%s exists: an export goes into a new folder (or zip file)", final)}
	}
	stage, err := os.MkdirTemp(filepath.Dir(filepath.Clean(o.Out)), filepath.Base(o.Out)+".partial-")
	if err != nil {
		return nil, err
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(stage)
		}
	}()
	x := &exporter{a: a, o: o, bag: &bagWriter{dir: stage}, signers: map[string]bool{},
		checkpointStamped: len(a.TrustFile().TimestampAuthorities) > 0}
	width := max(4, len(fmt.Sprint(len(ids))))
	x.exhibits = make([]*Exhibit, len(ids))
	byItem := make(map[string]*Exhibit, len(ids))
	for i, id := range ids {
		x.exhibits[i] = &Exhibit{Number: fmt.Sprintf("%s%0*d", o.Prefix, width, i+1), Item: id, copies: map[string]*copyFile{}}
		byItem[id.String()] = x.exhibits[i]
	}
	// The verification reads every object once, and copies those the
	// package holds into it as it checks them.
	reports, err := verifyItems(ctx, a, ids, o.Identities, func(id hashing.Digest, rec *custody.Record, what string) verify.CopyWriter {
		return x.copy(byItem[id.String()], rec, what)
	})
	if err != nil {
		return nil, err
	}
	events := make(map[string][]archive.LoggedEvent, len(ids))
	if _, err := a.ItemsEvents(ctx, ids, func(id hashing.Digest, evs []archive.LoggedEvent) error {
		events[id.String()] = evs
		return nil
	}); err != nil {
		return nil, err
	}
	for i, ex := range x.exhibits {
		ex.Verified, ex.Events = reports[i], events[ex.Item.String()]
	}
	// The exhibits are completed on as many goroutines as there are CPUs.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	var written atomic.Int64
	for _, ex := range x.exhibits {
		g.Go(func() error {
			if err := x.exhibit(gctx, ex); err != nil {
				return fmt.Errorf("%s (%s): %w", ex.Number, ex.Item, err)
			}
			if n := written.Add(1); o.Progress != nil {
				o.Progress(int(n), len(ids))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := x.writeTags(ctx); err != nil {
		return nil, err
	}
	named, err := x.bag.writeTagManifests()
	if err != nil {
		return nil, err
	}
	entries := map[int64][]byte{}
	for _, ex := range x.exhibits {
		for _, ev := range ex.Events {
			entries[ev.Index] = ev.Entry
		}
	}
	d, err := a.LogExport(ctx, ids, named.String(), o.Recipient, entries)
	if err != nil {
		return nil, err
	}
	// From here the export is on record: a failure keeps what was
	// written, and says where.
	onRecord := func(err error) error {
		done = true
		return fmt.Errorf("%w (the export is on record in the custody log; the incomplete package is kept in %s)", err, stage)
	}
	if err := writeCustody(stage, d); err != nil {
		return nil, onRecord(err)
	}
	if err := os.Chmod(stage, 0o755); err != nil {
		return nil, onRecord(err)
	}
	if err := syncDir(stage); err != nil {
		return nil, onRecord(err)
	}
	if o.Zip {
		if err := zipBag(stage, filepath.Base(filepath.Clean(o.Out)), final); err != nil {
			return nil, onRecord(err)
		}
	} else if err := renameNoReplace(stage, o.Out); err != nil {
		return nil, onRecord(fmt.Errorf("move the package into place: %w", err))
	} else {
		done = true
	}
	res := &Result{Dir: final, Exhibits: x.exhibits, TagManifest: named, Checkpoint: d.Checkpoint, Timestamped: d.Timestamp != nil}
	for _, f := range x.bag.payload {
		res.PayloadBytes += f.sum.Size
	}
	res.PayloadFiles = len(x.bag.payload)
	return res, nil
}

// OptionError: the options ask for an export that cannot be made (no
// selection, no recipient, an existing folder…); nothing was written.
type OptionError struct{ Err error }

func (e *OptionError) Error() string { return e.Err.Error() }
func (e *OptionError) Unwrap() error { return e.Err }

func (o *Options) check() error {
	if err := o.checkFields(); err != nil {
		return &OptionError{err}
	}
	return nil
}

func (o *Options) checkFields() error {
	switch {
	case (o.Case == "") == (len(o.Items) == 0):
		return errors.New("name a case or items to export (--case NAME or --items ID,…)")
	case o.Out == "":
		return errors.New("name the package's folder")
	case strings.TrimSpace(o.Recipient) == "":
		return errors.New("name the recipient: the package and the custody log say whom it was for")
	case strings.ContainsAny(o.Recipient+o.Organization+o.Contact, "\r\n"):
		return errors.New("the recipient, organization and contact must be one line each")
	case o.Content < Both || o.Content > Originals:
		return fmt.Errorf("unknown content %d", o.Content)
	case o.Prefix != "" && !safeName(o.Prefix):
		return fmt.Errorf("exhibit number prefix %q: use letters, digits, '.', '_' and '-'", o.Prefix)
	case strings.Contains(o.Prefix, "/"):
		return fmt.Errorf("exhibit number prefix %q holds a '/'", o.Prefix)
	}
	return nil
}

// selectItems returns the IDs to export: a case's items, oldest
// acquisition first, or the items named, in the order given, each once.
func selectItems(ctx context.Context, a *archive.Archive, o Options) ([]hashing.Digest, error) {
	if o.Case == "" {
		seen := map[string]bool{}
		var out []hashing.Digest
		for _, id := range o.Items {
			if !seen[id.String()] {
				seen[id.String()] = true
				out = append(out, id)
			}
		}
		return out, nil
	}
	listed, err := archive.List(ctx, a.Store(), o.Case)
	if err != nil {
		return nil, err
	}
	var out []hashing.Digest
	for _, l := range listed {
		id, err := hashing.ParseDigest(l.Item)
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	if len(out) == 0 {
		return nil, &archive.Error{Kind: archive.KindNotFound, Err: fmt.Errorf("no item of case %q in the archive", o.Case), Hint: "exhibit ls --case NAME lists a case's items"}
	}
	return out, nil
}

// verifyItems verifies the items (on record, as exhibit verify does),
// handing copy the objects as they are checked, and returns their reports
// in order, or a *NotIntactError.
func verifyItems(ctx context.Context, a *archive.Archive, ids []hashing.Digest, idents []age.Identity,
	copy func(hashing.Digest, *custody.Record, string) verify.CopyWriter) ([]verify.ItemReport, error) {
	targets := make([]archive.Target, len(ids))
	for i, id := range ids {
		targets[i] = archive.Target{ID: id}
	}
	var reports []verify.ItemReport
	res, err := a.Verify(ctx, archive.Selection{Items: targets}, archive.VerifyOptions{Identities: idents, Copy: copy}, func(r *verify.ItemReport) {
		reports = append(reports, *r)
	})
	if err != nil {
		return nil, err
	}
	bad := &NotIntactError{}
	for _, r := range res.Report.Items {
		if r.Verdict != verify.Intact {
			bad.Reports = append(bad.Reports, r)
		}
	}
	if len(bad.Reports) > 0 {
		return nil, bad
	}
	return reports, nil
}

// exporter writes one package.
type exporter struct {
	a        *archive.Archive
	o        Options
	bag      *bagWriter
	exhibits []*Exhibit
	// signers are the fingerprints of the keys that signed the exhibits'
	// bundles.
	mu      sync.Mutex
	signers map[string]bool
	// checkpointStamped: the checkpoint that holds the export will carry a
	// timestamp (LogExport requires one when the trust file lists TSAs).
	checkpointStamped bool
}

// maxSmall bounds records and bundles read into memory.
const maxSmall = 64 << 20

// exhibit writes one exhibit's files under data/<number>/.
func (x *exporter) exhibit(ctx context.Context, ex *Exhibit) error {
	st := x.a.Store()
	dir := "data/" + ex.Number + "/"
	rb, err := storage.ReadAll(ctx, st, custody.RecordBundleKey(ex.Item), maxSmall)
	if err != nil {
		return err
	}
	vf, err := x.a.Trust().VerifyStatement(rb, ex.Item.Sum)
	if err != nil {
		return fmt.Errorf("the record bundle does not verify: %w", err)
	}
	stmt, err := custody.ParseStatement(vf.Payload)
	if err != nil {
		return err
	}
	ob, err := storage.ReadAll(ctx, st, custody.OriginalBundleKey(ex.Item), maxSmall)
	if err != nil {
		return err
	}
	of, err := x.a.Trust().VerifyDigest(ob, ex.Item.Sum)
	if err != nil {
		return fmt.Errorf("the original's bundle does not verify: %w", err)
	}
	rec := &stmt.Predicate
	ex.Record, ex.SignedBy, ex.Timestamps = rec, vf.KeyFingerprint, vf.Timestamps
	x.mu.Lock()
	x.signers[vf.KeyFingerprint], x.signers[of.KeyFingerprint] = true, true
	x.mu.Unlock()

	add := func(name string, data []byte) error {
		ex.Files = append(ex.Files, dir+name)
		return x.bag.put(dir+name, data)
	}
	var kept []string
	ex.derived = map[string]string{}
	for _, pl := range x.plan(rec) {
		path := dir + pl.name
		if err := x.content(ctx, ex, pl, path); err != nil {
			return err
		}
		ex.Files = append(ex.Files, path)
		switch {
		case pl.what == "original":
			ex.Original = path
			kept = append(kept, "original")
		case pl.what == "metadata":
			continue
		case pl.stripped && ex.WorkingCopy == "":
			ex.WorkingCopy = path
			kept = append(kept, "working copy")
		}
		ex.Blobs = append(ex.Blobs, path)
		if name, ok := strings.CutPrefix(pl.what, "derivative/"); ok {
			ex.derived[name] = path
		}
	}
	switch {
	case len(kept) > 0:
		ex.Content = strings.Join(kept, " and ")
	case x.o.Content == WorkingCopies:
		ex.Withheld = "no stripped working copy exists (the original is not exported)"
		ex.Content = "withheld: " + ex.Withheld
	}
	if err := add("record.json", vf.Payload); err != nil {
		return err
	}
	if err := add("record.sigstore.json", rb); err != nil {
		return err
	}
	if err := add("original.sigstore.json", ob); err != nil {
		return err
	}
	for _, b := range []struct {
		name string
		data []byte
	}{{"record", rb}, {"original", ob}} {
		sig, toks, err := bundleTimestamps(b.data)
		if err != nil {
			return err
		}
		if len(toks) == 0 {
			continue
		}
		if err := add("timestamps/"+b.name+".sig", sig); err != nil {
			return err
		}
		for i, t := range toks {
			if err := add(fmt.Sprintf("timestamps/%s-%d.tsr", b.name, i+1), t); err != nil {
				return err
			}
		}
	}
	for _, ev := range ex.Events {
		if err := add(eventFile(ev.Index), ev.Entry); err != nil {
			return err
		}
	}
	return nil
}

// renameNoReplace moves a folder into place, never over an existing one
// (rename(2) would replace an empty folder made meanwhile).
func renameNoReplace(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// A file system without RENAME_NOREPLACE.
		if _, serr := os.Lstat(to); serr == nil {
			return fmt.Errorf("%s exists", to)
		}
		err = os.Rename(from, to)
	}
	return err
}

// planned is one object of an item that the package holds.
type planned struct {
	what     string // "original", "metadata" or "derivative/<name>", as verify.Verifier.Copy says
	name     string // its file name in the exhibit's folder
	obj      custody.Object
	stripped bool // a working copy
}

// plan lists the objects of a record the package holds, with their file
// names, in record order.
func (x *exporter) plan(rec *custody.Record) []planned {
	var out []planned
	used := map[string]bool{}
	add := func(p planned) {
		// Two derivatives may come to one name (derivative-2.jpg, and
		// derivative 2 renamed so): the later gets a suffix.
		base, ext, n := strings.TrimSuffix(p.name, path.Ext(p.name)), path.Ext(p.name), 2
		for used[p.name] {
			p.name = fmt.Sprintf("%s-%d%s", base, n, ext)
			n++
		}
		used[p.name] = true
		out = append(out, p)
	}
	if x.o.Content != WorkingCopies {
		add(planned{what: "original", name: originalName(rec), obj: rec.Original})
		if rec.Metadata != nil {
			add(planned{what: "metadata", name: "metadata.json", obj: rec.Metadata.Object})
		}
	}
	for i, d := range rec.Derivatives {
		stripped := d.Kind == strippedKind
		if (stripped && x.o.Content == Originals) || (!stripped && x.o.Content == WorkingCopies) {
			continue
		}
		name := d.Name
		if !safeName(name) || strings.Contains(name, "/") || reservedNames[name] || strings.HasPrefix(name, "original.") {
			name = fmt.Sprintf("derivative-%d%s", i+1, extension(d.MediaType, ""))
		}
		add(planned{what: "derivative/" + d.Name, name: name, obj: d.Object, stripped: stripped})
	}
	return out
}

// copyFile is an object of the package written while the verification
// reads it (verify.Verifier.Copy).
type copyFile struct {
	f *bagFile
	// obj is the object as the verifier's record names it.
	obj custody.Object
	n   int64
	err error
	// ok: the verifier said the bytes passed the object's digest check.
	ok bool
}

func (c *copyFile) Verified(ok bool) { c.ok = ok }

func (c *copyFile) Write(p []byte) (int, error) {
	if c.err == nil {
		_, c.err = c.f.f.Write(p)
	}
	c.n += int64(len(p))
	return len(p), nil
}

func (c *copyFile) Close() error {
	if err := c.f.f.Close(); c.err == nil {
		c.err = err
	}
	return c.err
}

// copy opens the package's file for an object the verification is about
// to read, when the package holds it; nil otherwise. It runs on the
// verification's goroutines, one item on one goroutine at a time, all of
// them done when the verification returns.
func (x *exporter) copy(ex *Exhibit, rec *custody.Record, what string) verify.CopyWriter {
	if ex == nil {
		return nil
	}
	for _, pl := range x.plan(rec) {
		if pl.what != what || ex.copies[what] != nil {
			continue
		}
		f, err := x.bag.create("data/" + ex.Number + "/" + pl.name)
		if err != nil {
			return nil // content() fetches it again, and says why it cannot
		}
		c := &copyFile{f: f, obj: pl.obj}
		ex.copies[what] = c
		return c
	}
	return nil
}

// content completes a planned file: the copy the verification made when
// it holds the whole object (the item verified, so its bytes are the
// signed ones, whose digests the record holds), else a fresh read,
// checked as it is written.
func (x *exporter) content(ctx context.Context, ex *Exhibit, pl planned, path string) error {
	// The verifier's record and this one name the same object: the same
	// item's record, read twice, could have been replaced in between.
	if c := ex.copies[pl.what]; c != nil && c.ok && c.err == nil && c.n == pl.obj.Size && c.obj.Size == pl.obj.Size &&
		maps.Equal(c.obj.Digest, pl.obj.Digest) && ex.Verified.Verdict == verify.Intact {
		sum, err := hashing.SetFromMap(pl.obj.Digest)
		if err == nil && !sum.SHA512.IsZero() {
			sum.Size = pl.obj.Size
			x.bag.record(path, sum)
			return nil
		}
	}
	os.Remove(filepath.Join(x.bag.dir, filepath.FromSlash(path)))
	f, err := x.bag.create(path)
	if err != nil {
		return err
	}
	// Fetch hashes every byte it writes, and checks them against the
	// signed record: the bag takes its digests.
	f.known = true
	sum, err := verify.Fetch(ctx, x.a.Store(), pl.obj, x.o.Identities, f)
	if err != nil {
		f.f.Close()
		return err
	}
	return f.closeKnown(sum)
}

// reservedNames are the names of an exhibit's own files: a derivative of
// such a name is stored as derivative-N.
var reservedNames = map[string]bool{"metadata.json": true, "record.json": true, "record.sigstore.json": true,
	"original.sigstore.json": true, "events": true, "timestamps": true}

// strippedKind is the kind of a working copy (capture/strip).
const strippedKind = "stripped"

// eventFile is the name of an event's file: its log index, 20 digits.
func eventFile(index int64) string { return fmt.Sprintf("events/%020d.json", index) }

// originalName is the file name of an exhibit's original: "original"
// and the extension of its name, or of its media type.
func originalName(r *custody.Record) string {
	return "original" + extension(r.Original.MediaType, path.Ext(r.Name()))
}

// extension returns ext when it is a short plain extension, else the
// usual one of the media type, else ".bin".
func extension(mediaType, ext string) string {
	ext = strings.ToLower(ext)
	if len(ext) >= 2 && len(ext) <= 9 && safeName(ext) && !strings.Contains(ext[1:], ".") {
		return ext
	}
	known := map[string]string{
		"image/jpeg": ".jpg", "image/png": ".png", "image/tiff": ".tif", "image/heic": ".heic", "image/heif": ".heif",
		"image/webp": ".webp", "image/gif": ".gif", "video/mp4": ".mp4", "video/quicktime": ".mov", "video/webm": ".webm",
		"application/pdf": ".pdf", "application/json": ".json", "application/zip": ".zip", "text/plain": ".txt",
		"application/warc": ".warc", "application/wacz": ".wacz",
	}
	if e, ok := known[strings.TrimSpace(strings.SplitN(mediaType, ";", 2)[0])]; ok {
		return e
	}
	return ".bin"
}

// bundleTimestamps returns the signature a bundle's RFC 3161 timestamps
// cover and the timestamps (DER TimeStampResp each).
func bundleTimestamps(data []byte) (sig []byte, tokens [][]byte, err error) {
	var b struct {
		VerificationMaterial struct {
			TimestampVerificationData struct {
				RFC3161Timestamps []struct {
					SignedTimestamp []byte `json:"signedTimestamp"`
				} `json:"rfc3161Timestamps"`
			} `json:"timestampVerificationData"`
		} `json:"verificationMaterial"`
		MessageSignature *struct {
			Signature []byte `json:"signature"`
		} `json:"messageSignature"`
		DSSEEnvelope *struct {
			Signatures []struct {
				Sig []byte `json:"sig"`
			} `json:"signatures"`
		} `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, nil, fmt.Errorf("read bundle: %w", err)
	}
	switch {
	case b.MessageSignature != nil:
		sig = b.MessageSignature.Signature
	case b.DSSEEnvelope != nil && len(b.DSSEEnvelope.Signatures) == 1:
		sig = b.DSSEEnvelope.Signatures[0].Sig
	default:
		return nil, nil, errors.New("bundle holds no single signature")
	}
	for _, t := range b.VerificationMaterial.TimestampVerificationData.RFC3161Timestamps {
		tokens = append(tokens, t.SignedTimestamp)
	}
	return sig, tokens, nil
}

// Files of the custody folder, written after the package is put on record.
const (
	custodyDir     = "custody/"
	checkpointFile = custodyDir + "checkpoint"
	checkpointTSR  = custodyDir + "checkpoint.tsr"
	proofDir       = custodyDir + "proofs/"
	exportedDir    = custodyDir + "exported/"
)

// proofFile is the name of an event's inclusion proof; exportedFile of an
// exported event.
func proofFile(index int64) string    { return fmt.Sprintf("%s%020d.tlog-proof", proofDir, index) }
func exportedFile(index int64) string { return fmt.Sprintf("%s%020d.json", exportedDir, index) }

// writeCustody writes the custody folder: the checkpoint (and its token),
// the exported events, and an inclusion proof (C2SP tlog-proof) of every
// event the package holds. These files are not in the tag manifests,
// which the exported events name: each proves itself against the signed
// checkpoint.
func writeCustody(dir string, d *archive.Disclosure) error {
	put := func(rel string, data []byte) error {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, data, 0o644)
	}
	if err := put(checkpointFile, d.Signed); err != nil {
		return err
	}
	if d.Timestamp != nil {
		if err := put(checkpointTSR, d.Timestamp); err != nil {
			return err
		}
	}
	for _, ev := range d.Exported {
		if err := put(exportedFile(ev.Index), ev.Entry); err != nil {
			return err
		}
	}
	idx := slices.Sorted(maps.Keys(d.Entries))
	for _, i := range idx {
		p, ok := d.Proofs[i]
		if !ok {
			return fmt.Errorf("custody log: no proof of event %d", i)
		}
		if err := put(proofFile(i), tlogProof(i, p, d.Signed)); err != nil {
			return err
		}
	}
	return nil
}

// tlogProof encodes an inclusion proof as C2SP tlog-proof@v1.
func tlogProof(index int64, p tlog.RecordProof, checkpoint []byte) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "c2sp.org/tlog-proof@v1\nindex %d\n", index)
	for _, h := range p {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]) + "\n")
	}
	b.WriteString("\n")
	b.Write(checkpoint)
	return []byte(b.String())
}

// syncDir flushes the file system that holds dir, so that the package is
// on disk before it is moved into place.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
