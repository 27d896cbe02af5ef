package local

import (
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/storage"
)

// BenchmarkStageCommit stages and commits a file the way ingest does:
// EXHIBIT_BENCH_MIB (default 256) MiB, read from the page cache.
func BenchmarkStageCommit(b *testing.B) {
	size := int64(256) << 20
	if v := os.Getenv("EXHIBIT_BENCH_MIB"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		size = n << 20
	}
	src := filepath.Join(b.TempDir(), "input")
	f, err := os.Create(src)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(f, io.LimitReader(rand.NewChaCha8([32]byte{1}), size)); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	s, err := Create(filepath.Join(b.TempDir(), "store"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	b.SetBytes(size)
	var stage, commit time.Duration
	i := 0
	for b.Loop() {
		i++
		in, err := os.Open(src)
		if err != nil {
			b.Fatal(err)
		}
		tee := hashing.New().Tee(in)
		start := time.Now()
		st, err := s.Stage(ctx, tee, size)
		if err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if _, err := st.Commit(ctx, "bench/"+strconv.Itoa(i), storage.PutOptions{Size: size, SHA256: tee.SHA256()}); err != nil {
			b.Fatal(err)
		}
		stage += mid.Sub(start)
		commit += time.Since(mid)
		in.Close()
		os.Remove(filepath.Join(s.Dir(), "bench", strconv.Itoa(i)))
	}
	b.ReportMetric(stage.Seconds()/float64(b.N), "stage-s/op")
	b.ReportMetric(commit.Seconds()/float64(b.N), "commit-s/op")
}
