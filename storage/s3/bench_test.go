package s3

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/storage"
)

// benchSize is the content size of the benchmarks: EXHIBIT_BENCH_MIB
// (default 256) MiB.
func benchSize(b *testing.B) int64 {
	mib := int64(256)
	if v := os.Getenv("EXHIBIT_BENCH_MIB"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.Fatalf("EXHIBIT_BENCH_MIB=%q: %v", v, err)
		}
		mib = n
	}
	return mib << 20
}

// repeating yields n bytes by repeating a random 1 MiB block, so content of
// any size costs neither memory nor generation time.
type repeating struct {
	block []byte
	left  int64
	off   int
}

func newRepeating(n int64) *repeating {
	block := make([]byte, 1<<20)
	r := rand.NewChaCha8([32]byte{1})
	r.Read(block)
	return &repeating{block: block, left: n}
}

func (r *repeating) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && r.left > 0 {
		c := copy(p[n:min(len(p), n+int(r.left))], r.block[r.off:])
		n += c
		r.left -= int64(c)
		r.off = (r.off + c) % len(r.block)
	}
	return n, nil
}

// BenchmarkStageCommit stages and commits content the way ingest does, and
// reports the wall and CPU time of each phase. Knobs: EXHIBIT_BENCH_MIB
// (content size), EXHIBIT_BENCH_CONCURRENCY and EXHIBIT_BENCH_PART_MIB
// (Options), and EXHIBIT_BENCH_SERVER_PID (the MinIO server's process, to
// report its CPU time too).
func BenchmarkStageCommit(b *testing.B) {
	size := benchSize(b)
	s, _ := openTest(b, false, func(o *Options) {
		if v := os.Getenv("EXHIBIT_BENCH_CONCURRENCY"); v != "" {
			o.Concurrency, _ = strconv.Atoi(v)
		}
		if v := os.Getenv("EXHIBIT_BENCH_PART_MIB"); v != "" {
			n, _ := strconv.Atoi(v)
			o.PartSize = uint64(n) << 20
		}
	})
	ctx := b.Context()
	b.SetBytes(size)
	var stage, commit, stageCPU, commitCPU, stageServer, commitServer time.Duration
	i := 0
	for b.Loop() {
		i++
		tee := hashing.New().Tee(newRepeating(size))
		start, cpu0, srv0 := time.Now(), selfCPU(), serverCPU()
		st, err := s.Stage(ctx, tee, size)
		if err != nil {
			b.Fatal(err)
		}
		mid, cpu1, srv1 := time.Now(), selfCPU(), serverCPU()
		sum := tee.SHA256()
		if _, err := st.Commit(ctx, "bench/"+strconv.Itoa(i), storage.PutOptions{Size: size, SHA256: sum}); err != nil {
			b.Fatal(err)
		}
		stage += mid.Sub(start)
		commit += time.Since(mid)
		stageCPU += cpu1 - cpu0
		commitCPU += selfCPU() - cpu1
		stageServer += srv1 - srv0
		commitServer += serverCPU() - srv1
	}
	n := float64(b.N)
	b.ReportMetric(stage.Seconds()/n, "stage-s/op")
	b.ReportMetric(commit.Seconds()/n, "commit-s/op")
	b.ReportMetric(stageCPU.Seconds()/n, "stage-cpu-s/op")
	b.ReportMetric(commitCPU.Seconds()/n, "commit-cpu-s/op")
	if os.Getenv("EXHIBIT_BENCH_SERVER_PID") != "" {
		b.ReportMetric(stageServer.Seconds()/n, "stage-server-cpu-s/op")
		b.ReportMetric(commitServer.Seconds()/n, "commit-server-cpu-s/op")
	}
	b.ReportMetric(float64(s.readBacks.Load())/n, "readbacks/op")
}

// selfCPU is the CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverCPU is the CPU time used by the process EXHIBIT_BENCH_SERVER_PID
// (the MinIO server, when it runs on this machine), or 0.
func serverCPU() time.Duration {
	pid := os.Getenv("EXHIBIT_BENCH_SERVER_PID")
	if pid == "" {
		return 0
	}
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64) // fields 14 and 15 of stat(5)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}
