// Command exhibit-bench measures ingest of large files against the baselines
// the project's performance targets name, in one run on one machine:
//
//   - into a local archive, versus cp of the same file (and versus the
//     limit the two digests in one pass set: `exhibit-bench digest`);
//   - into MinIO, versus a raw minio-go PutObject of the same bytes: once
//     with everything on the shared cores, and once (-pin, on a machine
//     with two cores or more) with the MinIO server pinned to the first
//     core and every contender to the others (taskset), which models a
//     server on its own machine.
//
// Every contender runs as its own process, so wall time, CPU time and peak
// resident memory (getrusage) compare like with like; baseline and exhibit
// take turns, so that a busy machine slows both alike, and each S3 run's
// bucket is removed after it. With -server-pid, the CPU time the MinIO
// server spent during each run is shown too: where client and server share
// the cores, CPU time is what sets the pace. Rows for a 1-byte file show
// the fixed cost of one exhibit process (start, key decryption, signing,
// records), which the last column takes off; one row shows the key
// decryption alone (scrypt). Results are printed as a Markdown table. It is
// run by `make bench` (scripts/bench.sh), which starts MinIO and exports
// EXHIBIT_TEST_MINIO_*.
//
// Its subcommands measure many small photos (`make bench-photos`,
// scripts/bench-photos.sh):
//
//	exhibit-bench photos -n N            make the corpus .bench/photos-N (corpus.go)
//	exhibit-bench extract [-jobs N] DIR  photo.Extract over DIR, as a contender
//	exhibit-bench photo-bench ...        extraction versus exiftool, ingest
//	                                     versus a per-file exiftool + sha256sum
//	                                     + cosign loop (photos.go)
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/sign"
)

