// Package local is the storage.Store kept in a folder on a local or mounted
// file system: the embedded default, with no server to run.
//
// It owns the folder's layout: the object at key "a/b/c" is the file
// <dir>/a/b/c, and <dir>/.tmp holds content being written (keys whose first
// element is ".tmp" are therefore refused).
//
// Guarantees:
//   - Write-once. Content is written to a temporary file, fsynced, made
//     read-only (0444) and hard-linked to its final name. link(2) fails when
//     the name exists, so of two concurrent writers exactly one wins, and an
//     existing object is never replaced. The parent folder is fsynced before
//     Put or Commit returns. With GroupCommit the fsyncs give way to one
//     syncfs(2) shared by all writes waiting at the time, and a key is
//     linked only once its content and everything written before it are
//     durable; Sync waits for the keys linked since (see storage.Syncer).
//   - Atomic. After any failure or cancellation the key holds nothing or the
//     complete object; partial content lives only under .tmp, and temporary
//     files older than 24 hours are removed by Open.
//   - Checked. A wrong PutOptions.Size or PutOptions.SHA256 fails with
//     storage.ErrIntegrity before anything appears at the key.
//   - Errors name the path and the cause. A full disk or quota wraps
//     storage.ErrFull; a permission or read-only error wraps storage.ErrDenied.
//
// Mutable objects (storage.Swapper, used for the custody log's checkpoint)
// are the exception to write-once: Swap takes an exclusive flock(2) on a
// lock file of the key's own under .tmp (kept, never cleaned), compares the
// current content's SHA-256 with the version the caller read, writes the new
// content to a fsynced temporary file and renames it over the key, then
// fsyncs the folder (with GroupCommit: the group's sync covers the new
// content and everything written before it, then another the rename,
// before Swap returns). Readers never take the lock: rename is atomic. The
// lock works between processes on one machine and on file systems with
// working flock; on a network file system without it, use one writer.
//
// A plain folder cannot enforce retention: Capabilities reports no object
// lock, PutOptions.Retention and LegalHold are not recorded, and Object
// reports a zero Retention. Anyone with write access to the folder can still
// delete files; use storage/s3 with Object Lock where that matters.
//
// This package must not import anything from this module but storage.
package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/openexhibit/exhibit/storage"
)

const (
	// tmpName is the folder under the store root that holds content being
	// written. It is never listed and keys may not start with it.
	tmpName = ".tmp"
	// staleAfter is the age after which Open removes a temporary file: no
	// write takes that long, so its writer has died.
	staleAfter = 24 * time.Hour
	// copyBufferSize is the size of the buffers content is copied through,
	// and copyBuffers how many there are: one being read while the others
	// are written.
	copyBufferSize = 1 << 20
	copyBuffers    = 4
	// writebackEvery is how much is written between requests to the kernel
	// to start writing a temporary file to disk (see startWriteback).
	writebackEvery = 8 << 20
)

// tempFile is the part of *os.File the store writes through. Tests replace
// Store.newTemp to inject disk errors (ENOSPC, EROFS) that cannot be caused
// for real without privileges.
type tempFile interface {
	io.Writer
	Name() string
	Chmod(fs.FileMode) error
	Sync() error
	Close() error
}

// Store is a storage.Store in a folder. Create one with Open or Create.
// All methods may be called concurrently, also from several processes.
type Store struct {
	dir string // absolute, clean
	tmp string // dir/.tmp

	newTemp func(dir, pattern string) (tempFile, error)
	group   *syncGroup // with GroupCommit; nil: fsync every write
}

var (
	_ storage.Store  = (*Store)(nil)
	_ storage.Syncer = (*Store)(nil)
)

// Create makes the folder dir (and any missing parents) with mode 0700 if it
// does not exist yet, then opens it like Open. Calling it on an existing
// store is harmless.
func Create(dir string, opts ...Option) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("storage/local: create %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("storage/local: create %s: %w", abs, mapOSError(err))
	}
	return Open(abs, opts...)
}

