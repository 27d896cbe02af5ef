package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/openexhibit/exhibit/storage"
)

var _ storage.Swapper = (*Store)(nil)

// Lock files are named swap-<hex>.lock in the temporary area, <hex> being
// the first 16 bytes of the SHA-256 of the key: one per mutable key.
const (
	lockPrefix = "swap-"
	lockSuffix = ".lock"
)

func isLockFile(name string) bool {
	return strings.HasPrefix(name, lockPrefix) && strings.HasSuffix(name, lockSuffix)
}

// versionOf is the version of content: the hex SHA-256 of its bytes.
func versionOf(data []byte) storage.Version {
	sum := sha256.Sum256(data)
	return storage.Version(hex.EncodeToString(sum[:]))
}

// Load reads the mutable object at key with its version. It takes no lock:
// Swap replaces the file by renaming a complete one over it.
func (s *Store) Load(ctx context.Context, key string, limit int64) ([]byte, storage.Version, error) {
	path, err := s.checkKey("load", key)
	if err != nil {
		return nil, "", err
	}
	if err := ctx.Err(); err != nil {
		return nil, "", fmt.Errorf("storage/local: load %s: %w", key, err)
	}
	data, err := readRegular(path, limit)
	if err != nil {
		return nil, "", fmt.Errorf("storage/local: load %s: %w", key, err)
	}
	return data, versionOf(data), nil
}

// readRegular reads the regular file at path, at most limit bytes. A
// missing path, or one that is not a regular file, is storage.ErrNotFound.
func readRegular(path string, limit int64) ([]byte, error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, mapOSError(err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: over %d bytes", storage.ErrTooLarge, limit)
	}
	return data, nil
}

// openRegular opens the regular file at path for reading. A missing path,
// or one that is not a regular file (a symbolic link, which could lead out
// of the store, a folder, a FIFO), is storage.ErrNotFound. The file is
// checked once open, so nothing can replace it between check and open.
func openRegular(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%w: %w", storage.ErrNotFound, err) // a symbolic link
	}
	if err != nil {
		return nil, mapLookupError(err)
	}
	fi, err := f.Stat()
	switch {
	case err != nil:
		err = mapOSError(err)
	case !fi.Mode().IsRegular():
		err = storage.ErrNotFound
	default:
		err = checkNotLink(path, fi)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Swap replaces the mutable object at key with data if it is still at
// version old. See storage.Swapper for the contract and the package
// documentation for how the folder keeps it.
func (s *Store) Swap(ctx context.Context, key string, old storage.Version, data []byte, _ storage.SwapOptions) (storage.Version, error) {
	path, err := s.checkKey("swap", key)
	if err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("storage/local: swap %s: %w", key, err)
	}
	unlock, err := s.lock(ctx, key)
	if err != nil {
		return "", fmt.Errorf("storage/local: swap %s: %w", key, err)
	}
	defer unlock()

	cur, err := readRegular(path, int64(len(data))+maxSwapSlack(len(data)))
	switch {
	case err == nil:
		if old == storage.NoVersion || versionOf(cur) != old {
			return "", fmt.Errorf("storage/local: swap %s: %w", key, storage.ErrConflict)
		}
	case errors.Is(err, storage.ErrNotFound):
		if fi, statErr := os.Lstat(path); statErr == nil && fi.IsDir() {
			return "", fmt.Errorf("storage/local: swap %s: %w", key, errFolder(path))
		}
		if old != storage.NoVersion {
			return "", fmt.Errorf("storage/local: swap %s: %w: the object does not exist", key, storage.ErrConflict)
		}
	case errors.Is(err, storage.ErrTooLarge):
		// Longer than anything whose version could be old: another content.
		return "", fmt.Errorf("storage/local: swap %s: %w", key, storage.ErrConflict)
	default:
		return "", fmt.Errorf("storage/local: swap %s: %w", key, err)
	}

	t, err := s.writeTemp(ctx, bytes.NewReader(data), int64(len(data)), false)
	if err != nil {
		return "", fmt.Errorf("storage/local: swap %s: %w", key, err)
	}
	tmp := t.path
	defer os.Remove(tmp) // after a successful rename, there is nothing left to remove
	if s.group != nil {
		// The new content, and what it may point to (the custody log's
		// tiles), must be durable before it replaces the old.
		if err := s.group.wait(ctx, t.need); err != nil {
			return "", fmt.Errorf("storage/local: swap %s: %w", key, err)
		}
	}
	parent := filepath.Dir(path)
	if err := s.mkdirs(key, parent); err != nil {
		return "", fmt.Errorf("storage/local: swap %s: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("storage/local: swap %s: %w", key, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("storage/local: swap %s: %w", key, mapOSError(err))
	}
	// Past the rename the swap has happened for readers; the folder's fsync
	// makes it survive a crash. If it fails, say so: the caller must not
	// count on the new content.
	if s.group != nil {
		err = s.group.wait(ctx, s.group.mark()) // also covers folders mkdirs made
	} else {
		err = syncDir(parent)
	}
	if err != nil {
		return "", fmt.Errorf("storage/local: swap %s: renamed into place, but the folder could not be synced: %w", key, err)
	}
	return versionOf(data), nil
}

// maxSwapSlack bounds how much of the current content Swap reads to compare
// it: versions are content hashes, so reading the whole object is needed,
// and mutable objects are small. The bound keeps a huge file planted at the
// key from being read into memory.
func maxSwapSlack(n int) int64 { return max(int64(n), 1<<20) }

// lock takes the exclusive lock of key's lock file, polling so that ctx can
// end the wait, and returns the function that releases it.
func (s *Store) lock(ctx context.Context, key string) (func(), error) {
	sum := sha256.Sum256([]byte(key))
	name := filepath.Join(s.tmp, lockPrefix+hex.EncodeToString(sum[:16])+lockSuffix)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		if mkErr := os.Mkdir(s.tmp, 0o700); mkErr == nil || errors.Is(mkErr, fs.ErrExist) {
			f, err = os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", mapOSError(err))
	}
	wait := 100 * time.Microsecond
	for {
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", name, mapOSError(err))
		}
		if ok {
			return func() {
				_ = unlockFile(f)
				f.Close()
			}, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 20*time.Millisecond)
	}
}