func main() {
	if len(os.Args) > 1 {
		// The photo benchmark's subcommands (make bench-photos).
		cmds := map[string]func([]string) error{"photos": cmdCorpus, "extract": cmdExtract, "photo-bench": cmdPhotoBench}
		if fn, ok := cmds[os.Args[1]]; ok {
			if err := fn(os.Args[2:]); err != nil {
				fmt.Fprintf(os.Stderr, "exhibit-bench %s: %v\n", os.Args[1], err)
				os.Exit(1)
			}
			return
		}
	}
	if len(os.Args) > 1 && os.Args[1] == "put" {
		// Baseline contender: a plain PutObject, as a separate process.
		if err := rawPut(os.Args[2], os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, "exhibit-bench put:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "digest" {
		// The limit of a local ingest: SHA-256 and SHA-512 of the file in
		// one pass, as ingest computes them.
		if err := digest(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "exhibit-bench digest:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "unlock" {
		// Key decryption alone, in a process of its own so that its memory
		// does not count against the contenders started after it.
		if err := unlock(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "exhibit-bench unlock:", err)
			os.Exit(1)
		}
		return
	}
	exhibit := flag.String("exhibit", "./exhibit", "exhibit binary")
	sizes := flag.String("sizes", "64,1024", "file sizes in MiB")
	runs := flag.Int("runs", 3, "runs per contender (the median is reported)")
	work := flag.String("work", "", "scratch folder (default: a temporary folder)")
	flag.IntVar(&serverPID, "server-pid", 0, "process ID of the MinIO server, to report its CPU time (Linux)")
	pin := flag.Bool("pin", true, "also run the MinIO contenders with the server and the client on separate cores (needs -server-pid, taskset and 2 cores)")
	flag.Parse()
	if err := run(*exhibit, *sizes, *runs, *work, *pin); err != nil {
		fmt.Fprintln(os.Stderr, "exhibit-bench:", err)
		os.Exit(1)
	}
}

// serverPID is the MinIO server's process, or 0.
var serverPID int

type result struct {
	wall      time.Duration
	maxRSS    int64         // bytes
	cpu       time.Duration // user + system, of the contender's process
	serverCPU time.Duration // of the server during the run, when known
}

// measure runs a command and returns its wall time, CPU time and peak RSS,
// and the server's CPU time meanwhile.
func measure(env []string, name string, args ...string) (result, error) {
	// Output is kept small: a child's peak RSS (Linux ru_maxrss) starts
	// from this process's peak at the time of the fork.
	var out limitedBuffer
	return measureTo(&out, env, name, args...)
}

// measureTo is measure with the command's output going to out, which
// error messages quote.
func measureTo(out output, env []string, name string, args ...string) (result, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	srv := serverTime()
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return result{}, fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return result{
		wall:      wall,
		maxRSS:    ru.Maxrss * 1024,
		cpu:       time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		serverCPU: serverTime() - srv,
	}, nil
}

// serverTime returns the CPU time the server process has used, from
// /proc/PID/stat (fields 14 and 15, in clock ticks of 1/100 s), or 0.
func serverTime() time.Duration {
	if serverPID == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", serverPID))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100
}

// output collects a command's output for error messages.
type output interface {
	io.Writer
	String() string
}

// limitedBuffer keeps the first 64 KiB written to it.
type limitedBuffer struct{ strings.Builder }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := 64<<10 - b.Len(); room > 0 {
		b.Builder.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// median returns the run of median wall time, with the highest peak RSS
// of all runs.
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

// pinning runs the server on the first core and returns the command
// prefix that runs a contender on the others, and what undoes the server's
// pinning; ok is false when the machine or the options cannot pin.
func pinning() (prefix []string, undo func(), ok bool) {
	n := runtime.NumCPU()
	if serverPID == 0 || n < 2 {
		return nil, nil, false
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return nil, nil, false
	}
	set := func(cpus string) error {
		return exec.Command("taskset", "-a", "-pc", cpus, strconv.Itoa(serverPID)).Run()
	}
	if err := set("0"); err != nil {
		return nil, nil, false
	}
	return []string{"taskset", "-c", fmt.Sprintf("1-%d", n-1)}, func() { set(fmt.Sprintf("0-%d", n-1)) }, true
}

// digest computes the file's SHA-256 and SHA-512 in one pass.
func digest(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = hashing.Reader(f)
	return err
}

func run(exhibit, sizes string, runs int, work string, pin bool) error {
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
	client, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(access, secret, "")})
	if err != nil {
		return err
	}
	s3env := func(home string) []string {
		return []string{"EXHIBIT_HOME=" + home, "EXHIBIT_PASSWORD=bench", "EXHIBIT_S3_ENDPOINT=" + endpoint,
			"EXHIBIT_S3_ACCESS_KEY=" + access, "EXHIBIT_S3_SECRET_KEY=" + secret, "EXHIBIT_S3_INSECURE_HTTP=true"}
	}
	localEnv := func(home string) []string { return []string{"EXHIBIT_HOME=" + home, "EXHIBIT_PASSWORD=bench"} }
	n := 0
	newName := func(what string) string {
		n++
		return fmt.Sprintf("bench-%s-%d-%d", what, n, time.Now().UnixNano()%1e9)
	}

	// ingestLocal and ingestS3 run exhibit ingest of src into a fresh archive.
	ingestLocal := func(src string) (result, error) {
		home, arch := filepath.Join(work, newName("home")), filepath.Join(work, newName("archive"))
		defer os.RemoveAll(home)
		defer os.RemoveAll(arch)
		if _, err := measure(localEnv(home), exhibit, "init", "--archive", arch); err != nil {
			return result{}, err
		}
		return measure(localEnv(home), exhibit, "ingest", src)
	}
	// prefix runs the MinIO contenders (taskset, when pinned).
	var prefix []string
	pinned := func(name string, args ...string) (string, []string) {
		if len(prefix) == 0 {
			return name, args
		}
		return prefix[0], append(append(prefix[1:len(prefix):len(prefix)], name), args...)
	}
	ingestS3 := func(src string) (result, error) {
		home, bucket := filepath.Join(work, newName("home")), newName("exhibit")
		defer os.RemoveAll(home)
		defer removeBucket(client, bucket)
		if _, err := measure(s3env(home), exhibit, "init", "--archive", "s3://"+bucket); err != nil {
			return result{}, err
		}
		name, args := pinned(exhibit, "ingest", src)
		return measure(s3env(home), name, args...)
	}
	putS3 := func(src string) (result, error) {
		bucket := newName("put")
		defer removeBucket(client, bucket)
		name, args := pinned(self, "put", endpoint, src)
		return measure([]string{"BENCH_BUCKET=" + bucket}, name, args...)
	}
	repeat := func(fn func() (result, error)) (result, error) {
		var rs []result
		for range runs {
			r, err := fn()
			if err != nil {
				return result{}, err
			}
			rs = append(rs, r)
		}
		return median(rs), nil
	}
	// pair runs a baseline and a contender in turns, so that whatever else
	// the machine does weighs on both alike.
	pair := func(base, contender func() (result, error)) (result, result, error) {
		var bs, cs []result
		for range runs {
			b, err := base()
			if err != nil {
				return result{}, result{}, err
			}
			c, err := contender()
			if err != nil {
				return result{}, result{}, err
			}
			bs, cs = append(bs, b), append(cs, c)
		}
		return median(bs), median(cs), nil
	}

	fmt.Printf("| file | contender | time (median of %d) | throughput | peak RSS | CPU | server CPU | CPU per GiB (client + server) | vs baseline | vs baseline, less fixed cost |\n|---|---|---|---|---|---|---|---|---|---|\n", runs)
	row := func(size int64, label string, r result, base *result, fixed time.Duration) {
		file := fmt.Sprintf("%d MiB", size>>20)
		mbps, perGiB := "-", "-"
		if size < 1<<20 {
			file = fmt.Sprintf("%d B", size)
		} else {
			mbps = fmt.Sprintf("%.0f MB/s", float64(size)/r.wall.Seconds()/1e6)
			gib := float64(size) / (1 << 30)
			perGiB = fmt.Sprintf("%.2f s", r.cpu.Seconds()/gib)
			if serverPID != 0 {
				perGiB += fmt.Sprintf(" + %.2f s", r.serverCPU.Seconds()/gib)
			}
		}
		srv, vs, vsLess := "-", "baseline", "-"
		if serverPID != 0 {
			srv = fmt.Sprintf("%.2f s", r.serverCPU.Seconds())
		}
		switch {
		case base != nil:
			vs = fmt.Sprintf("%.0f%%", 100*base.wall.Seconds()/r.wall.Seconds())
			if fixed > 0 && r.wall > fixed {
				vsLess = fmt.Sprintf("%.0f%%", 100*base.wall.Seconds()/(r.wall-fixed).Seconds())
			}
		case size < 1<<20:
			vs = "fixed cost"
		}
		fmt.Printf("| %s | %s | %.2f s | %s | %.0f MiB | %.2f s | %s | %s | %s | %s |\n",
			file, label, r.wall.Seconds(), mbps, float64(r.maxRSS)/(1<<20), r.cpu.Seconds(), srv, perGiB, vs, vsLess)
	}

	// The fixed cost of one exhibit process, whatever the file's size, and
	// the key decryption it includes.
	tiny := filepath.Join(work, "input-1B.bin")
	if err := os.WriteFile(tiny, []byte{42}, 0o600); err != nil {
		return err
	}
	fixedLocal, err := repeat(func() (result, error) { return ingestLocal(tiny) })
	if err != nil {
		return err
	}
	fixedS3, err := repeat(func() (result, error) { return ingestS3(tiny) })
	if err != nil {
		return err
	}
	var fixedPinned result
	if pin {
		var undo func()
		if prefix, undo, pin = pinning(); pin {
			fixedPinned, err = repeat(func() (result, error) { return ingestS3(tiny) })
			undo()
			prefix = nil
			if err != nil {
				return err
			}
		}
	}
	unlocked, err := keyDecryption(exhibit, self, filepath.Join(work, newName("home")), runs)
	if err != nil {
		return err
	}
	row(1, "exhibit ingest, local archive", fixedLocal, nil, 0)
	row(1, "exhibit ingest, MinIO archive", fixedS3, nil, 0)
	if pin {
		row(1, "exhibit ingest, MinIO archive, pinned", fixedPinned, nil, 0)
	}
	fmt.Printf("| - | key decryption (scrypt), part of the above | %.2f s | - | %.0f MiB | %.2f s | - | - | - | - |\n",
		unlocked.wall.Seconds(), float64(unlocked.maxRSS)/(1<<20), unlocked.cpu.Seconds())

	for _, s := range strings.Split(sizes, ",") {
		var mib int64
		fmt.Sscan(s, &mib)
		size := mib << 20
		src := filepath.Join(work, fmt.Sprintf("input-%dMiB.bin", mib))
		if err := makeFile(src, size); err != nil {
			return err
		}
		// Warm the page cache so that every contender reads from memory.
		if _, err := measure(nil, "sh", "-c", fmt.Sprintf("cat %q >/dev/null", src)); err != nil {
			return err
		}

		// Local: cp versus exhibit ingest into a fresh archive each run.
		cp, loc, err := pair(func() (result, error) {
			dst := filepath.Join(work, "cp-copy")
			defer os.Remove(dst)
			return measure(nil, "sh", "-c", fmt.Sprintf("cp %q %q && sync -f %q", src, dst, dst))
		}, func() (result, error) { return ingestLocal(src) })
		if err != nil {
			return err
		}
		limit, err := repeat(func() (result, error) { return measure(nil, self, "digest", src) })
		if err != nil {
			return err
		}
		row(size, "cp + sync (baseline)", cp, nil, 0)
		row(size, "SHA-256 + SHA-512, one pass (the limit)", limit, &cp, 0)
		row(size, "exhibit ingest, local archive", loc, &cp, fixedLocal.wall)
		fmt.Printf("| %d MiB | ingest against the limit | - | - | - | - | - | - | %.0f%% | %.0f%% |\n", mib,
			100*limit.wall.Seconds()/loc.wall.Seconds(), 100*limit.wall.Seconds()/max(loc.wall-fixedLocal.wall, 1).Seconds())

		// MinIO: raw PutObject versus exhibit ingest, each into a fresh
		// bucket; shared cores, then pinned.
		put, s3r, err := pair(func() (result, error) { return putS3(src) }, func() (result, error) { return ingestS3(src) })
		if err != nil {
			return err
		}
		row(size, "minio-go PutObject (baseline)", put, nil, 0)
		row(size, "exhibit ingest, MinIO archive", s3r, &put, fixedS3.wall)
		if pin {
			p, undo, _ := pinning()
			prefix = p
			put, s3r, err := pair(func() (result, error) { return putS3(src) }, func() (result, error) { return ingestS3(src) })
			undo()
			prefix = nil
			if err != nil {
				return err
			}
			row(size, "minio-go PutObject, pinned (baseline)", put, nil, 0)
			row(size, "exhibit ingest, MinIO archive, pinned", s3r, &put, fixedPinned.wall)
		}
		os.Remove(src)
	}
	return nil
}

