package ledger

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/openexhibit/exhibit/internal/testenv"
	"github.com/openexhibit/exhibit/storage"
	"github.com/openexhibit/exhibit/storage/local"
	"github.com/openexhibit/exhibit/storage/s3"
)

// backend is a store and a way around it, to tamper with the archive as
// someone with write access to the folder or bucket could.
type backend struct {
	Store
	// reopen opens another Store on the same archive (another process).
	reopen func(t testing.TB) Store
	// overwrite replaces the object at key; remove deletes it.
	overwrite func(t testing.TB, key string, data []byte)
	remove    func(t testing.TB, key string)
	// dir is the archive's folder, for the local backend only.
	dir string
}

var backends = []struct {
	name string
	open func(t testing.TB) *backend
}{
	{"local", localBackend},
	{"minio", minioBackend},
}

func localBackend(t testing.TB) *backend {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "archive")
	open := func(t testing.TB) Store {
		s, err := local.Create(dir)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return &backend{
		Store:  open(t),
		reopen: open,
		dir:    dir,
		overwrite: func(t testing.TB, key string, data []byte) {
			p := filepath.Join(dir, filepath.FromSlash(key))
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o444); err != nil {
				t.Fatal(err)
			}
		},
		remove: func(t testing.TB, key string) {
			if err := os.Remove(filepath.Join(dir, filepath.FromSlash(key))); err != nil {
				t.Fatal(err)
			}
		},
	}
}

func minioBackend(t testing.TB) *backend {
	t.Helper()
	env := testenv.MinIO(t)
	bucket := testenv.NewBucket(t, env, false)
	const prefix = "archive"
	open := func(t testing.TB) Store {
		s, err := s3.Open(testCtx(t), s3.Options{
			Endpoint: env.Endpoint, AccessKey: env.AccessKey, SecretKey: env.SecretKey,
			Bucket: bucket, Prefix: prefix,
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	c := testenv.Client(t, env)
	return &backend{
		Store:  open(t),
		reopen: open,
		overwrite: func(t testing.TB, key string, data []byte) {
			_, err := c.PutObject(context.Background(), bucket, prefix+"/"+key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
		},
		remove: func(t testing.TB, key string) {
			if err := c.RemoveObject(context.Background(), bucket, prefix+"/"+key, minio.RemoveObjectOptions{}); err != nil {
				t.Fatal(err)
			}
		},
	}
}

func read(t testing.TB, s Store, key string) []byte {
	t.Helper()
	data, err := storage.ReadAll(testCtx(t), s, key, maxBatchBytes)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
