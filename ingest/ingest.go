// Package ingest takes acquisitions into an archive (a file is an
// acquisition of one part): each part is read once while it is hashed and
// streamed to the store, its metadata and derivatives are extracted, and a
// custody record naming every part of the acquisition is signed; everything
// is written write-once. An item counts as archived when its record bundle
// exists; it is written after everything it refers to, so an interrupted
// run leaves no half-written item, and rerunning completes it. An
// acquisition is committed whole or not at all, but for a failure between
// its parts' record bundles, which leaves the earlier parts archived and
// the acquisition incomplete: verify reports that on each of them. The objects an item's
// record names are all staged before any is committed, so that on a store
// that groups its syncs (storage.Grouped) they share one wait for the disk;
// the record bundle follows once they are visible, and an item is reported
// archived only once its bundle is durable.
//
// ingest is composed by archive; it must not import archive, cli or verify.
package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"filippo.io/age"

	"github.com/openexhibit/exhibit/capture"
	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/sign"
	"github.com/openexhibit/exhibit/storage"
)

// Status is the outcome for one path.
type Status string

const (
	// Archived: the item was new and is now in the archive.
	Archived Status = "archived"
	// Exists: the same bytes were already archived; no object was written.
	Exists Status = "exists"
	// Repaired: the item was archived, but files missing after an
	// interrupted run were written now.
	Repaired Status = "repaired"
	// Skipped: the path is not a regular file (symlink, device, socket…)
	// and was not followed or read.
	Skipped Status = "skipped"
	// Failed: the item could not be archived; Err says why.
	Failed Status = "failed"
	// NotStarted: the run was cancelled before the path was read; nothing
	// was written for it.
	NotStarted Status = "not-started"
)

// Result is the outcome for one path, or one part of an acquisition.
type Result struct {
	// Path is the file's path (a part's FileName when it gives one); for
	// a part that is not a local file, the part's name.
	Path string
	// Part names the part of its acquisition ("original" for a file);
	// Acquisition is the acquisition's ID when its records name it (some
	// part of it was archived by this run).
	Part, Acquisition string

	Status Status
	Item   string // "sha256:<hex>", empty when not read
	Size   int64
	// Reason explains Skipped.
	Reason string
	Err    error
	// Record and RecordBundle are set for Archived: the record statement
	// this run wrote (the bytes of custody.RecordKey) and the SHA-256 of
	// the record bundle it wrote (custody.RecordBundleKey), so that the
	// custody events of a new item are made without reading them back.
	Record       []byte
	RecordBundle hashing.Digest
	// OriginalBundle is the SHA-256 of the original bundle this run wrote
	// (custody.OriginalBundleKey), set with RecordBundle unless a
	// concurrent ingest of the same bytes wrote that bundle first.
	OriginalBundle hashing.Digest
}

// Observer receives progress. Calls may come from several goroutines at once.
type Observer interface {
	// Planned is called once with the number of files and bytes to read.
	Planned(files int, bytes int64)
	// Read reports n more bytes read.
	Read(n int64)
	// Done reports one path's outcome.
	Done(Result)
}

// TimestampObserver is an optional extension of Observer: it is told of
// each bundle that goes without a timestamp because a timestamp authority
// gave none (only when timestamps are not required).
type TimestampObserver interface {
	TimestampMissed(item string, err *sign.TSAError)
}

type nopObserver struct{}

func (nopObserver) Planned(int, int64) {}
func (nopObserver) Read(int64)         {}
func (nopObserver) Done(Result)        {}

// Retention asks for Object Lock retention of every object written.
type Retention struct {
	Mode   storage.RetentionMode
	Period time.Duration
}