// keyDecryption makes a key as exhibit init does and measures decrypting
// it in a process of its own (exhibit-bench unlock), the median of runs.
// Its wall time counts the decryption only, not the process start.
func keyDecryption(exhibit, self, home string, runs int) (result, error) {
	defer os.RemoveAll(home)
	env := []string{"EXHIBIT_HOME=" + home, "EXHIBIT_PASSWORD=bench"}
	if _, err := measure(env, exhibit, "init", "--archive", filepath.Join(home, "archive")); err != nil {
		return result{}, err
	}
	var rs []result
	for range runs {
		cmd := exec.Command(self, "unlock", filepath.Join(home, "cosign.key"))
		out, err := cmd.Output()
		if err != nil {
			return result{}, fmt.Errorf("unlock: %v", err)
		}
		d, err := time.ParseDuration(strings.TrimSpace(string(out)))
		if err != nil {
			return result{}, fmt.Errorf("unlock: %q: %v", out, err)
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		rs = append(rs, result{wall: d, maxRSS: ru.Maxrss * 1024, cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())})
	}
	return median(rs), nil
}

// unlock decrypts the key file with the passphrase "bench" and prints how
// long it took.
func unlock(path string) error {
	pass := func(bool) ([]byte, error) { return []byte("bench"), nil }
	start := time.Now()
	if _, err := sign.LoadSigner(context.Background(), path, pass); err != nil {
		return err
	}
	fmt.Println(time.Since(start))
	return nil
}

// removeBucket deletes a bucket and everything in it, so that runs do not
// fill the server's disk.
func removeBucket(c *minio.Client, bucket string) {
	ctx := context.Background()
	for oi := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true, WithVersions: true}) {
		if oi.Err != nil {
			break
		}
		c.RemoveObject(ctx, bucket, oi.Key, minio.RemoveObjectOptions{VersionID: oi.VersionID})
	}
	for up := range c.ListIncompleteUploads(ctx, bucket, "", true) {
		if up.Err != nil {
			break
		}
		c.RemoveIncompleteUpload(ctx, bucket, up.Key)
	}
	if err := c.RemoveBucket(ctx, bucket); err != nil {
		fmt.Fprintf(os.Stderr, "exhibit-bench: remove bucket %s: %v\n", bucket, err)
	}
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