// Open opens the store in the existing folder dir. It fails when dir does not
// exist (run `exhibit init` or use Create), makes the temporary area if
// missing, and removes temporary files older than 24 hours.
func Open(dir string, opts ...Option) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("storage/local: open %s: %w", dir, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("storage/local: open %s: %w: %w (run `exhibit init` to create the store)", abs, storage.ErrNotFound, err)
		}
		return nil, fmt.Errorf("storage/local: open %s: %w", abs, mapOSError(err))
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("storage/local: open %s: not a folder", abs)
	}
	s := &Store{dir: abs, tmp: filepath.Join(abs, tmpName), newTemp: osCreateTemp}
	for _, o := range opts {
		o(s)
	}
	if err := os.Mkdir(s.tmp, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("storage/local: open %s: %w", abs, mapOSError(err))
	}
	if err := s.removeStale(time.Now().Add(-staleAfter)); err != nil {
		return nil, fmt.Errorf("storage/local: open %s: remove stale temporary files: %w", abs, err)
	}
	return s, nil
}

// removeStale removes temporary files last modified before cutoff.
func (s *Store) removeStale(cutoff time.Time) error {
	entries, err := os.ReadDir(s.tmp)
	if err != nil {
		return mapOSError(err)
	}
	for _, e := range entries {
		if isLockFile(e.Name()) {
			continue // lock files live as long as the store (see Swap)
		}
		info, err := e.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed meanwhile by its writer
			}
			return mapOSError(err)
		}
		if info.ModTime().Before(cutoff) {
			if err := os.RemoveAll(filepath.Join(s.tmp, e.Name())); err != nil {
				return mapOSError(err)
			}
		}
	}
	return nil
}

// Dir returns the absolute path of the store's folder.
func (s *Store) Dir() string { return s.dir }

// Location returns the store's folder as a file:// URL.
func (s *Store) Location() string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(s.dir)}).String()
}

// Capabilities reports that a folder enforces neither retention nor versions.
func (s *Store) Capabilities(ctx context.Context) (storage.Capabilities, error) {
	return storage.Capabilities{}, nil
}

// checkKey validates key and returns its path in the store.
func (s *Store) checkKey(op, key string) (string, error) {
	if err := storage.ValidKey(key); err != nil {
		return "", fmt.Errorf("storage/local: %s: %w", op, err)
	}
	if key == tmpName || strings.HasPrefix(key, tmpName+"/") {
		return "", fmt.Errorf("storage/local: %s: invalid key %q: keys under %s/ are reserved for temporary files", op, key, tmpName)
	}
	return filepath.Join(s.dir, filepath.FromSlash(key)), nil
}

// Put writes r at key, once. See the package documentation for guarantees.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.Object, error) {
	path, err := s.checkKey("put", key)
	if err != nil {
		return storage.Object{}, err
	}
	if err := ctx.Err(); err != nil {
		return storage.Object{}, fmt.Errorf("storage/local: put %s: %w", key, err)
	}
	// The common case of content already stored reads and writes nothing.
	if err := s.absent(path); err != nil {
		return storage.Object{}, fmt.Errorf("storage/local: put %s: %w", key, err)
	}
	t, err := s.writeTemp(ctx, r, opts.Size, len(opts.SHA256) > 0)
	if err != nil {
		return storage.Object{}, fmt.Errorf("storage/local: put %s: %w", key, err)
	}
	defer os.Remove(t.path)
	if err := checkSHA256(opts.SHA256, t.sum); err != nil {
		return storage.Object{}, fmt.Errorf("storage/local: put %s: %w", key, err)
	}
	obj, err := s.link(ctx, t, key, path)
	if err != nil {
		return storage.Object{}, fmt.Errorf("storage/local: put %s: %w", key, err)
	}
	return obj, nil
}

// absent returns an error wrapping storage.ErrExists when path exists.
func (s *Store) absent(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case err == nil && fi.IsDir():
		return errFolder(path)
	case err == nil:
		return storage.ErrExists
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		// ENOTDIR: a parent is a file; link reports the conflict.
		return nil
	default:
		return mapOSError(err)
	}
}