// Options configure an Ingester.
type Options struct {
	Store    storage.Store
	Signer   *sign.Signer
	Verifier *sign.Verifier // checks each bundle right after signing
	Case     string
	Operator string
	Host     custody.Host
	// Tool is the ingesting program (default: Exhibit as a library).
	Tool custody.Tool

	// Timestamper adds RFC 3161 timestamps to both bundles (nil: none).
	Timestamper *sign.Timestamper
	// RequireTimestamp fails an item when a timestamp authority gives no
	// timestamp; otherwise the Observer is told (TimestampObserver).
	RequireTimestamp bool
	// MinTimestamps fails an item whose bundles get fewer timestamps than
	// this from distinct TSAs; the others may miss (0: none required).
	MinTimestamps int

	// Retention and LegalHold apply Object Lock; the store must enforce it.
	Retention *Retention
	LegalHold bool
	// Readers extract format metadata and derivatives: those registered
	// for an original's sniffed media type run on it (nil: none).
	Readers *capture.Registry
	// Encrypt, when set, encrypts each original and its metadata document
	// before they are written; stripped working copies (capture.StrippedKind)
	// are written as they are, and other derivatives (copies of the
	// original's content: a capture's screenshot, text, media) are not
	// made.
	Encrypt *Encryption
	// Jobs is how many files are ingested at once. The default is the
	// number of CPUs, times groupJobs on a store that groups its syncs
	// (storage.Grouped).
	Jobs     int
	Observer Observer
	// TempDir holds the temporary copies of parts that are not local files,
	// while their metadata is read (default: the system's).
	TempDir string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Exclude are folders whose contents are never ingested, however a
	// path reaches them (the archive's own folder, the home folder with
	// its keys): they are reported as Skipped.
	Exclude []string
}

// Encryption names the age recipients originals are encrypted to.
type Encryption struct {
	Recipients []age.Recipient
	// Names are the recipients as the operator gave them, for the record.
	Names []string
}

// Ingester archives files. It is safe for concurrent use.
type Ingester struct {
	o       Options
	storage custody.Storage
	mounts  mountTable
}

// groupJobs is how many files per CPU are ingested at once by default on a
// store that groups its syncs: measured on 2 cores, 8 beat 4 and 16.
const groupJobs = 8

// New checks the options against the store and returns an Ingester.
func New(ctx context.Context, o Options) (*Ingester, error) {
	if o.Store == nil || o.Signer == nil || o.Verifier == nil {
		return nil, errors.New("ingest: store, signer and verifier are required")
	}
	if o.Encrypt != nil && (len(o.Encrypt.Recipients) == 0 || len(o.Encrypt.Recipients) != len(o.Encrypt.Names)) {
		return nil, errors.New("ingest: encryption needs recipients, each with its name")
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Tool.Name == "" {
		o.Tool = libraryTool()
	}
	if o.Jobs <= 0 {
		o.Jobs = runtime.GOMAXPROCS(0)
		if storage.Grouped(o.Store) {
			// Most of an item's time there is spent waiting for a shared
			// sync, not on a CPU: more items at once fill the wait.
			o.Jobs *= groupJobs
		}
	}
	caps, err := o.Store.Capabilities(ctx)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	if (o.Retention != nil || o.LegalHold) && !caps.ObjectLock {
		return nil, fmt.Errorf("ingest: retention or legal hold requested but %s does not enforce object lock "+
			"(use a bucket made by `exhibit init --object-lock`, or remove retention from the configuration): %w",
			o.Store.Location(), storage.ErrDenied)
	}
	return &Ingester{o: o, storage: custody.Storage{Location: o.Store.Location(), ObjectLock: caps.ObjectLock, LegalHold: o.LegalHold}}, nil
}

// libraryTool names Exhibit as a library, at the version the program that
// uses it was built with.
func libraryTool() custody.Tool {
	t := custody.Tool{Name: "exhibit", Version: "(devel)", GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range append([]*debug.Module{&bi.Main}, bi.Deps...) {
			if m.Path == "github.com/openexhibit/exhibit" && m.Version != "" {
				t.Version = m.Version
			}
		}
	}
	return t
}

// entry is one path found while walking the arguments.
type entry struct {
	path   string
	size   int64
	reason string // non-empty: skip with this reason
	err    error  // non-nil: failed before reading
}

// Paths ingests files and folders (recursively, in lexical order). Symlinks
// and special files are reported as Skipped, never followed. It returns one
// Result per path found; a cancelled ctx stops it between and within items.
func (in *Ingester) Paths(ctx context.Context, paths []string) []Result {
	var entries []entry
	var total int64
	for _, p := range paths {
		entries = append(entries, in.walk(p)...)
	}
	files := 0
	for _, e := range entries {
		if e.reason == "" && e.err == nil {
			total += e.size
			files++
		}
	}
	in.o.Observer.Planned(files, total)

	results := make([]Result, len(entries))
	in.parallel(len(entries), func(i int) {
		e := entries[i]
		switch {
		case e.err != nil:
			results[i] = Result{Path: e.path, Status: Failed, Err: e.err}
		case e.reason != "":
			results[i] = Result{Path: e.path, Status: Skipped, Reason: e.reason}
		case ctx.Err() != nil:
			results[i] = Result{Path: e.path, Status: NotStarted, Err: ctx.Err()}
		default:
			results[i] = in.File(ctx, e.path)
		}
		in.o.Observer.Done(results[i])
	})
	return results
}

// walk lists p, or everything under it when it is a folder, but for the
// excluded folders.
func (in *Ingester) walk(p string) []entry {
	fi, err := os.Lstat(p)
	if err != nil {
		return []entry{{path: p, err: inputError(p, err)}}
	}
	if reason := in.excluded(p); reason != "" {
		return []entry{{path: p, reason: reason}}
	}
	if !fi.IsDir() {
		return []entry{classify(p, fi)}
	}
	var out []entry
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			out = append(out, entry{path: path, err: inputError(path, err)})
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if reason := in.excluded(path); reason != "" {
				out = append(out, entry{path: path, reason: reason})
				return fs.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			out = append(out, entry{path: path, err: inputError(path, err)})
			return nil
		}
		out = append(out, classify(path, fi))
		return nil
	})
	if err != nil {
		out = append(out, entry{path: p, err: inputError(p, err)})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

// excluded says why p is not ingested when it is, or is inside, a folder
// of Options.Exclude.
func (in *Ingester) excluded(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return ""
	}
	for _, x := range in.o.Exclude {
		if within(abs, x) {
			return "inside " + x + ", which Exhibit keeps (the archive or the home folder): not ingested"
		}
	}
	return ""
}

