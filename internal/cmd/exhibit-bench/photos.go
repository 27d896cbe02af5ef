package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/openexhibit/exhibit/capture/photo"
)

// cmdCorpus is `exhibit-bench photos`: make (or reuse) the photo corpus.
func cmdCorpus(args []string) error {
	fs := flag.NewFlagSet("photos", flag.ContinueOnError)
	n := fs.Int("n", 2000, "number of photos")
	out := fs.String("out", "", "corpus folder (default: .bench/photos-N)")
	testdata := fs.String("testdata", "capture/photo/testdata", "folder of the repository's own test photos")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		*out = filepath.Join(".bench", fmt.Sprintf("photos-%d", *n))
	}
	start := time.Now()
	m, err := makeCorpus(*out, *n, *testdata)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %d photos, %.0f MB, from %d sources %v (%s)\n", *out, m.Files, float64(m.Bytes)/1e6,
		len(m.Sources), m.ByContainer, time.Since(start).Round(time.Millisecond))
	return nil
}

// cmdExtract is `exhibit-bench extract [-jobs N] DIR`: run photo.Extract
// over every file of DIR (recursively) and encode each result as JSON, as
// `exiftool -json` does, into nothing. It fails if any file fails.
func cmdExtract(args []string) error {
	fs := flag.NewFlagSet("extract", flag.ContinueOnError)
	jobs := fs.Int("jobs", 0, "files extracted at once (default: number of CPUs)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: exhibit-bench extract [-jobs N] DIR")
	}
	if *jobs <= 0 {
		*jobs = runtime.GOMAXPROCS(0)
	}
	var paths []string
	err := filepath.WalkDir(fs.Arg(0), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			paths = append(paths, p)
		}
		return err
	})
	if err != nil {
		return err
	}
	ctx := context.Background()
	work := make(chan string)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		failed   int
	)
	for range *jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			enc := json.NewEncoder(io.Discard)
			for p := range work {
				if err := extractOne(ctx, p, enc); err != nil {
					mu.Lock()
					failed++
					if firstErr == nil {
						firstErr = fmt.Errorf("%s: %w", p, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, p := range paths {
		work <- p
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("%d of %d files failed; first: %w", failed, len(paths), firstErr)
	}
	fmt.Printf("%d files\n", len(paths))
	return nil
}

func extractOne(ctx context.Context, path string, enc *json.Encoder) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	m, err := photo.Extract(ctx, f, fi.Size())
	if err != nil {
		return err
	}
	return enc.Encode(m)
}

// photoOptions are the flags of `exhibit-bench photo-bench`.
type photoOptions struct {
	exhibit, cosign, exiftool string
	// baseline, when set, is another exhibit binary (an earlier version)
	// whose ingest contenders take turns with exhibit's, labelled
	// baselineLabel.
	baseline, baselineLabel string
	corpus, work            string
	ingest, loop            int
	smallKB                 int   // the small-photo contender ingests the files under this size
	jobs                    []int // exhibit ingest --jobs values; 0 is the default
	runs, loopRuns          int
}

// cmdPhotoBench is `exhibit-bench photo-bench`: time extraction against
// exiftool and ingest against a per-file exiftool + sha256sum + cosign
// loop, and print a Markdown table.
func cmdPhotoBench(args []string) error {
	var o photoOptions
	fs := flag.NewFlagSet("photo-bench", flag.ContinueOnError)
	fs.StringVar(&o.exhibit, "exhibit", "./exhibit", "exhibit binary")
	fs.StringVar(&o.baseline, "baseline", "", "an earlier exhibit binary, whose ingest takes turns with exhibit's (before/after)")
	fs.StringVar(&o.baselineLabel, "baseline-label", "baseline", "what to call the -baseline binary in the table")
	fs.StringVar(&o.cosign, "cosign", ".tools/bin/cosign", "cosign binary (v2.6.5)")
	fs.StringVar(&o.exiftool, "exiftool", "exiftool", "exiftool binary")
	fs.StringVar(&o.corpus, "corpus", ".bench/photos-2000", "corpus folder (exhibit-bench photos)")
	fs.StringVar(&o.work, "work", ".bench", "scratch folder for homes, archives and bundles")
	fs.IntVar(&o.ingest, "ingest", 0, "photos to ingest (default: the whole corpus)")
	fs.IntVar(&o.loop, "loop", 50, "photos for the per-file loop baseline")
	fs.IntVar(&o.smallKB, "small-kb", 100, "a contender ingests the photos under this many KB (0: none)")
	fs.IntVar(&o.runs, "runs", 3, "runs of each extraction and ingest contender")
	fs.IntVar(&o.loopRuns, "loop-runs", 1, "runs of the loop baseline")
	jobs := fs.String("jobs", "0,2", "exhibit ingest --jobs values, one contender each (0: the default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, j := range strings.Split(*jobs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(j))
		if err != nil || n < 0 {
			return fmt.Errorf("-jobs: %q is not a number of jobs", j)
		}
		o.jobs = append(o.jobs, n)
	}
	if o.runs < 1 || o.loopRuns < 1 || o.loop < 1 {
		return errors.New("-runs, -loop-runs and -loop must be at least 1")
	}
	return photoBench(o)
}

// stats are the runs of one contender.
type stats struct {
	label string
	files int
	bytes int64
	runs  []result
}

func (s *stats) best() result {
	return slices.MinFunc(s.runs, func(a, b result) int { return cmp.Compare(a.wall, b.wall) })
}
func (s *stats) median() result {
	rs := slices.Clone(s.runs)
	return median(rs)
}
func (s *stats) rate() float64 { return float64(s.files) / s.median().wall.Seconds() }

// cpuRate is files per CPU-second, over all runs.
func (s *stats) cpuRate() float64 {
	var cpu time.Duration
	for _, r := range s.runs {
		cpu += r.cpu
	}
	return float64(s.files*len(s.runs)) / cpu.Seconds()
}

func photoBench(o photoOptions) error {
	for _, p := range []*string{&o.exhibit, &o.baseline, &o.cosign, &o.corpus, &o.work} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	entries, err := os.ReadDir(o.corpus)
	if err != nil {
		return fmt.Errorf("corpus: %w (make it with exhibit-bench photos)", err)
	}
	var files []string
	sizes := map[string]int64{}
	var total int64
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(o.corpus, e.Name())
		fi, err := e.Info()
		if err != nil {
			return err
		}
		files = append(files, p)
		sizes[p] = fi.Size()
		total += fi.Size()
	}
	slices.Sort(files)
	if len(files) == 0 {
		return fmt.Errorf("corpus %s is empty", o.corpus)
	}
	sum := func(fs []string) (n int64) {
		for _, f := range fs {
			n += sizes[f]
		}
		return n
	}
	if o.ingest <= 0 || o.ingest > len(files) {
		o.ingest = len(files)
	}
	o.loop = min(o.loop, len(files))
	ingestFiles, loopFiles := files[:o.ingest], files[:o.loop]
	var smallFiles []string
	for _, f := range ingestFiles {
		if sizes[f] < int64(o.smallKB)<<10 {
			smallFiles = append(smallFiles, f)
		}
	}

	loadStart := loadAvg()

	// Warm the page cache: every contender reads from memory.
	if _, err := measure(nil, "sh", "-c", `cat "$0"/* >/dev/null`, o.corpus); err != nil {
		return err
	}

	// (a) Extraction: Go on one goroutine, Go on all cores, exiftool -r;
	// in turns, so that a busy machine slows all alike.
	fmt.Fprintf(os.Stderr, "extraction: %d files, %d runs each\n", len(files), o.runs)
	serial := &stats{label: "Go photo.Extract + JSON, 1 goroutine", files: len(files), bytes: total}
	parallel := &stats{label: fmt.Sprintf("Go photo.Extract + JSON, %d goroutines", runtime.NumCPU()), files: len(files), bytes: total}
	exif := &stats{label: "`exiftool -json -n -r DIR` (baseline)", files: len(files), bytes: total}
	for range o.runs {
		for _, c := range []struct {
			s    *stats
			name string
			args []string
		}{
			{exif, "sh", []string{"-c", `"$0" -json -n -r "$1" >/dev/null`, o.exiftool, o.corpus}},
			{serial, self, []string{"extract", "-jobs", "1", o.corpus}},
			{parallel, self, []string{"extract", o.corpus}},
		} {
			r, err := measure(nil, c.name, c.args...)
			if err != nil {
				return err
			}
			c.s.runs = append(c.s.runs, r)
		}
	}

	// (b) Ingest into a fresh local archive each run, everything on; the
	// --jobs variants take turns.
	fmt.Fprintf(os.Stderr, "ingest: %d files, %d runs of --jobs %v\n", len(ingestFiles), o.runs, o.jobs)
	type contender struct {
		s     *stats
		files []string
		jobs  int
		bin   string
	}
	var ings []contender
	bins := []string{o.exhibit}
	if o.baseline != "" {
		bins = append(bins, o.baseline)
	}
	for _, bin := range bins {
		suffix := ""
		if bin == o.baseline {
			suffix = " (" + o.baselineLabel + ")"
		}
		for _, j := range o.jobs {
			label := "`exhibit ingest` (extract, strip, hash, sign, store, log)"
			if j > 0 {
				label = fmt.Sprintf("`exhibit ingest --jobs %d`", j)
			}
			ings = append(ings, contender{&stats{label: label + suffix, files: len(ingestFiles), bytes: sum(ingestFiles)}, ingestFiles, j, bin})
		}
		if len(smallFiles) > 0 {
			label := fmt.Sprintf("`exhibit ingest`, the photos under %d KB", o.smallKB)
			ings = append(ings, contender{&stats{label: label + suffix, files: len(smallFiles), bytes: sum(smallFiles)}, smallFiles, 0, bin})
			// The fixed cost of a run (start, two key decryptions, the
			// log's checkpoint), which the small photos' rate is also
			// given without.
			label = "`exhibit ingest`, one photo (the fixed cost of a run)"
			ings = append(ings, contender{&stats{label: label + suffix, files: 1, bytes: sum(smallFiles[:1])}, smallFiles[:1], 0, bin})
		}
	}
	var copies, stripErrs int
	// Archives are removed only after the last run: on ext4 without a
	// journal, creating files right after deleting thousands costs a scan
	// of the recently deleted inodes, which would charge one run for the
	// clean-up of the one before.
	var home string
	var remove []string
	defer func() {
		for _, d := range remove {
			os.RemoveAll(d)
		}
	}()
	for run := range o.runs {
		for i, c := range ings {
			home = filepath.Join(o.work, fmt.Sprintf("photos-home-%d-%d", run, i))
			arch := filepath.Join(o.work, fmt.Sprintf("photos-archive-%d-%d", run, i))
			os.RemoveAll(home)
			os.RemoveAll(arch)
			remove = append(remove, home, arch)
			env := []string{"EXHIBIT_HOME=" + home, "EXHIBIT_PASSWORD=bench"}
			if _, err := measure(env, c.bin, "init", "--archive", arch); err != nil {
				return err
			}
			args := []string{"ingest", "--case", "bench"}
			if c.jobs > 0 {
				args = append(args, "--jobs", strconv.Itoa(c.jobs))
			}
			r, out, err := measureOut(env, c.bin, append(args, c.files...)...)
			if err != nil {
				return err
			}
			if want := fmt.Sprintf("%d archived,", len(c.files)); !strings.Contains(out, want) {
				return fmt.Errorf("exhibit ingest did not archive every file (want %q):\n%s", want, tail(out))
			}
			c.s.runs = append(c.s.runs, r)
			if run == 0 && i == 0 {
				if copies, stripErrs, err = workingCopies(arch); err != nil {
					return err
				}
			}
		}
	}

	// The loop baseline, with the key the last exhibit init made (cosign
	// reads exhibit's key format); its bundles are checked afterwards, so
	// that the loop is known to sign for real.
	fmt.Fprintf(os.Stderr, "loop: %d files, %d runs\n", len(loopFiles), o.loopRuns)
	loop := &stats{label: "per-file loop: `exiftool -json`, `sha256sum`, `cosign sign-blob` (baseline)", files: len(loopFiles), bytes: sum(loopFiles)}
	bundles := filepath.Join(o.work, "photos-bundles")
	for range o.loopRuns {
		os.RemoveAll(bundles)
		if err := os.MkdirAll(bundles, 0o755); err != nil {
			return err
		}
		r, err := measure([]string{"COSIGN_PASSWORD=bench", "EXIFTOOL=" + o.exiftool, "COSIGN=" + o.cosign,
			"KEY=" + filepath.Join(home, "cosign.key"), "BUNDLES=" + bundles},
			"bash", append([]string{"-c", loopScript, "loop"}, loopFiles...)...)
		if err != nil {
			return err
		}
		loop.runs = append(loop.runs, r)
	}
	if _, err := measure(nil, o.cosign, "verify-blob", "--key", filepath.Join(home, "cosign.pub"),
		"--bundle", filepath.Join(bundles, filepath.Base(loopFiles[0])+".sigstore.json"), "--new-bundle-format",
		"--insecure-ignore-tlog=true", "--trusted-root", filepath.Join(home, "trusted_root.json"), loopFiles[0]); err != nil {
		return fmt.Errorf("the loop's bundle does not verify: %w", err)
	}
	os.RemoveAll(bundles)

	// The table. Wall time is what the targets name; on a shared machine
	// CPU time (user + system, of the process and its children) says more
	// about the work done, so both are shown.
	fmt.Printf("| contender | files | MB | seconds (median of %d; best) | files/s | MB/s | CPU s | files per CPU-s | peak RSS | ratio (wall) | ratio (CPU) |\n", o.runs)
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|")
	row := func(s, base *stats) {
		m := s.median()
		ratio, cpuRatio := "baseline", "baseline"
		if base != nil {
			ratio = fmt.Sprintf("**%s**", times(s.rate()/base.rate()))
			cpuRatio = times(s.cpuRate() / base.cpuRate())
		}
		fmt.Printf("| %s | %d | %.0f | %.2f; %.2f | %s | %.0f | %.2f | %s | %.0f MiB | %s | %s |\n",
			s.label, s.files, float64(s.bytes)/1e6, m.wall.Seconds(), s.best().wall.Seconds(), rate(s.rate()),
			float64(s.bytes)/1e6/m.wall.Seconds(), m.cpu.Seconds(), rate(s.cpuRate()), float64(m.maxRSS)/(1<<20), ratio, cpuRatio)
	}
	row(exif, nil)
	row(serial, exif)
	row(parallel, exif)
	row(loop, nil)
	for _, c := range ings {
		row(c.s, loop)
	}
	for i, c := range ings {
		if len(c.files) != len(smallFiles) || i+1 == len(ings) || ings[i+1].files[0] != smallFiles[0] || len(ings[i+1].files) != 1 {
			continue
		}
		fixed := ings[i+1].s.median().wall
		fmt.Printf("\n%s: %.0f photos/s less the fixed cost of a run (%.2f s, median of %d).\n",
			c.s.label, float64(len(smallFiles))/(c.s.median().wall-fixed).Seconds(), fixed.Seconds(), o.runs)
	}
	fmt.Printf("\nThe loop ran %d time(s) over the first %d files; exhibit ingest over the first %d. "+
		"Working copies made by the first ingest run: %d of %d (strip errors recorded: %d). "+
		"%d cores; load average at the start %s, at the end %s.\n",
		o.loopRuns, len(loopFiles), len(ingestFiles), copies, len(ingestFiles), stripErrs, runtime.NumCPU(),
		loadStart, loadAvg())
	return nil
}

// loadAvg returns the 1, 5 and 15 minute load averages (Linux), or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

// times formats a ratio.
func times(r float64) string {
	if r < 10 {
		return fmt.Sprintf("%.1fx", r)
	}
	return fmt.Sprintf("%.0fx", r)
}

// rate formats a rate, with a decimal below 10.
func rate(r float64) string {
	if r < 10 {
		return fmt.Sprintf("%.1f", r)
	}
	return fmt.Sprintf("%.0f", r)
}

// loopScript is the hand-made baseline: one exiftool, one sha256sum and
// one cosign sign-blob per file, signing offline with the key (no
// transparency log upload, no prompt) into a sigstore bundle.
const loopScript = `set -euo pipefail
for f in "$@"; do
	"$EXIFTOOL" -json "$f" >/dev/null
	sha256sum "$f" >/dev/null
	"$COSIGN" sign-blob --yes --key "$KEY" --tlog-upload=false --new-bundle-format \
		--bundle "$BUNDLES/$(basename "$f").sigstore.json" "$f" >/dev/null 2>&1
done`

// workingCopies counts, in a local archive, the records that list a
// derivative and the metadata errors that the strip reader left.
func workingCopies(archive string) (copies, stripErrors int, err error) {
	recs, err := filepath.Glob(filepath.Join(archive, "items", "*", "record.json"))
	if err != nil {
		return 0, 0, err
	}
	for _, p := range recs {
		b, err := os.ReadFile(p)
		if err != nil {
			return 0, 0, err
		}
		var rec struct {
			Predicate struct {
				Metadata struct {
					Errors []struct{ Reader string } `json:"errors"`
				} `json:"metadata"`
				Derivatives []json.RawMessage `json:"derivatives"`
			} `json:"predicate"`
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			return 0, 0, fmt.Errorf("%s: %w", p, err)
		}
		if len(rec.Predicate.Derivatives) > 0 {
			copies++
		}
		for _, e := range rec.Predicate.Metadata.Errors {
			if e.Reader == "strip/1" {
				stripErrors++
			}
		}
	}
	return copies, stripErrors, nil
}

// measureOut is measure that also returns the last 64 KiB of the
// command's output, where exhibit ingest writes its summary.
func measureOut(env []string, name string, args ...string) (result, string, error) {
	var out tailBuffer
	r, err := measureTo(&out, env, name, args...)
	return r, out.String(), err
}

// tailBuffer keeps the last 64 KiB written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if over := len(t.b) - 64<<10; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

// tail returns the last lines of s.
func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-10):], "\n")
}