// temp is a finished temporary file.
type temp struct {
	path string
	n    int64  // its length
	sum  []byte // its SHA-256, when asked for
	// need is the change number its content has with GroupCommit: it is
	// durable once the group has synced up to it.
	need uint64
}

// writeTemp copies r into a new read-only temporary file, fsynced unless the
// store groups its syncs. It checks the length against size when size >= 0
// and returns the SHA-256 of the content when withSHA256 is set: computed
// here, or taken from r when it is a storage.SHA256Reader. On error nothing
// is left behind.
func (s *Store) writeTemp(ctx context.Context, r io.Reader, size int64, withSHA256 bool) (_ temp, err error) {
	var (
		n   int64
		sum []byte
	)
	f, err := s.newTemp(s.tmp, "w-*")
	if errors.Is(err, fs.ErrNotExist) {
		// Someone removed the temporary area; make it again.
		if mkErr := os.Mkdir(s.tmp, 0o700); mkErr == nil || errors.Is(mkErr, fs.ErrExist) {
			f, err = s.newTemp(s.tmp, "w-*")
		}
	}
	if err != nil {
		return temp{}, mapOSError(err)
	}
	name := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(name)
		}
	}()

	var h hash.Hash
	w := io.Writer(f)
	if c, ok := f.(syscall.Conn); ok {
		w = &writeback{w: f, c: c}
	}
	sr, vouched := r.(storage.SHA256Reader)
	if withSHA256 && !vouched {
		h = sha256.New()
		w = io.MultiWriter(w, h)
	}
	src := r
	if size >= 0 {
		// Read one byte more than announced, to notice content that is too long.
		src = io.LimitReader(r, size+1)
	}
	if br, ok := r.(*bytes.Reader); ok && size >= 0 {
		// Content already in memory (records, bundles, tiles): one write,
		// without copyContext's buffers and goroutine.
		if err = ctx.Err(); err != nil {
			return temp{}, err
		}
		n, err = br.WriteTo(w)
		err = mapOSError(err)
	} else {
		n, err = copyContext(ctx, w, src)
	}
	if err != nil {
		return temp{}, err
	}
	if size >= 0 && n != size {
		if n > size {
			return temp{}, fmt.Errorf("%w: content is longer than the announced %d bytes", storage.ErrIntegrity, size)
		}
		return temp{}, fmt.Errorf("%w: content is %d bytes, announced %d", storage.ErrIntegrity, n, size)
	}
	// r has ended (with size >= 0, the limit of one byte more was not reached).
	switch {
	case h != nil:
		sum = h.Sum(nil)
	case withSHA256:
		sum = sr.SHA256()
	}
	if err = f.Chmod(0o444); err != nil {
		return temp{}, mapOSError(err)
	}
	if s.group == nil {
		if err = f.Sync(); err != nil {
			return temp{}, mapOSError(err)
		}
	}
	if err = f.Close(); err != nil {
		return temp{}, mapOSError(err)
	}
	t := temp{path: name, n: n, sum: sum}
	if s.group != nil {
		t.need = s.group.mark()
	}
	return t, nil
}

// writeback writes to a file, and has the kernel start writing each
// writebackEvery bytes of it to disk as soon as they are written.
type writeback struct {
	w        io.Writer
	c        syscall.Conn
	off, end int64 // [off, end) written and not yet handed to the kernel
}

func (wb *writeback) Write(p []byte) (int, error) {
	n, err := wb.w.Write(p)
	wb.end += int64(n)
	if wb.end-wb.off >= writebackEvery {
		startWriteback(wb.c, wb.off, wb.end-wb.off)
		wb.off = wb.end
	}
	return n, err
}