// within reports whether path is dir or inside it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func classify(path string, fi fs.FileInfo) entry {
	m := fi.Mode()
	switch {
	case m.IsRegular():
		return entry{path: path, size: fi.Size()}
	case m&fs.ModeSymlink != 0:
		return entry{path: path, reason: "symbolic link, not followed (ingest its target instead)"}
	case m&fs.ModeNamedPipe != 0:
		return entry{path: path, reason: "named pipe, not read"}
	case m&fs.ModeSocket != 0:
		return entry{path: path, reason: "socket, not read"}
	case m&fs.ModeDevice != 0:
		return entry{path: path, reason: "device file, not read (image the device to a file first)"}
	default:
		return entry{path: path, reason: "not a regular file (" + m.Type().String() + ")"}
	}
}

// InputError says that an input path could not be read.
type InputError struct {
	Path string
	Err  error
}

func (e *InputError) Error() string {
	hint := ""
	switch {
	case errors.Is(e.Err, fs.ErrNotExist):
		hint = " (check the path)"
	case errors.Is(e.Err, fs.ErrPermission):
		hint = " (check its permissions, or run as a user who can read it)"
	}
	return fmt.Sprintf("cannot read %s: %v%s", e.Path, unwrapPath(e.Err), hint)
}
func (e *InputError) Unwrap() error { return e.Err }

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func inputError(p string, err error) error { return &InputError{Path: p, Err: err} }

// ChangedError says that a file changed while it was being read, so the
// bytes hashed may not be the file's bytes.
type ChangedError struct{ Path, What string }

func (e *ChangedError) Error() string {
	return fmt.Sprintf("%s changed while it was being read (%s); nothing was archived: ingest it again once nothing writes to it", e.Path, e.What)
}

// nonUTF8 is path's bytes when they are not valid UTF-8, for the record to
// keep them exactly (custody.Source.PathBytes), else nil.
func nonUTF8(path string) []byte {
	if utf8.ValidString(path) {
		return nil
	}
	return []byte(path)
}

// changed says how a file changed between open (at) and the end of its
// read (after), read bytes in all, or "" when nothing shows that it did:
// its size, identity, modification time and, where known, change time
// (which a writer cannot set back as it can the modification time).
func changed(at, after os.FileInfo, read int64) string {
	switch {
	case read != at.Size() || after.Size() != at.Size():
		return fmt.Sprintf("size %d at open, %d read, %d now", at.Size(), read, after.Size())
	case !os.SameFile(at, after):
		return "it is another file now"
	case !after.ModTime().Equal(at.ModTime()):
		return "modified at " + after.ModTime().UTC().Format(time.RFC3339Nano)
	}
	c0, ok0 := changeTime(at)
	c1, ok1 := changeTime(after)
	if ok0 && ok1 && !c1.Equal(c0) {
		return "written at " + c1.UTC().Format(time.RFC3339Nano) + ", its modification time set back"
	}
	return ""
}

