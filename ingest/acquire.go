package ingest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"filippo.io/age"

	"github.com/openexhibit/exhibit/capture"
	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/sign"
	"github.com/openexhibit/exhibit/storage"
)

// Acquisition is something acquired: one or more originals (parts) that
// belong together, and how they were acquired. Each part becomes an item
// whose signed record names the whole acquisition (custody.Acquisition).
type Acquisition struct {
	// Kind is the source kind (custody.ValidKind): "file", "web", "stac", …
	Kind string
	// ProvenanceType is the URI of Provenance's schema and version.
	// Provenance is a JSON-encodable value that encodes to an object
	// (json.RawMessage is kept as given). For Kind "file" both may be left
	// empty: ingest then records custody.FileProvenance of the one part.
	ProvenanceType string
	Provenance     any
	// By is who acquired it (default: Options.Operator).
	By string
	// Started and Ended bound the acquisition on this machine's clock
	// (zero: when ingest began and finished reading the parts).
	Started, Ended time.Time
	// Tools are the programs that acquired the parts; the ingesting
	// program (Options.Tool) is added.
	Tools []custody.AcquisitionTool
	// Parts are the originals, each named (custody.ValidPartName).
	Parts []Part
}

// Part is one original of an acquisition: a local file read in place, or a
// byte stream. A stream is read once, hashed and stored as it arrives, and
// kept in a temporary file for the metadata readers until the part is
// prepared.
type Part struct {
	Name string
	// Path is a local regular file: never followed when a symbolic link,
	// and refused when it changes while it is read.
	Path string
	// Open returns the part's bytes when Path is empty; it is called once.
	Open func(ctx context.Context) (io.ReadCloser, error)
	// FileName is the name the metadata readers see and the metadata
	// document records (default: the base name of Path, else of Name).
	FileName string
}

// AcquisitionError says that an acquisition is not well formed (found
// before anything is read, or, for its provenance and parts as recorded,
// once they are read); nothing of it is archived.
type AcquisitionError struct{ Reason string }

func (e *AcquisitionError) Error() string { return "acquisition: " + e.Reason }

// PartFailedError is the error of a part that is not archived, read or
// not, because another part of its acquisition failed: an acquisition is
// archived whole or not at all.
type PartFailedError struct{ Part string }

func (e *PartFailedError) Error() string {
	return fmt.Sprintf("not archived: part %s of the same acquisition failed, and an acquisition is archived whole (acquire it again)", e.Part)
}

// Acquire ingests acquisitions, several at once (Options.Jobs), and returns
// each one's results, one per part in order (one for an acquisition
// without parts, with its error). The parts of one acquisition
// are read one after the other; when one fails, none is archived.
func (in *Ingester) Acquire(ctx context.Context, acqs []*Acquisition) [][]Result {
	files, total := 0, int64(0)
	for _, a := range acqs {
		files += len(a.Parts)
		for _, p := range a.Parts {
			if p.Path != "" {
				if fi, err := os.Lstat(p.Path); err == nil {
					total += fi.Size()
				}
			}
		}
	}
	in.o.Observer.Planned(files, total)
	out := make([][]Result, len(acqs))
	in.parallel(len(acqs), func(i int) {
		out[i] = in.acquire(ctx, acqs[i])
		for _, r := range out[i] {
			in.o.Observer.Done(r)
		}
	})
	return out
}