// copyContext copies src to dst until EOF, stopping when ctx is done, and
// returns how many bytes it wrote. Reading and writing overlap: a second
// goroutine writes what was read while the next buffer is read. Errors from
// src are returned as they are, so callers can test for them; errors from
// dst are mapped to storage sentinels.
func copyContext(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
	full := make(chan []byte, copyBuffers)
	free := make(chan []byte, copyBuffers)
	stopped := make(chan struct{}) // the writer has failed or finished
	var n int64                    // written; read after stopped
	var werr error
	go func() {
		defer close(stopped)
		for b := range full {
			nw, err := dst.Write(b)
			n += int64(nw)
			if err == nil && nw != len(b) {
				err = io.ErrShortWrite
			}
			if err != nil {
				werr = mapOSError(err)
				return
			}
			free <- b[:cap(b)]
		}
	}()

	var rerr error
	buffers := 0
read:
	for {
		if rerr = ctx.Err(); rerr != nil {
			break
		}
		var buf []byte
		select {
		case buf = <-free:
		default:
			if buffers < copyBuffers {
				buf = *bufPool.Get().(*[]byte)
				buffers++
				break
			}
			select {
			case buf = <-free:
			case <-stopped:
				break read
			}
		}
		nr, err := src.Read(buf)
		if nr > 0 {
			if rerr = ctx.Err(); rerr != nil {
				break
			}
			select {
			case full <- buf[:nr]:
			case <-stopped:
				break read
			}
		} else {
			free <- buf
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			rerr = fmt.Errorf("read content: %w", err)
			break
		}
	}
	close(full)
	<-stopped
	// Give back the buffers that came home; one still held by a failed
	// writer is left to the garbage collector.
	for len(free) > 0 {
		b := <-free
		bufPool.Put(&b)
	}
	if werr != nil {
		return n, werr
	}
	return n, rerr
}

// bufPool holds copyContext's buffers: allocating them for every object
// cost more than writing a small object.
var bufPool = sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }}

func checkSHA256(want, got []byte) error {
	if len(want) == 0 {
		return nil
	}
	if subtle.ConstantTimeCompare(want, got) != 1 {
		return fmt.Errorf("%w: sha256 is %x, expected %x", storage.ErrIntegrity, got, want)
	}
	return nil
}

// link makes the finished temporary file visible at key. It is the one step
// that decides a race: link(2) never replaces an existing name. With
// GroupCommit it first waits until the content, and everything written
// before it, is durable.
func (s *Store) link(ctx context.Context, t temp, key, path string) (storage.Object, error) {
	if err := ctx.Err(); err != nil {
		return storage.Object{}, err
	}
	if s.group != nil {
		if err := s.group.wait(ctx, t.need); err != nil {
			return storage.Object{}, err
		}
	}
	tmp, parent := t.path, filepath.Dir(path)
	// Folders are made only when the link says one is missing: most keys
	// land in folders that exist, and probing each level costs syscalls.
	err := os.Link(tmp, path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		if err := s.mkdirs(key, parent); err != nil {
			return storage.Object{}, err
		}
		err = os.Link(tmp, path)
	}
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			if fi, statErr := os.Lstat(path); statErr == nil && fi.IsDir() {
				return storage.Object{}, errFolder(path)
			}
			return storage.Object{}, storage.ErrExists
		}
		return storage.Object{}, mapOSError(err)
	}
	if s.group != nil {
		// Durable with the next sync of the group (see storage.Syncer).
		s.group.mark()
	} else if err := syncDir(parent); err != nil {
		// Without a durable directory entry the write did not happen: take
		// it back so that the failure leaves nothing at the key.
		_ = os.Remove(path)
		return storage.Object{}, err
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return storage.Object{}, mapOSError(err)
	}
	return objectOf(key, fi), nil
}