// ConflictError says that the archive holds part of an item that ingest
// never leaves behind on its own (a record copy without its signed bundle):
// the archive was altered, and ingest refuses to sign over it.
type ConflictError struct{ Item, Key string }

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s exists but its record bundle does not: the archive was altered; not re-signing over it (run exhibit verify %s)", e.Key, e.Item)
}

// File ingests one regular file: an acquisition of kind "file".
func (in *Ingester) File(ctx context.Context, path string) Result {
	return in.acquire(ctx, fileAcquisition(path))[0]
}

// commitItem signs and writes the record bundle and the record. The record
// bundle is the commit point: once it exists the item is archived. On a
// store that groups its syncs, the record's write waits for a sync that
// covers the bundle, so the item is durable when commitItem returns. When
// it archives the item it sets out.Record and out.RecordBundle.
func (in *Ingester) commitItem(ctx context.Context, id hashing.Digest, rec *custody.Record, out *Result) (Status, error) {
	stmt, err := rec.Statement().Marshal()
	if err != nil {
		return Failed, err
	}
	signed, err := in.o.Signer.StatementBundle(ctx, stmt, in.bundleOptions())
	if err != nil {
		return Failed, err
	}
	in.missed(id, signed)
	rb := signed.Bundle
	if _, err := in.putSmall(ctx, custody.RecordBundleKey(id), rb, "application/json", storage.PutOptions{}); err != nil {
		if errors.Is(err, storage.ErrExists) {
			// A concurrent ingest of the same bytes committed first.
			return Exists, nil
		}
		return Failed, fmt.Errorf("write record bundle: %w", err)
	}
	if _, err := in.putSmall(ctx, custody.RecordKey(id), stmt, "application/json", storage.PutOptions{}); err != nil && !errors.Is(err, storage.ErrExists) {
		return Failed, fmt.Errorf("write record (the item is archived; run ingest again to complete it): %w", err)
	}
	out.Record, out.RecordBundle = stmt, hashing.Sum256(rb)
	return Archived, nil
}

// originalBundle signs the original's digest and starts writing its
// bundle, whose SHA-256 it returns; the caller commits the write.
func (in *Ingester) originalBundle(ctx context.Context, id hashing.Digest) (*storage.Deferred, hashing.Digest, error) {
	signed, err := in.o.Signer.DigestBundle(ctx, id.Sum, in.bundleOptions())
	if err != nil {
		return nil, hashing.Digest{}, err
	}
	in.missed(id, signed)
	w := in.putDeferred(ctx, custody.OriginalBundleKey(id), signed.Bundle, "application/json", storage.PutOptions{})
	return w, hashing.Sum256(signed.Bundle), nil
}

func (in *Ingester) putOriginalBundle(ctx context.Context, id hashing.Digest) error {
	w, _, err := in.originalBundle(ctx, id)
	if err != nil {
		return err
	}
	if _, err := w.Commit(ctx); err != nil && !errors.Is(err, storage.ErrExists) {
		return fmt.Errorf("write original bundle: %w", err)
	}
	return nil
}

func (in *Ingester) bundleOptions() sign.BundleOptions {
	return sign.BundleOptions{Verifier: in.o.Verifier, Timestamper: in.o.Timestamper, RequireTimestamp: in.o.RequireTimestamp, MinTimestamps: in.o.MinTimestamps}
}

func (in *Ingester) missed(id hashing.Digest, s *sign.Signed) {
	if o, ok := in.o.Observer.(TimestampObserver); ok {
		for _, m := range s.Missed {
			o.TimestampMissed(id.String(), m)
		}
	}
}