// parallel calls fn for 0..n-1 on Options.Jobs goroutines.
func (in *Ingester) parallel(n int, fn func(i int)) {
	work := make(chan int)
	done := make(chan struct{})
	for w := 0; w < min(in.o.Jobs, n); w++ {
		go func() {
			for i := range work {
				fn(i)
			}
			done <- struct{}{}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	for w := 0; w < min(in.o.Jobs, n); w++ {
		<-done
	}
}

// fileAcquisition is the acquisition of one local file.
func fileAcquisition(path string) *Acquisition {
	return &Acquisition{Kind: custody.KindFile, Parts: []Part{{Name: custody.OriginalSubject, Path: path}}}
}

// acquire ingests one acquisition: every part is read, stored and
// prepared; then, if all succeeded, the objects are committed and each new
// part's record, naming all parts, is signed and written.
func (in *Ingester) acquire(ctx context.Context, a *Acquisition) []Result {
	if len(a.Parts) == 0 {
		return []Result{{Status: Failed, Err: &AcquisitionError{"it has no parts"}}}
	}
	results := make([]Result, len(a.Parts))
	for i, p := range a.Parts {
		results[i] = Result{Path: p.Path, Part: p.Name, Status: Failed}
		switch {
		case p.Path != "" && p.FileName != "":
			results[i].Path = p.FileName // a file named for people (a capture's temporary WACZ)
		case p.Path == "":
			results[i].Path = p.Name
		}
	}
	// fail fails part i with err and every other part not archived before
	// with it: an acquisition is archived whole or not at all.
	fail := func(i int, err error) []Result {
		results[i].Status, results[i].Err = Failed, err
		for j := range results {
			switch {
			case j == i || results[j].Status == Exists || results[j].Status == Repaired:
			case j > i && ctx.Err() != nil:
				results[j].Status, results[j].Err = NotStarted, ctx.Err()
			default:
				results[j].Status, results[j].Err = Failed, &PartFailedError{Part: a.Parts[i].Name}
			}
		}
		return results
	}
	if err := in.checkAcquisition(a); err != nil {
		return fail(0, err)
	}
	id, err := newAcquisitionID()
	if err != nil {
		return fail(0, err)
	}
	prepared := make([]*prepared, 0, len(a.Parts))
	defer func() {
		for _, p := range prepared {
			p.discard(ctx)
		}
	}()
	for i, part := range a.Parts {
		if err := ctx.Err(); err != nil {
			return fail(i, err)
		}
		p, err := in.prepare(ctx, part)
		if p != nil {
			results[i].Item, results[i].Size = p.item(), p.sum.Size
		}
		if err != nil {
			return fail(i, err)
		}
		results[i].Status = p.status
		prepared = append(prepared, p)
	}
	acq, err := in.describe(a, id, prepared)
	if err != nil {
		// No part failed: the acquisition cannot be recorded as given.
		for i := range results {
			if results[i].Status == Archived {
				results[i].Status, results[i].Err = Failed, err
			}
		}
		return results
	}
	if i, err := in.commit(ctx, a, acq, prepared, results); err != nil {
		return fail(i, err)
	}
	for i := range results {
		if results[i].Status == Archived {
			// The acquisition is on record: its archived parts name it.
			for j := range results {
				results[j].Acquisition = id
			}
			break
		}
	}
	return results
}

// commit makes the new parts visible: first every object they name, then
// each one's signed record. An error before the first record is part i's
// and fails the acquisition; after it, the parts with records are
// archived, the acquisition is incomplete (verify reports it on each of
// them), and commit marks the rest failed itself and returns no error.
func (in *Ingester) commit(ctx context.Context, a *Acquisition, acq custody.Acquisition, prepared []*prepared, results []Result) (int, error) {
	for i, p := range prepared {
		if p.status != Archived {
			continue
		}
		if err := in.commitObjects(ctx, p); err != nil {
			return i, fmt.Errorf("ingest %s: %w", results[i].Path, err)
		}
	}
	for i, p := range prepared {
		if p.status != Archived {
			continue
		}
		rec := in.record(p, acq, a.Parts[i].Name)
		status, err := in.commitItem(ctx, p.sum.SHA256, rec, &results[i])
		if err != nil {
			results[i].Status, results[i].Err = Failed, fmt.Errorf("ingest %s: %w", results[i].Path, err)
			for j := i + 1; j < len(results); j++ {
				if prepared[j].status == Archived {
					results[j].Status, results[j].Err = Failed, &PartFailedError{Part: a.Parts[i].Name}
				}
			}
			return 0, nil
		}
		results[i].Status = status
		if status == Archived {
			results[i].OriginalBundle = p.bundleSum
		}
	}
	return 0, nil
}

// checkAcquisition refuses an acquisition that cannot be recorded.
func (in *Ingester) checkAcquisition(a *Acquisition) error {
	switch {
	case !custody.ValidKind(a.Kind):
		return &AcquisitionError{fmt.Sprintf("kind %q is not lower-case letters, digits and hyphens", a.Kind)}
	case len(a.Parts) == 0 || len(a.Parts) > custody.MaxParts:
		return &AcquisitionError{fmt.Sprintf("%d parts, want 1 to %d", len(a.Parts), custody.MaxParts)}
	case a.Provenance == nil && a.Kind != custody.KindFile:
		return &AcquisitionError{"no provenance: only a file acquisition gets its provenance from ingest"}
	case a.Provenance == nil && len(a.Parts) != 1:
		return &AcquisitionError{"a file acquisition without provenance has exactly one part"}
	case a.Provenance == nil && a.Parts[0].Path == "":
		return &AcquisitionError{"a file acquisition without provenance reads a local file (Part.Path)"}
	case !a.Ended.IsZero() && a.Ended.Before(a.Started):
		return &AcquisitionError{"it ends before it starts"}
	}
	names := map[string]bool{}
	for _, p := range a.Parts {
		switch {
		case !custody.ValidPartName(p.Name) || names[p.Name]:
			return &AcquisitionError{fmt.Sprintf("part name %q is invalid (letters, digits and ._/-) or repeated", p.Name)}
		case (p.Path == "") == (p.Open == nil):
			return &AcquisitionError{fmt.Sprintf("part %s needs either a Path or an Open function", p.Name)}
		}
		names[p.Name] = true
	}
	return nil
}

// newAcquisitionID is a random (version 4) UUID URN.
func newAcquisitionID() (string, error) {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		return "", err
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]), nil
}

