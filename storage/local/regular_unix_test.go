//go:build unix

package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/openexhibit/exhibit/storage"
)

// TestReadOnlyRegularFiles: Get and Load open only regular files in the
// store; anything else at a key is storage.ErrNotFound, and a FIFO does not
// make them wait for a writer.
func TestReadOnlyRegularFiles(t *testing.T) {
	s := newStore(t)
	put(t, s, "obj", "content")
	put(t, s, "d/e", "file")
	if err := os.Symlink(filepath.Join(s.Dir(), "obj"), filepath.Join(s.Dir(), "link")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(s.Dir(), "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	readers := map[string]func(ctx context.Context, key string) error{
		"Get": func(ctx context.Context, key string) error {
			rc, err := s.Get(ctx, key)
			if err == nil {
				rc.Close()
			}
			return err
		},
		"Load": func(ctx context.Context, key string) error {
			_, _, err := s.Load(ctx, key, 1<<10)
			return err
		},
	}
	for name, read := range readers {
		for _, key := range []string{"link", "d", "fifo", "missing", "obj/x"} {
			t.Run(name+"/"+key, func(t *testing.T) {
				done := make(chan error, 1)
				go func() { done <- read(context.Background(), key) }()
				select {
				case err := <-done:
					if !errors.Is(err, storage.ErrNotFound) {
						t.Errorf("%s(%q) error = %v, want ErrNotFound", name, key, err)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("%s(%q) still waiting after 5 s", name, key)
				}
			})
		}
		if err := read(context.Background(), "obj"); err != nil {
			t.Errorf("%s(obj): %v", name, err)
		}
	}
}
