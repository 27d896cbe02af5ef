package local

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openexhibit/exhibit/storage"
	"github.com/openexhibit/exhibit/storage/storagetest"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := Create(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return newStore(t) })
}

func put(t *testing.T, s *Store, key, content string) storage.Object {
	t.Helper()
	obj, err := s.Put(context.Background(), key, strings.NewReader(content), storage.PutOptions{Size: -1})
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return obj
}

// tmpEntries returns the names in the store's temporary area.
func tmpEntries(t *testing.T, s *Store) []string {
	t.Helper()
	entries, err := os.ReadDir(s.tmp)
	if err != nil {
		t.Fatalf("read temporary area: %v", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestFilesAreReadOnly(t *testing.T) {
	s := newStore(t)
	put(t, s, "a/b/c", "evidence")
	st, err := s.Stage(context.Background(), strings.NewReader("staged"), -1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Commit(context.Background(), "d", storage.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"a/b/c", "d"} {
		fi, err := os.Stat(filepath.Join(s.Dir(), filepath.FromSlash(key)))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o444 {
			t.Errorf("%s has mode %v, want 0444", key, got)
		}
	}
	for _, dir := range []string{"", "a", "a/b"} {
		fi, err := os.Stat(filepath.Join(s.Dir(), filepath.FromSlash(dir)))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o700 {
			t.Errorf("folder %q has mode %v, want 0700", dir, got)
		}
	}
	if got := tmpEntries(t, s); len(got) != 0 {
		t.Errorf("temporary area holds %q after commits, want nothing", got)
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	if _, err := Open(missing); !errors.Is(err, storage.ErrNotFound) || !strings.Contains(err.Error(), "exhibit init") {
		t.Errorf("Open(missing) error = %v, want ErrNotFound and a hint to run exhibit init", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open created the missing folder")
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(file); err == nil {
		t.Errorf("Open(a file) succeeded, want an error")
	}
	if _, err := Create(filepath.Join(file, "sub")); err == nil {
		t.Errorf("Create under a file succeeded, want an error")
	}

	s, err := Create(filepath.Join(dir, "new", "store"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	fi, err := os.Stat(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("Create made mode %v, want 0700", fi.Mode().Perm())
	}
	put(t, s, "k", "v")
	s2, err := Create(s.Dir()) // idempotent, keeps content
	if err != nil {
		t.Fatalf("second Create: %v", err)
	}
	if _, err := s2.Stat(context.Background(), "k"); err != nil {
		t.Errorf("after second Create: %v", err)
	}
	if want := "file://" + filepath.ToSlash(s.Dir()); s.Location() != want {
		t.Errorf("Location() = %q, want %q", s.Location(), want)
	}
	if !filepath.IsAbs(s.Dir()) {
		t.Errorf("Dir() = %q is not absolute", s.Dir())
	}
}

func TestOpenRelative(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	s, err := Create("rel")
	if err != nil {
		t.Fatal(err)
	}
	if want := "file://" + filepath.ToSlash(filepath.Join(dir, "rel")); s.Location() != want {
		t.Errorf("Location() = %q, want %q", s.Location(), want)
	}
}

func TestOpenRemovesStaleTemporaryFiles(t *testing.T) {
	s := newStore(t)
	old := filepath.Join(s.tmp, "w-old")
	fresh := filepath.Join(s.tmp, "w-fresh")
	for _, p := range []string{old, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-25 * time.Hour)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(s.Dir()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temporary file survived Open: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temporary file removed by Open: %v", err)
	}
}

func TestTemporaryAreaRecreated(t *testing.T) {
	s := newStore(t)
	if err := os.RemoveAll(s.tmp); err != nil {
		t.Fatal(err)
	}
	put(t, s, "k", "v")
}

func TestCapabilitiesAndRetention(t *testing.T) {
	s := newStore(t)
	caps, err := s.Capabilities(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if caps.ObjectLock || caps.Versioning {
		t.Errorf("Capabilities() = %+v, want none", caps)
	}
	ret := storage.Retention{Mode: storage.Compliance, Until: time.Now().Add(time.Hour)}
	obj, err := s.Put(context.Background(), "k", strings.NewReader("v"), storage.PutOptions{Size: 1, Retention: ret, LegalHold: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Stat(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []storage.Object{obj, st} {
		if !o.Retention.IsZero() || o.LegalHold {
			t.Errorf("object %+v reports retention a folder cannot enforce", o)
		}
	}
}

// TestKeyThroughObject covers a file where a folder is expected: an object
// "a" makes key "a/b" impossible, and the reverse.
func TestKeyThroughObject(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	put(t, s, "a", "file")
	_, err := s.Put(ctx, "a/b", strings.NewReader("x"), storage.PutOptions{Size: -1})
	if err == nil || errors.Is(err, storage.ErrExists) || !strings.Contains(err.Error(), `"a" is an object`) {
		t.Errorf("Put(a/b) with object a: error = %v, want a conflict naming a", err)
	}
	put(t, s, "d/e", "file")
	_, err = s.Put(ctx, "d", strings.NewReader("x"), storage.PutOptions{Size: -1})
	if err == nil || errors.Is(err, storage.ErrExists) || !strings.Contains(err.Error(), "folder") {
		t.Errorf("Put(d) with object d/e: error = %v, want a conflict with the folder d", err)
	}
	if got := tmpEntries(t, s); len(got) != 0 {
		t.Errorf("temporary area holds %q after failed writes, want nothing", got)
	}
	var listed []string
	if err := s.List(ctx, "", func(o storage.Object) error { listed = append(listed, o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(listed, ",") != "a,d/e" {
		t.Errorf("List = %q, want [a d/e]", listed)
	}
}

func TestListSkipsForeignFiles(t *testing.T) {
	s := newStore(t)
	put(t, s, "k", "v")
	if err := os.Symlink("/etc/passwd", filepath.Join(s.Dir(), "link")); err != nil {
		t.Fatal(err)
	}
	var listed []string
	if err := s.List(context.Background(), "", func(o storage.Object) error { listed = append(listed, o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(listed, ",") != "k" {
		t.Errorf("List = %q, want [k]", listed)
	}
	if _, err := s.Get(context.Background(), "link"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get(symlink) error = %v, want ErrNotFound", err)
	}
	if err := s.List(context.Background(), "../", func(storage.Object) error { return nil }); err == nil {
		t.Errorf("List(\"../\") succeeded, want an error")
	}
}

// faultyFile is a temporary file whose writes, chmod or sync fail with err.
type faultyFile struct {
	*os.File
	failOn string
	err    syscall.Errno
}

func (f *faultyFile) fail(op string) error {
	return &fs.PathError{Op: op, Path: f.Name(), Err: f.err}
}

func (f *faultyFile) Write(p []byte) (int, error) {
	if f.failOn == "write" {
		return 0, f.fail("write")
	}
	return f.File.Write(p)
}

func (f *faultyFile) Chmod(m fs.FileMode) error {
	if f.failOn == "chmod" {
		return f.fail("chmod")
	}
	return f.File.Chmod(m)
}

func (f *faultyFile) Sync() error {
	if f.failOn == "sync" {
		return f.fail("sync")
	}
	return f.File.Sync()
}

// TestDiskErrors injects the errors a full or read-only disk gives, which
// cannot be caused for real without privileges (and tests run as root,
// where permissions do not deny).
func TestDiskErrors(t *testing.T) {
	cases := []struct {
		failOn string
		errno  syscall.Errno
		want   error
	}{
		{"write", syscall.ENOSPC, storage.ErrFull},
		{"write", syscall.EDQUOT, storage.ErrFull},
		{"sync", syscall.ENOSPC, storage.ErrFull},
		{"write", syscall.EROFS, storage.ErrDenied},
		{"chmod", syscall.EPERM, storage.ErrDenied},
		{"write", syscall.EACCES, storage.ErrDenied},
		{"sync", syscall.EIO, nil},
	}
	for _, c := range cases {
		t.Run(c.failOn+"-"+c.errno.Error(), func(t *testing.T) {
			s := newStore(t)
			s.newTemp = func(dir, pattern string) (tempFile, error) {
				f, err := os.CreateTemp(dir, pattern)
				if err != nil {
					return nil, err
				}
				return &faultyFile{File: f, failOn: c.failOn, err: c.errno}, nil
			}
			ctx := context.Background()
			_, err := s.Put(ctx, "k", strings.NewReader("evidence"), storage.PutOptions{Size: -1})
			check := func(op string, err error) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s succeeded, want an error", op)
				}
				if c.want != nil && !errors.Is(err, c.want) {
					t.Errorf("%s error = %v, want it to wrap %v", op, err, c.want)
				}
				for _, sentinel := range []error{storage.ErrFull, storage.ErrDenied} {
					if sentinel != c.want && errors.Is(err, sentinel) {
						t.Errorf("%s error = %v, wrongly wraps %v", op, err, sentinel)
					}
				}
				if !errors.Is(err, c.errno) {
					t.Errorf("%s error = %v, want it to keep the cause %v", op, err, c.errno)
				}
				if !strings.Contains(err.Error(), s.tmp) {
					t.Errorf("%s error %q does not name the path", op, err)
				}
			}
			check("Put", err)
			_, err = s.Stage(ctx, strings.NewReader("evidence"), -1)
			check("Stage", err)
			if _, err := s.Stat(ctx, "k"); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Stat after failed Put: %v, want ErrNotFound", err)
			}
			if got := tmpEntries(t, s); len(got) != 0 {
				t.Errorf("temporary area holds %q after failed writes, want nothing", got)
			}
		})
	}
}

// TestReadOnlyFolder checks real permission errors. Root ignores file modes,
// so it is skipped there; TestDiskErrors covers the mapping.
func TestReadOnlyFolder(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root, where folder permissions do not deny; TestDiskErrors covers EACCES")
	}
	s := newStore(t)
	if err := os.Chmod(s.tmp, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(s.tmp, 0o700) })
	_, err := s.Put(context.Background(), "k", strings.NewReader("v"), storage.PutOptions{Size: -1})
	if !errors.Is(err, storage.ErrDenied) || !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Put into a read-only store: error = %v, want ErrDenied", err)
	}
}

// TestCancelLeavesNoTemporaryFile checks that a canceled copy cleans up.
func TestCancelLeavesNoTemporaryFile(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	r := io.MultiReader(bytes.NewReader(make([]byte, 3<<20)), readerFunc(func(p []byte) (int, error) {
		cancel()
		return len(p), nil
	}))
	_, err := s.Put(ctx, "k", r, storage.PutOptions{Size: -1})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put error = %v, want context.Canceled", err)
	}
	if got := tmpEntries(t, s); len(got) != 0 {
		t.Errorf("temporary area holds %q after a canceled Put, want nothing", got)
	}
}

type readerFunc func(p []byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func TestDiscardedStageLeavesNothing(t *testing.T) {
	s := newStore(t)
	st, err := s.Stage(context.Background(), strings.NewReader("x"), 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := tmpEntries(t, s); len(got) != 1 {
		t.Fatalf("temporary area holds %q while staged, want one file", got)
	}
	if err := st.Discard(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := tmpEntries(t, s); len(got) != 0 {
		t.Errorf("temporary area holds %q after Discard, want nothing", got)
	}
}

// TestOpenKeepsLockFiles: a lock file is the lock for as long as the store
// lives; removing an old one while a Swap holds it would let a second
// writer lock a new file and swap at the same time.
func TestOpenKeepsLockFiles(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.Swap(ctx, "log/checkpoint", storage.NoVersion, []byte("c1"), storage.SwapOptions{}); err != nil {
		t.Fatal(err)
	}
	var locks []string
	for _, name := range tmpEntries(t, s) {
		if isLockFile(name) {
			locks = append(locks, name)
		} else {
			t.Errorf("Swap left %s in the temporary area", name)
		}
	}
	if len(locks) != 1 {
		t.Fatalf("lock files %q, want one", locks)
	}
	past := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(filepath.Join(s.tmp, locks[0]), past, past); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(s.Dir()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.tmp, locks[0])); err != nil {
		t.Fatalf("Open removed a lock file: %v", err)
	}
}

// TestSwapWaitsForLock: a Swap waits while another holds the key's lock,
// and gives up when its context ends.
func TestSwapWaitsForLock(t *testing.T) {
	s := newStore(t)
	unlock, err := s.lock(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.Swap(ctx, "k", storage.NoVersion, []byte("x"), storage.SwapOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Swap while locked: %v, want a deadline error", err)
	}
	unlock()
	if _, err := s.Swap(context.Background(), "k", storage.NoVersion, []byte("x"), storage.SwapOptions{}); err != nil {
		t.Fatalf("Swap after unlock: %v", err)
	}
}