// describe makes the acquisition every record of it carries (Part is set
// per record).
func (in *Ingester) describe(a *Acquisition, id string, ps []*prepared) (custody.Acquisition, error) {
	acq := custody.Acquisition{ID: id, Kind: a.Kind, ProvenanceType: a.ProvenanceType, By: a.By,
		Started: a.Started.UTC(), Ended: a.Ended.UTC(), Clock: custody.ClockHost}
	if acq.By == "" {
		acq.By = in.o.Operator
	}
	if acq.Started.IsZero() {
		acq.Started = ps[0].started
	}
	if a.Ended.IsZero() {
		acq.Ended = ps[len(ps)-1].ended
	}
	if acq.Ended.Before(acq.Started) {
		acq.Ended = acq.Started
	}
	acq.Tools = append([]custody.AcquisitionTool{{Name: in.o.Tool.Name, Version: in.o.Tool.Version}}, a.Tools...)
	prov := a.Provenance
	if prov == nil {
		prov, acq.ProvenanceType = ps[0].provenance, custody.ProvenanceFileV1
	}
	raw, ok := prov.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(prov); err != nil {
			return acq, &AcquisitionError{"provenance: " + err.Error()}
		}
	}
	acq.Provenance = raw
	for i, p := range ps {
		acq.Parts = append(acq.Parts, custody.Part{Name: a.Parts[i].Name, Item: p.item(), Digest: p.sum.Map(),
			Size: p.sum.Size, MediaType: p.mediaType})
	}
	// The record's own check, before anything is signed.
	acq.Part = acq.Parts[0].Name
	orig := custody.Object{Digest: ps[0].sum.Map(), Size: ps[0].sum.Size, MediaType: ps[0].mediaType}
	if err := acq.Check(acq.Parts[0].Item, orig); err != nil {
		return acq, &AcquisitionError{err.Error()}
	}
	return acq, nil
}

// record is the custody record of a prepared new part.
func (in *Ingester) record(p *prepared, acq custody.Acquisition, part string) *custody.Record {
	acq.Part = part
	rec := &custody.Record{
		Item:        p.item(),
		Case:        in.o.Case,
		Original:    p.original,
		Acquisition: &acq,
		Operator:    custody.Operator{Name: in.o.Operator, KeyFingerprint: in.o.Signer.Fingerprint()},
		Host:        in.o.Host,
		Tool:        in.o.Tool,
		Derivatives: p.derivatives,
		Metadata:    p.metadata,
		Storage:     in.storage,
	}
	if sign.IsKMSRef(in.o.Signer.Ref()) {
		rec.Operator.KeyRef = in.o.Signer.Ref()
	}
	if p.put.Retention.Mode != "" {
		rec.Storage.Retention = &custody.Retention{Mode: string(p.put.Retention.Mode), Until: p.put.Retention.Until}
	}
	return rec
}