// repair writes the record and original bundle of an archived item when an
// interrupted run left them out. It reports whether it wrote anything.
func (in *Ingester) repair(ctx context.Context, id hashing.Digest) (bool, error) {
	repaired := false
	if _, err := in.o.Store.Stat(ctx, custody.OriginalBundleKey(id)); errors.Is(err, storage.ErrNotFound) {
		if err := in.putOriginalBundle(ctx, id); err != nil {
			return false, err
		}
		repaired = true
	} else if err != nil {
		return false, err
	}
	if _, err := in.o.Store.Stat(ctx, custody.RecordKey(id)); errors.Is(err, storage.ErrNotFound) {
		data, err := storage.ReadAll(ctx, in.o.Store, custody.RecordBundleKey(id), 16<<20)
		if err != nil {
			return false, err
		}
		v, err := in.o.Verifier.VerifyStatement(data, id.Sum)
		if err != nil {
			return false, fmt.Errorf("the archived record bundle does not verify, not repairing (run exhibit verify %s): %w", id, err)
		}
		if _, err := in.putSmall(ctx, custody.RecordKey(id), v.Payload, "application/json", storage.PutOptions{}); err != nil && !errors.Is(err, storage.ErrExists) {
			return false, err
		}
		repaired = true
	} else if err != nil {
		return false, err
	}
	return repaired, nil
}

func (in *Ingester) putOptions(now time.Time) storage.PutOptions {
	p := storage.PutOptions{Size: -1, LegalHold: in.o.LegalHold}
	if in.o.Retention != nil {
		p.Retention = storage.Retention{Mode: in.o.Retention.Mode, Until: now.Add(in.o.Retention.Period).UTC().Truncate(time.Second)}
	}
	return p
}

// putSmall writes an in-memory object with its digest checked by the store
// (base.SHA256 when the caller has it, else computed here).
func (in *Ingester) putSmall(ctx context.Context, key string, data []byte, ct string, base storage.PutOptions) (storage.Object, error) {
	return in.putDeferred(ctx, key, data, ct, base).Commit(ctx)
}

// putDeferred is putSmall with the commit left to the caller (see
// storage.PutDeferred).
func (in *Ingester) putDeferred(ctx context.Context, key string, data []byte, ct string, base storage.PutOptions) *storage.Deferred {
	o := base
	o.ContentType = ct
	if o.SHA256 == nil {
		sum := sha256.Sum256(data)
		o.SHA256 = sum[:]
	}
	return storage.PutDeferred(ctx, in.o.Store, key, data, o)
}

// stage writes bytes whose digest is not known yet to the store: where
// the store would copy large content to its content address (S3), at a
// fresh upload key where it stays (see custody.Pointer).
func (in *Ingester) stage(ctx context.Context, r io.Reader, size int64) (storage.Staged, error) {
	if p, ok := storage.As[storage.Placer](in.o.Store); ok {
		return p.StageAt(ctx, custody.NewUploadKey(), r, size)
	}
	return in.o.Store.Stage(ctx, r, size)
}

// commitStaged makes staged bytes permanent and sets o.Key to where they
// lie: their content address, or the upload key they were placed at, with
// a pointer at the content address. It accepts the same bytes already
// stored there, by an interrupted run or a concurrent one.
func (in *Ingester) commitStaged(ctx context.Context, st storage.Staged, o *custody.Object, put storage.PutOptions) (storage.Object, error) {
	addr, err := o.StoredKey()
	if err != nil {
		return storage.Object{}, err
	}
	var obj storage.Object
	if p, ok := st.(storage.Placed); ok {
		o.Key = p.Key()
		obj, err = p.Keep(ctx, addr, custody.NewPointer(*o, o.Key).Marshal(), put)
	} else {
		o.Key = addr
		obj, err = st.Commit(ctx, addr, put)
	}
	if errors.Is(err, storage.ErrExists) {
		// The store checked size and digest when the bytes were written.
		obj, err = in.stored(ctx, o, put)
	}
	return obj, err
}

