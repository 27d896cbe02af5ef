// Command exhibit-bench measures ingest of large files against the baselines
// the project's performance targets name, in one run on one machine:
//
//   - into a local archive, versus cp of the same file;
//   - into MinIO, versus a raw minio-go PutObject of the same bytes.
//
// Every contender runs as its own process, so wall time and peak resident
// memory (getrusage maxrss) compare like with like. Results are printed as
// a Markdown table. It is run by `make bench` (scripts/bench.sh), which
// starts MinIO and exports EXHIBIT_TEST_MINIO_*.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "put" {
		// Baseline contender: a plain PutObject, as a separate process.
		if err := rawPut(os.Args[2], os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, "exhibit-bench put:", err)
			os.Exit(1)
		}
		return
	}
	exhibit := flag.String("exhibit", "./exhibit", "exhibit binary")
	sizes := flag.String("sizes", "64,1024", "file sizes in MiB")
	runs := flag.Int("runs", 3, "runs per contender (the median is reported)")
	work := flag.String("work", "", "scratch folder (default: a temporary folder)")
	flag.Parse()
	if err := run(*exhibit, *sizes, *runs, *work); err != nil {
		fmt.Fprintln(os.Stderr, "exhibit-bench:", err)
		os.Exit(1)
	}
}

type result struct {
	wall   time.Duration
	maxRSS int64 // bytes
}

// measure runs a command and returns its wall time and peak RSS.
func measure(env []string, name string, args ...string) (result, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	// Output is kept small: a child's peak RSS (Linux ru_maxrss) starts
	// from this process's peak at the time of the fork.
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return result{}, fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return result{wall: wall, maxRSS: ru.Maxrss * 1024}, nil
}

// limitedBuffer keeps the first 64 KiB written to it.
type limitedBuffer struct{ strings.Builder }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := 64<<10 - b.Len(); room > 0 {
		b.Builder.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func median(rs []result) result {
	sort.Slice(rs, func(i, j int) bool { return rs[i].wall < rs[j].wall })
	m := rs[len(rs)/2]
	for _, r := range rs {
		m.maxRSS = max(m.maxRSS, r.maxRSS)
	}
	return m
}

func makeFile(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.NewChaCha8([32]byte{byte(size), byte(size >> 8), byte(size >> 16), 42})
	buf := make([]byte, 1<<20)
	for left := size; left > 0; left -= int64(len(buf)) {
		r.Read(buf)
		n := min(int64(len(buf)), left)
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func run(exhibit, sizes string, runs int, work string) error {
	if work == "" {
		d, err := os.MkdirTemp("", "exhibit-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		work = d
	}
	exhibit, _ = filepath.Abs(exhibit)
	self, _ := os.Executable()
	endpoint := os.Getenv("EXHIBIT_TEST_MINIO_ENDPOINT")
	access, secret := os.Getenv("EXHIBIT_TEST_MINIO_ACCESS_KEY"), os.Getenv("EXHIBIT_TEST_MINIO_SECRET_KEY")
	if endpoint == "" {
		return fmt.Errorf("EXHIBIT_TEST_MINIO_* not set: run through make bench")
	}
	fmt.Printf("| file | contender | time (median of %d) | throughput | peak RSS | vs baseline |\n|---|---|---|---|---|---|\n", runs)
	for _, s := range strings.Split(sizes, ",") {
		var mib int64
		fmt.Sscan(s, &mib)
		size := mib << 20
		src := filepath.Join(work, fmt.Sprintf("input-%dMiB.bin", mib))
		if err := makeFile(src, size); err != nil {
			return err
		}
		row := func(label string, r result, base *result) {
			mbps := float64(size) / r.wall.Seconds() / 1e6
			vs := "baseline"
			if base != nil {
				vs = fmt.Sprintf("%.0f%%", 100*base.wall.Seconds()/r.wall.Seconds())
			}
			fmt.Printf("| %d MiB | %s | %.2f s | %.0f MB/s | %.0f MiB | %s |\n", mib, label, r.wall.Seconds(), mbps, float64(r.maxRSS)/(1<<20), vs)
		}
		// Warm the page cache so that every contender reads from memory.
		if _, err := measure(nil, "sh", "-c", fmt.Sprintf("cat %q >/dev/null", src)); err != nil {
			return err
		}

		// Local: cp versus exhibit ingest into a fresh archive each run.
		var cps, locals []result
		for i := 0; i < runs; i++ {
			dst := filepath.Join(work, fmt.Sprintf("cp-%d", i))
			r, err := measure(nil, "sh", "-c", fmt.Sprintf("cp %q %q && sync -f %q", src, dst, dst))
			if err != nil {
				return err
			}
			cps = append(cps, r)
			os.Remove(dst)

			home := filepath.Join(work, fmt.Sprintf("home-local-%d-%d", mib, i))
			arch := filepath.Join(work, fmt.Sprintf("archive-%d-%d", mib, i))
			env := []string{"EXHIBIT_HOME=" + home, "EXHIBIT_PASSWORD=bench"}
			if _, err := measure(env, exhibit, "init", "--archive", arch); err != nil {
				return err
			}
			r, err = measure(env, exhibit, "ingest", src)
			if err != nil {
				return err
			}
			locals = append(locals, r)
			os.RemoveAll(arch)
		}
		cp, loc := median(cps), median(locals)
		row("cp + sync (baseline)", cp, nil)
		row("exhibit ingest, local archive", loc, &cp)

		// MinIO: raw PutObject versus exhibit ingest, each into a fresh bucket.
		var puts, s3s []result
		for i := 0; i < runs; i++ {
			bucket := fmt.Sprintf("bench-put-%d-%d-%d", mib, i, time.Now().UnixNano()%1e9)
			env := []string{"BENCH_BUCKET=" + bucket}
			r, err := measure(env, self, "put", endpoint, src)
			if err != nil {
				return err
			}
			puts = append(puts, r)

			home := filepath.Join(work, fmt.Sprintf("home-s3-%d-%d", mib, i))
			env = []string{"EXHIBIT_HOME=" + home, "EXHIBIT_PASSWORD=bench", "EXHIBIT_S3_ENDPOINT=" + endpoint,
				"EXHIBIT_S3_ACCESS_KEY=" + access, "EXHIBIT_S3_SECRET_KEY=" + secret, "EXHIBIT_S3_INSECURE_HTTP=true"}
			bucket = fmt.Sprintf("bench-exhibit-%d-%d-%d", mib, i, time.Now().UnixNano()%1e9)
			if _, err := measure(env, exhibit, "init", "--archive", "s3://"+bucket); err != nil {
				return err
			}
			r, err = measure(env, exhibit, "ingest", src)
			if err != nil {
				return err
			}
			s3s = append(s3s, r)
		}
		put, s3r := median(puts), median(s3s)
		row("minio-go PutObject (baseline)", put, nil)
		row("exhibit ingest, MinIO archive", s3r, &put)
		os.Remove(src)
	}
	return nil
}

// rawPut uploads a file with minio-go's defaults, into a new bucket.
func rawPut(endpoint, path string) error {
	ctx := context.Background()
	c, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(
		os.Getenv("EXHIBIT_TEST_MINIO_ACCESS_KEY"), os.Getenv("EXHIBIT_TEST_MINIO_SECRET_KEY"), "")})
	if err != nil {
		return err
	}
	bucket := os.Getenv("BENCH_BUCKET")
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	_, err = c.PutObject(ctx, bucket, "object", f, fi.Size(), minio.PutObjectOptions{})
	return err
}
