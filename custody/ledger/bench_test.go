package ledger

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/storage"
	"github.com/openexhibit/exhibit/storage/local"
)

// BenchmarkAppend appends batches of 100 and 1000 events, each under its
// own checkpoint, and reports events per second.
func BenchmarkAppend(b *testing.B) {
	for _, be := range backends {
		for _, size := range []int{1, 100, 1000} {
			b.Run(fmt.Sprintf("%s/batch=%d", be.name, size), func(b *testing.B) {
				s := be.open(b).Store
				l := newLog(b, s)
				batches := make([][]*custody.Event, 0, 64)
				for i := range 64 {
					batches = append(batches, events(0, i, size))
				}
				ctx := context.Background()
				b.ResetTimer()
				for i := range b.N {
					// Events repeat after 64 batches: the log takes them
					// as new events all the same.
					if _, err := l.Append(ctx, batches[i%len(batches)]); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

// BenchmarkPublish is the cost of publishing one checkpoint: signing it
// and swapping it in.
func BenchmarkPublish(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b).Store
			ctx := context.Background()
			v := storage.NoVersion
			b.ResetTimer()
			for i := range b.N {
				c := custody.Checkpoint{Origin: testOrigin, Size: int64(i + 1)}
				signed, err := custody.SignCheckpoint(c, testKey.signer)
				if err != nil {
					b.Fatal(err)
				}
				if v, err = s.Swap(ctx, CheckpointKey, v, signed, storage.SwapOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// millionEvents is the size of the log BenchmarkProve1M proves in.
const millionEvents = 1_000_000

var (
	bigLogOnce sync.Once
	bigLogDir  string // made by bigLog, removed by TestMain
	bigLogKept string // from $EXHIBIT_BENCH_LOG
	bigLogErr  error
)

// bigLogEnv names a folder to keep the log of a million events in between
// runs (it is built there when empty, and never removed).
const bigLogEnv = "EXHIBIT_BENCH_LOG"

// bigLog builds, once per test binary, a local archive holding a log of
// one million events, appended in batches of 125,000. TestMain removes it,
// unless it is kept in $EXHIBIT_BENCH_LOG.
func bigLog(b *testing.B) (string, custody.Checkpoint) {
	bigLogOnce.Do(func() {
		start := time.Now()
		var s *local.Store
		var err error
		if dir := os.Getenv(bigLogEnv); dir != "" {
			if s, err = local.Create(dir); err != nil {
				bigLogErr = err
				return
			}
			if c, _, err := newLog(b, s).Latest(context.Background()); err == nil && c.Size == millionEvents {
				bigLogKept = dir
				return
			}
			bigLogKept = dir
		} else {
			if bigLogDir, bigLogErr = os.MkdirTemp("", "exhibit-bench-log-"); bigLogErr != nil {
				return
			}
			if s, err = local.Open(bigLogDir); err != nil {
				bigLogErr = err
				return
			}
		}
		l := newLog(b, s)
		const batch = 125_000
		for i := 0; i < millionEvents/batch; i++ {
			if _, err := l.Append(context.Background(), events(0, i, batch)); err != nil {
				bigLogErr = err
				return
			}
		}
		b.Logf("built a log of %d events in %v", millionEvents, time.Since(start).Round(time.Millisecond))
	})
	if bigLogErr != nil {
		b.Fatal(bigLogErr)
	}
	dir := bigLogDir
	if bigLogKept != "" {
		dir = bigLogKept
	}
	s, err := local.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	c, _, err := newLog(b, s).Latest(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if c.Size != millionEvents {
		b.Fatalf("the log in %s has %d events, want %d", dir, c.Size, millionEvents)
	}
	return dir, c
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bigLogDir != "" {
		os.RemoveAll(bigLogDir)
	}
	os.Exit(code)
}

// counting counts the tiles a Store serves.
type counting struct {
	Store
	tiles atomic.Int64
	bytes atomic.Int64
}

func (c *counting) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := c.Store.Get(ctx, key)
	if err == nil && strings.HasPrefix(key, Prefix+"tile/") {
		c.tiles.Add(1)
		return &countingReader{rc, &c.bytes}, nil
	}
	return rc, err
}

type countingReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.n.Add(int64(n))
	return n, err
}

// BenchmarkProve1M proves one event in a log of a million: "inclusion"
// builds and checks an inclusion proof, "entry+inclusion" also reads the
// entry itself, checked against the checkpoint, as a verifier of one item
// does. Each operation uses a fresh Log (nothing cached) and a random
// event, and reports the tiles read and the proof's size.
func BenchmarkProve1M(b *testing.B) {
	dir, c := bigLog(b)
	for _, withEntry := range []bool{false, true} {
		name := "inclusion"
		if withEntry {
			name = "entry+inclusion"
		}
		b.Run(name, func(b *testing.B) {
			s, err := local.Open(dir)
			if err != nil {
				b.Fatal(err)
			}
			cs := &counting{Store: s}
			rng := rand.New(rand.NewPCG(1, 2))
			ctx := context.Background()
			proofBytes := 0
			b.ResetTimer()
			for range b.N {
				l := newLog(b, cs)
				i := rng.Int64N(c.Size)
				p, err := l.ProveInclusion(ctx, c, i)
				if err != nil {
					b.Fatal(err)
				}
				proofBytes = len(p) * 32
				if withEntry {
					es, err := l.Entries(ctx, c, i, 1)
					if err != nil {
						b.Fatal(err)
					}
					if err := CheckInclusion(c, i, es[0], p); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(proofBytes), "proof-bytes")
			b.ReportMetric(float64(cs.tiles.Load())/float64(b.N), "tiles/op")
			b.ReportMetric(float64(cs.bytes.Load())/float64(b.N), "tile-bytes/op")
		})
	}
}

// BenchmarkAudit1M audits the whole log of a million events: every entry
// read, parsed and hashed, every hash tile recomputed and compared.
func BenchmarkAudit1M(b *testing.B) {
	dir, c := bigLog(b)
	s, err := local.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		rep, err := newLog(b, s).Audit(context.Background(), nil)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Entries != c.Size {
			b.Fatalf("audited %d entries, want %d", rep.Entries, c.Size)
		}
	}
	b.ReportMetric(float64(c.Size)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