// stored finds bytes of o that are stored already, left by an earlier run
// that stopped before its record or by a concurrent one: at their content
// address, or where the pointer there says. It sets o.Key, and gives what
// it found (and the pointer) put's retention and legal hold, which the new
// record states: the earlier run's may end sooner, or, when it stopped
// between a pointer and its content's lock, be missing.
func (in *Ingester) stored(ctx context.Context, o *custody.Object, put storage.PutOptions) (storage.Object, error) {
	addr, _ := o.StoredKey()
	obj, err := in.retained(ctx, addr, put)
	if err != nil {
		return obj, err
	}
	o.Key = addr
	if obj.Size > custody.MaxPointer || obj.Size == put.Size {
		return obj, sized(obj, put.Size)
	}
	data, err := storage.ReadAll(ctx, in.o.Store, addr, custody.MaxPointer)
	if err != nil {
		return obj, err
	}
	p, err := o.PointerAt(data)
	if errors.Is(err, custody.ErrNotPointer) {
		return obj, sized(obj, put.Size)
	}
	if err != nil {
		return obj, fmt.Errorf("%w (run exhibit verify --all): %w", err, storage.ErrIntegrity)
	}
	o.Key = p.Key
	obj, err = in.retained(ctx, p.Key, put)
	if errors.Is(err, storage.ErrNotFound) {
		return obj, fmt.Errorf("the pointer at %s names %s, which is missing: the archive is damaged (run exhibit verify --all): %w", addr, p.Key, storage.ErrIntegrity)
	}
	if err != nil {
		return obj, err
	}
	return obj, sized(obj, put.Size)
}

// retained describes the object at key after giving it put's retention and
// legal hold, where the store can lock existing objects.
func (in *Ingester) retained(ctx context.Context, key string, put storage.PutOptions) (storage.Object, error) {
	if r, ok := storage.As[storage.Retainer](in.o.Store); ok && (!put.Retention.IsZero() || put.LegalHold) {
		return r.Retain(ctx, key, "", put)
	}
	return in.o.Store.Stat(ctx, key)
}

func (in *Ingester) existing(ctx context.Context, key string, size int64) (storage.Object, error) {
	o, err := in.o.Store.Stat(ctx, key)
	if err != nil {
		return o, err
	}
	return o, sized(o, size)
}

// sized fails with ErrIntegrity when an object already stored has another
// size than the bytes that were to be written there.
func sized(o storage.Object, size int64) error {
	if o.Size != size {
		return fmt.Errorf("%s exists with %d bytes, want %d (run exhibit verify --all): %w", o.Key, o.Size, size, storage.ErrIntegrity)
	}
	return nil
}

func (in *Ingester) encryption(ciphertext hashing.Set) *custody.Encryption {
	return &custody.Encryption{Scheme: custody.EncryptionAge, Recipients: in.o.Encrypt.Names,
		Digest: ciphertext.Map(), Size: ciphertext.Size}
}

// storeContent starts writing small derived bytes (encrypted when the
// ingester encrypts) content-addressed and returns their record, without
// the version the store gives them: commitContent returns that.
func (in *Ingester) storeContent(ctx context.Context, data []byte, mediaType string, base storage.PutOptions) (custody.Object, *storage.Deferred, error) {
	sum := hashing.Bytes(data)
	o := custody.Object{Digest: sum.Map(), Size: sum.Size, MediaType: mediaType}
	stored, ct, storedSum := data, mediaType, sum
	if in.o.Encrypt != nil {
		var buf bytes.Buffer
		w, err := age.Encrypt(&buf, in.o.Encrypt.Recipients...)
		if err == nil {
			_, err = w.Write(data)
		}
		if err == nil {
			err = w.Close()
		}
		if err != nil {
			return custody.Object{}, nil, fmt.Errorf("encrypt: %w", err)
		}
		stored, ct, storedSum = buf.Bytes(), "application/octet-stream", hashing.Bytes(buf.Bytes())
		o.Encryption = in.encryption(storedSum)
	}
	o.Key, _ = o.StoredKey()
	put := base
	put.SHA256 = storedSum.SHA256.Sum
	return o, in.putDeferred(ctx, o.Key, stored, ct, put), nil
}

// commitContent commits a write of storeContent, accepting the same bytes
// already stored, and returns their version.
func (in *Ingester) commitContent(ctx context.Context, w *storage.Deferred) (string, error) {
	obj, err := w.Commit(ctx)
	if errors.Is(err, storage.ErrExists) {
		obj, err = in.existing(ctx, w.Key(), w.Size())
	}
	return obj.VersionID, err
}

// maxMetadata bounds the metadata document kept in memory.
const maxMetadata = 64 << 20