// mkdirs makes the folders between the store root and parent, fsyncing each
// folder that gains an entry so the new path survives a crash (with
// GroupCommit, the group's next sync does that). It starts with parent
// itself and goes up only while a folder is missing: most keys need one
// new folder (an item's), under folders that exist.
func (s *Store) mkdirs(key, parent string) error {
	root := s.dir
	if !strings.HasSuffix(root, string(filepath.Separator)) {
		root += string(filepath.Separator) // not for a root folder: "/", `E:\`
	}
	if parent == s.dir || parent+string(filepath.Separator) == root {
		return nil
	}
	if !strings.HasPrefix(parent, root) {
		return s.mkdirsFromRoot(key, parent)
	}
	err := os.Mkdir(parent, 0o700)
	if errors.Is(err, fs.ErrNotExist) {
		if err := s.mkdirs(key, filepath.Dir(parent)); err != nil {
			return err
		}
		err = os.Mkdir(parent, 0o700)
	}
	switch {
	case err == nil:
		if s.group != nil {
			s.group.mark()
			return nil
		}
		return syncDir(filepath.Dir(parent))
	case errors.Is(err, fs.ErrExist):
		if fi, statErr := os.Stat(parent); statErr == nil && fi.IsDir() {
			return nil // made meanwhile by another write
		}
	}
	// An object where a folder should be, or another error: say which.
	return s.mkdirsFromRoot(key, parent)
}

// mkdirsFromRoot is mkdirs one level at a time from the root, which names
// the object that stands where a folder should be.
func (s *Store) mkdirsFromRoot(key, parent string) error {
	rel, err := filepath.Rel(s.dir, parent)
	if err != nil || rel == "." {
		return err
	}
	cur := s.dir
	for _, el := range strings.Split(rel, string(filepath.Separator)) {
		next := filepath.Join(cur, el)
		err := os.Mkdir(next, 0o700)
		switch {
		case err == nil:
			if s.group != nil {
				s.group.mark()
			} else if err := syncDir(cur); err != nil {
				return err
			}
		case errors.Is(err, fs.ErrExist):
			fi, statErr := os.Stat(next)
			if statErr != nil {
				return mapOSError(statErr)
			}
			if !fi.IsDir() {
				conflict, _ := filepath.Rel(s.dir, next)
				return fmt.Errorf("key %q cannot be stored: %q is an object, not a folder", key, filepath.ToSlash(conflict))
			}
		default:
			return mapOSError(err)
		}
		cur = next
	}
	return nil
}

func errFolder(path string) error {
	return fmt.Errorf("%s is a folder holding other objects, not an object", path)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return mapOSError(err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return mapOSError(err)
	}
	return nil
}

// Stage writes r to a temporary file, to be committed under a key the caller
// learns by reading the content.
func (s *Store) Stage(ctx context.Context, r io.Reader, size int64) (storage.Staged, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("storage/local: stage: %w", err)
	}
	t, err := s.writeTemp(ctx, r, size, true)
	if err != nil {
		return nil, fmt.Errorf("storage/local: stage: %w", err)
	}
	return &staged{s: s, t: t}, nil
}

type staged struct {
	s *Store

	mu sync.Mutex
	t  temp // t.path is "" once spent
}

func (st *staged) Size() int64 { return st.t.n }

// Commit links the staged file at key. The staged content is spent whatever
// the outcome.
func (st *staged) Commit(ctx context.Context, key string, opts storage.PutOptions) (storage.Object, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.t.path == "" {
		return storage.Object{}, fmt.Errorf("storage/local: commit %s: staged content was already committed or discarded", key)
	}
	t := st.t
	st.t.path = ""
	defer os.Remove(t.path)

	path, err := st.s.checkKey("commit", key)
	if err != nil {
		return storage.Object{}, err
	}
	if opts.Size >= 0 && opts.Size != t.n {
		return storage.Object{}, fmt.Errorf("storage/local: commit %s: %w: staged %d bytes, expected %d", key, storage.ErrIntegrity, t.n, opts.Size)
	}
	if err := checkSHA256(opts.SHA256, t.sum); err != nil {
		return storage.Object{}, fmt.Errorf("storage/local: commit %s: %w", key, err)
	}
	obj, err := st.s.link(ctx, t, key, path)
	if err != nil {
		return storage.Object{}, fmt.Errorf("storage/local: commit %s: %w", key, err)
	}
	return obj, nil
}

// Discard removes the staged file. It is safe to call more than once and
// after Commit.
func (st *staged) Discard(ctx context.Context) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.t.path == "" {
		return nil
	}
	err := os.Remove(st.t.path)
	st.t.path = ""
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("storage/local: discard: %w", mapOSError(err))
	}
	return nil
}