// input is a part opened for its one read.
type input struct {
	r    io.Reader   // the bytes, read once
	at   io.ReaderAt // the same bytes after that read, for readers
	size int64       // -1: unknown
	name string      // for readers and the metadata document
	// times and provenance are the file's, for local files.
	times      custody.FileTimes
	provenance *custody.FileProvenance
	// after checks, once the bytes are read, that they are the input's.
	after func(read int64) error
	close func()
	path  string // for errors
}

// open opens a part for reading.
func (in *Ingester) open(ctx context.Context, p Part) (*input, error) {
	if p.Path != "" {
		return in.openFile(p)
	}
	name := p.FileName
	if name == "" {
		name = filepath.Base(p.Name)
	}
	rc, err := p.Open(ctx)
	if err != nil {
		return nil, fmt.Errorf("open part %s: %w", p.Name, err)
	}
	spool, err := os.CreateTemp(in.o.TempDir, "exhibit-part-*")
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("part %s: a temporary file for the metadata readers: %w", p.Name, err)
	}
	return &input{
		r: io.TeeReader(rc, spool), at: spool, size: -1, name: name, path: p.Name,
		after: func(int64) error { return nil },
		close: func() { rc.Close(); spool.Close(); os.Remove(spool.Name()) },
	}, nil
}