// storeMetadata starts writing the metadata document; the caller commits
// the write with commitContent and sets the version.
func (in *Ingester) storeMetadata(ctx context.Context, doc *metadataDoc, put storage.PutOptions) (*custody.Metadata, *storage.Deferred, error) {
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	if len(data) > maxMetadata {
		return nil, nil, fmt.Errorf("metadata document is %d bytes, over the %d limit", len(data), maxMetadata)
	}
	o, w, err := in.storeContent(ctx, append(data, '\n'), custody.MetadataMediaType, put)
	if err != nil {
		return nil, nil, err
	}
	return &custody.Metadata{Object: o, Readers: doc.readerIDs(), Errors: doc.Errors}, w, nil
}

// producerError is a derivative's Write failing (as opposed to the store).
type producerError struct{ err error }

func (e *producerError) Error() string { return e.err.Error() }

// stagedDerivative is a derivative written to the store's staging area.
type stagedDerivative struct {
	d      derivative
	staged storage.Staged
	sum    hashing.Set
	put    storage.PutOptions
}

// stageDerivative runs the derivative's producer into the store's staging
// area. A failing producer is a *producerError.
func (in *Ingester) stageDerivative(ctx context.Context, d derivative, put storage.PutOptions) (*stagedDerivative, error) {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		var err error
		defer func() {
			if p := recover(); p != nil {
				// The panic value is not kept: it may carry metadata values.
				err = fmt.Errorf("%s crashed on this file", d.Reader)
			}
			if err != nil {
				err = &producerError{err}
			}
			pw.CloseWithError(err)
		}()
		err = d.Write(ctx, pw)
	}()
	h := hashing.New()
	staged, err := in.stage(ctx, h.Tee(pr), -1)
	pr.CloseWithError(errors.New("derivative reader closed"))
	<-done
	if err != nil {
		return nil, err
	}
	return &stagedDerivative{d: d, staged: staged, sum: h.Sum(), put: put}, nil
}

// commitDerivative commits a staged derivative under its content address
// and returns its record.
func (in *Ingester) commitDerivative(ctx context.Context, sd *stagedDerivative) (custody.Derivative, error) {
	d, sum := sd.d, sd.sum
	o := sd.put
	o.Size, o.SHA256, o.ContentType = sum.Size, sum.SHA256.Sum, d.MediaType
	stored := custody.Object{Digest: sum.Map(), Size: sum.Size, MediaType: d.MediaType}
	obj, err := in.commitStaged(ctx, sd.staged, &stored, o)
	if err != nil {
		return custody.Derivative{}, err
	}
	t := custody.Transform{Name: d.Transform.Name, Version: d.Transform.Version, Profile: d.Transform.Profile, Params: maps.Clone(d.Transform.Params)}
	if d.Params != nil {
		if t.Params == nil {
			t.Params = map[string]string{}
		}
		maps.Copy(t.Params, d.Params())
	}
	stored.VersionID = obj.VersionID
	return custody.Derivative{Object: stored, Name: d.Name, Kind: d.Kind, Transform: t}, nil
}

// isReadErr reports whether a staging error came from reading the input
// rather than from the store.
func isReadErr(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && (pe.Op == "read" || pe.Op == "readat")
}

// sizeGuard fails with a ChangedError when a file yields more bytes than it
// had when it was opened (someone is appending to it).
type sizeGuard struct {
	r    io.Reader
	left int64
	path string
}

func (g *sizeGuard) Read(p []byte) (int, error) {
	if g.left <= 0 {
		// Probe for growth: a regular file at its size returns EOF.
		var one [1]byte
		n, err := g.r.Read(one[:])
		if n > 0 {
			return 0, &ChangedError{Path: g.path, What: "it grew while being read"}
		}
		return 0, err
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	n, err := g.r.Read(p)
	g.left -= int64(n)
	if err == io.EOF && g.left > 0 {
		return n, &ChangedError{Path: g.path, What: "it shrank while being read"}
	}
	return n, err
}

// headBuffer keeps the first max bytes written to it.
type headBuffer struct {
	buf []byte
	max int
}

func (h *headBuffer) Write(p []byte) (int, error) {
	if n := h.max - len(h.buf); n > 0 {
		h.buf = append(h.buf, p[:min(n, len(p))]...)
	}
	return len(p), nil
}

type progress struct{ o Observer }

func (p progress) Write(b []byte) (int, error) { p.o.Read(int64(len(b))); return len(b), nil }