// Get opens the object at key for reading.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	path, err := s.checkKey("get", key)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("storage/local: get %s: %w", key, err)
	}
	f, err := openRegular(path)
	if err != nil {
		return nil, fmt.Errorf("storage/local: get %s: %w", key, err)
	}
	return f, nil
}

// Stat describes the object at key.
func (s *Store) Stat(ctx context.Context, key string) (storage.Object, error) {
	path, err := s.checkKey("stat", key)
	if err != nil {
		return storage.Object{}, err
	}
	if err := ctx.Err(); err != nil {
		return storage.Object{}, fmt.Errorf("storage/local: stat %s: %w", key, err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return storage.Object{}, fmt.Errorf("storage/local: stat %s: %w", key, mapLookupError(err))
	}
	if !fi.Mode().IsRegular() {
		return storage.Object{}, fmt.Errorf("storage/local: stat %s: %w", key, storage.ErrNotFound)
	}
	return objectOf(key, fi), nil
}

func objectOf(key string, fi fs.FileInfo) storage.Object {
	return storage.Object{Key: key, Size: fi.Size(), ModTime: fi.ModTime().UTC()}
}

// List calls fn for each object whose key starts with prefix, in lexical key
// order. It reads one folder at a time, so memory grows with the widest
// folder, not with the store.
func (s *Store) List(ctx context.Context, prefix string, fn func(storage.Object) error) error {
	dirPart, namePrefix := "", prefix
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dirPart, namePrefix = prefix[:i], prefix[i+1:]
		if err := storage.ValidKey(dirPart); err != nil {
			return fmt.Errorf("storage/local: list %q: invalid prefix", prefix)
		}
		if dirPart == tmpName || strings.HasPrefix(dirPart, tmpName+"/") {
			return nil
		}
	}
	start := s.dir
	if dirPart != "" {
		start = filepath.Join(s.dir, filepath.FromSlash(dirPart))
	}
	err := s.walk(ctx, start, dirPart, namePrefix, fn)
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

var errStop = errors.New("stop")

// walk lists the folder dir, whose key is dirKey ("" for the root), visiting
// only names starting with namePrefix.
func (s *Store) walk(ctx context.Context, dir, dirKey, namePrefix string, fn func(storage.Object) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("storage/local: list: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil // nothing under this prefix
		}
		return fmt.Errorf("storage/local: list %s: %w", dir, mapOSError(err))
	}
	// A folder "a" holds keys "a/…", so it sorts as "a/": with that, a
	// depth-first walk visits keys in lexical order ("a-b" < "a/c" < "ab").
	sortName := func(e fs.DirEntry) string {
		if e.IsDir() {
			return e.Name() + "/"
		}
		return e.Name()
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(sortName(a), sortName(b)) })
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, namePrefix) {
			continue
		}
		if dirKey == "" && name == tmpName {
			continue
		}
		key := name
		if dirKey != "" {
			key = dirKey + "/" + name
		}
		switch {
		case e.IsDir():
			if err := s.walk(ctx, filepath.Join(dir, name), key, "", fn); err != nil {
				return err
			}
		case e.Type().IsRegular():
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("storage/local: list: %w", err)
			}
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return fmt.Errorf("storage/local: list %s: %w", key, mapOSError(err))
			}
			if err := fn(objectOf(key, fi)); err != nil {
				return err
			}
		default:
			// Symbolic links and other special files are not objects.
		}
	}
	return nil
}

// mapLookupError maps the error of opening an object's path: a missing path,
// or a path through a file, is ErrNotFound.
func mapLookupError(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%w: %w", storage.ErrNotFound, err)
	}
	return mapOSError(err)
}

// mapOSError wraps err with the storage sentinel its cause belongs to,
// keeping err (and the path it names) in the chain and the message.
func mapOSError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("%w: %w", storage.ErrFull, err)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EROFS):
		return fmt.Errorf("%w: %w", storage.ErrDenied, err)
	default:
		return err
	}
}