// openFile opens a local file without following a symbolic link, and
// checks after the read that it did not change.
func (in *Ingester) openFile(p Part) (*input, error) {
	path := p.Path
	before, err := os.Lstat(path)
	if err != nil {
		return nil, inputError(path, err)
	}
	if !before.Mode().IsRegular() {
		return nil, inputError(path, errors.New("not a regular file"))
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, inputError(path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, inputError(path, err)
	}
	if !os.SameFile(before, st) {
		f.Close()
		return nil, &ChangedError{Path: path, What: "it was replaced between listing and opening"}
	}
	name := p.FileName
	if name == "" {
		name = filepath.Base(path)
	}
	times := fileTimes(f)
	return &input{
		r: &sizeGuard{r: f, left: st.Size(), path: path}, at: f, size: st.Size(), name: name, path: path,
		times: times,
		provenance: &custody.FileProvenance{Path: path, PathBytes: nonUTF8(path), Name: filepath.Base(path),
			FileTimes: times, Device: in.mounts.device(st, path)},
		after: func(read int64) error {
			after, err := f.Stat()
			if err != nil {
				return inputError(path, err)
			}
			if what := changed(st, after, read); what != "" {
				return &ChangedError{Path: path, What: what}
			}
			return nil
		},
		close: func() { f.Close() },
	}, nil
}

// prepared is a part read, stored (staged, not yet visible) and signed
// over its digest, waiting for its acquisition's other parts.
type prepared struct {
	sum       hashing.Set
	mediaType string
	status    Status // Archived: new; Exists or Repaired: archived before
	started   time.Time
	ended     time.Time
	// provenance is the file's, for local files.
	provenance *custody.FileProvenance

	// cipher holds the ciphertext's digests when encrypting.
	cipher *hashing.Set

	// For a new part: what its record will name, and the writes to commit.
	original    custody.Object
	popts, put  storage.PutOptions
	staged      storage.Staged
	derivs      []*stagedDerivative
	derivatives []custody.Derivative
	metadata    *custody.Metadata
	metaWrite   *storage.Deferred
	bundleWrite *storage.Deferred
	bundleSum   hashing.Digest
}

func (p *prepared) item() string { return p.sum.SHA256.String() }

// discard drops whatever was staged and not committed (after a commit,
// Discard does nothing).
func (p *prepared) discard(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	if p.staged != nil {
		p.staged.Discard(ctx)
	}
	for _, sd := range p.derivs {
		sd.staged.Discard(ctx)
	}
	if p.metaWrite != nil {
		p.metaWrite.Discard(ctx)
	}
	if p.bundleWrite != nil {
		p.bundleWrite.Discard(ctx)
	}
}

// prepare reads a part once (hashing, sniffing and staging it in the same
// pass), looks it up in the archive and, when it is new, extracts its
// metadata and stages its derivatives, metadata document and original
// bundle. It returns what it knows even on error (the digest once read);
// on error everything it staged is discarded.
func (in *Ingester) prepare(ctx context.Context, part Part) (*prepared, error) {
	src, err := in.open(ctx, part)
	if err != nil {
		return nil, err
	}
	defer src.close()
	p := &prepared{started: in.o.Now().UTC(), provenance: src.provenance}
	if err := in.read(ctx, src, p); err != nil {
		p.discard(ctx)
		if p.sum.SHA256.IsZero() {
			return nil, err
		}
		return p, err
	}
	return p, nil
}

// read is prepare's work on an opened part.
func (in *Ingester) read(ctx context.Context, src *input, p *prepared) error {
	head, err := in.stream(ctx, src, p)
	if err != nil {
		return err
	}
	p.ended = in.o.Now().UTC()
	if p.status, err = in.lookup(ctx, p.sum.SHA256); err != nil || p.status != Archived {
		return wrapPath(src.path, err)
	}
	p.mediaType = capture.Sniff(head, src.name)
	p.put = in.putOptions(p.started)
	p.popts = p.put
	p.popts.Size, p.popts.SHA256, p.popts.ContentType = p.sum.Size, p.sum.SHA256.Sum, p.mediaType
	p.original = custody.Object{Digest: p.sum.Map(), Size: p.sum.Size, MediaType: p.mediaType}
	if p.cipher != nil {
		p.popts.Size, p.popts.SHA256, p.popts.ContentType = p.cipher.Size, p.cipher.SHA256.Sum, "application/octet-stream"
		p.original.Encryption = in.encryption(*p.cipher)
	}
	return wrapPath(src.path, in.stageDerived(ctx, src, p))
}

func wrapPath(path string, err error) error {
	if err == nil {
		return nil
	}
	var ce *ConflictError
	if errors.As(err, &ce) {
		return err
	}
	return fmt.Errorf("ingest %s: %w", path, err)
}

// stream is the one read of a part: it hashes, keeps the head for
// sniffing, and stages the bytes (encrypted when the ingester encrypts),
// then checks that the input did not change. It sets p.sum, p.staged and,
// when encrypting, p.cipher.
func (in *Ingester) stream(ctx context.Context, src *input, p *prepared) ([]byte, error) {
	// The store gets the SHA-256 from r (a storage.SHA256Reader) rather
	// than hashing the same bytes again.
	h := hashing.New()
	head := &headBuffer{max: capture.SniffLen}
	if src.size >= 0 && src.size <= maxInMemory {
		// A small input is kept whole: the readers then read these very
		// bytes, hashed and staged, from memory rather than the file again.
		head = &headBuffer{max: int(src.size), buf: make([]byte, 0, src.size)}
	}
	r := h.Tee(io.TeeReader(src.r, io.MultiWriter(head, progress{in.o.Observer})))
	stageSrc, stageSize := io.Reader(r), src.size
	var ch *hashing.Hasher // the ciphertext's digests, when encrypting
	if in.o.Encrypt != nil {
		er, err := age.EncryptReader(r, in.o.Encrypt.Recipients...)
		if err != nil {
			return nil, fmt.Errorf("ingest %s: encrypt: %w", src.path, err)
		}
		ch = hashing.New()
		stageSrc, stageSize = ch.Tee(er), -1
	}
	staged, err := in.stage(ctx, stageSrc, stageSize)
	if err != nil {
		var ce *ChangedError
		switch {
		case errors.As(err, &ce):
			return nil, ce
		case isReadErr(err) && src.provenance != nil:
			return nil, inputError(src.path, err)
		}
		return nil, fmt.Errorf("ingest %s: %w", src.path, err)
	}
	p.staged = staged
	p.sum = h.Sum()
	if err := src.after(p.sum.Size); err != nil {
		return nil, err
	}
	if ch != nil {
		cs := ch.Sum()
		p.cipher = &cs
	}
	if head.max > capture.SniffLen && int64(len(head.buf)) == p.sum.Size {
		src.at = bytes.NewReader(head.buf)
	}
	return head.buf[:min(len(head.buf), capture.SniffLen)], nil
}

// maxInMemory is the largest input kept in memory for the readers: with
// the default 8 jobs per CPU, at most 16 MiB on 2 cores.
const maxInMemory = 1 << 20

// lookup says whether the item id is new (Archived), or was archived
// before (Exists, or Repaired when what an interrupted run left out was
// written now).
func (in *Ingester) lookup(ctx context.Context, id hashing.Digest) (Status, error) {
	// The record copy is written after the record bundle, so a copy without
	// its bundle means the bundle was removed: never sign over that. The
	// copy is looked up first: when a concurrent ingest of the same bytes
	// commits in between, its bundle is then found below, not missed.
	_, recErr := in.o.Store.Stat(ctx, custody.RecordKey(id))
	if recErr != nil && !errors.Is(recErr, storage.ErrNotFound) {
		return Failed, recErr
	}
	if _, err := in.o.Store.Stat(ctx, custody.RecordBundleKey(id)); err == nil {
		repaired, err := in.repair(ctx, id)
		switch {
		case err != nil:
			return Failed, err
		case repaired:
			return Repaired, nil
		}
		return Exists, nil
	} else if !errors.Is(err, storage.ErrNotFound) {
		return Failed, err
	}
	if recErr == nil {
		return Failed, &ConflictError{Item: id.String(), Key: custody.RecordKey(id)}
	}
	return Archived, nil
}

// stageDerived runs the readers over a new part and stages what its record
// will name besides the original: derivatives, the metadata document and
// the original's bundle.
func (in *Ingester) stageDerived(ctx context.Context, src *input, p *prepared) error {
	source := &partSource{at: src.at, size: p.sum.Size, name: src.name, mediaType: p.mediaType}
	meta, derivs := in.extract(ctx, source, p.item(), src.times)
	for _, d := range derivs {
		sd, err := in.stageDerivative(ctx, d, p.put)
		var pe *producerError
		if errors.As(err, &pe) {
			// The original is what matters: record why there is no
			// derivative (never with metadata values) and go on.
			meta.Errors = append(meta.Errors, custody.ReaderError{Reader: d.Reader, Error: fmt.Sprintf("derivative %s not made: %v", d.Name, pe.err)})
			continue
		}
		if err != nil {
			return fmt.Errorf("derivative %s: %w", d.Name, err)
		}
		p.derivs = append(p.derivs, sd)
	}
	var err error
	if p.metadata, p.metaWrite, err = in.storeMetadata(ctx, meta, p.put); err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	if p.bundleWrite, p.bundleSum, err = in.originalBundle(ctx, p.sum.SHA256); err != nil {
		return err
	}
	return ctx.Err()
}

// commitObjects makes a new part's objects visible: the original, the
// derivatives, the metadata document and the original's bundle.
func (in *Ingester) commitObjects(ctx context.Context, p *prepared) error {
	obj, err := in.commitStaged(ctx, p.staged, &p.original, p.popts)
	if err != nil {
		return fmt.Errorf("store original: %w", err)
	}
	p.original.VersionID = obj.VersionID
	p.derivatives = []custody.Derivative{}
	for _, sd := range p.derivs {
		d, err := in.commitDerivative(ctx, sd)
		if err != nil {
			return fmt.Errorf("derivative %s: %w", sd.d.Name, err)
		}
		p.derivatives = append(p.derivatives, d)
	}
	if p.metadata.VersionID, err = in.commitContent(ctx, p.metaWrite); err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	if _, err := p.bundleWrite.Commit(ctx); errors.Is(err, storage.ErrExists) {
		p.bundleSum = hashing.Digest{} // another run's bundle: the events read it back
	} else if err != nil {
		return fmt.Errorf("write original bundle: %w", err)
	}
	return nil
}

// partSource is a prepared part as the readers see it.
type partSource struct {
	at              io.ReaderAt
	size            int64
	name, mediaType string
}

func (s *partSource) ReadAt(p []byte, off int64) (int, error) { return s.at.ReadAt(p, off) }
func (s *partSource) Size() int64                             { return s.size }
func (s *partSource) Name() string                            { return s.name }
func (s *partSource) MediaType() string                       { return s.mediaType }
