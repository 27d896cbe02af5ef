package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/openexhibit/exhibit/internal/testenv"
	"github.com/openexhibit/exhibit/worker"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// TestMain removes the exhibit command built for the tests (55 MB in a
// temporary folder of its own) when they end.
func TestMain(m *testing.M) {
	code := m.Run()
	if binary != "" {
		os.RemoveAll(filepath.Dir(binary))
	}
	os.Exit(code)
}

// exhibitBinary builds the exhibit command once per test binary.
func exhibitBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "exhibit-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "exhibit")
		out, err := exec.Command("go", "build", "-o", binary, "github.com/openexhibit/exhibit/cmd/exhibit").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// site is a home folder per worker (as on separate machines), one archive,
// one queue and one folder that files arrive in.
type site struct {
	t       *testing.T
	bin     string
	dir     string
	queue   string
	inbox   string
	env     []string
	homes   []string
	workers []*exec.Cmd
	logs    []*logBuffer
	// drop, when set, also drops objects into an s3-inbox job's prefix
	// each round; dropped counts them.
	drop    func(round int)
	dropped int
}

// logBuffer keeps a worker's log lines as they come, and which folder
// batches it is running.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	running map[float64]bool
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for _, line := range bytes.Split(p, []byte("\n")) {
		var e struct {
			Msg  string  `json:"msg"`
			Kind string  `json:"kind"`
			Run  float64 `json:"run"`
		}
		if json.Unmarshal(line, &e) != nil || e.Kind != "folder-batch" {
			continue
		}
		switch e.Msg {
		case "run started":
			l.running[e.Run] = true
		default:
			delete(l.running, e.Run)
		}
	}
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// busy says whether the worker is running a folder batch.
func (l *logBuffer) busy() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.running) > 0
}

func newSite(t *testing.T, workers int, archive, queue string, env []string, moreJobs string) *site {
	s := &site{t: t, bin: exhibitBinary(t), dir: t.TempDir(), queue: queue, env: env}
	s.inbox = filepath.Join(s.dir, "inbox")
	os.MkdirAll(s.inbox, 0o755)
	first := filepath.Join(s.dir, "home-0")
	s.run(first, "init", "--archive", archive, "--insecure-no-password")
	f, err := os.OpenFile(filepath.Join(first, "config.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Batches of 20; a batch whose worker died is run again 20 s after it
	// started (a batch of small files takes well under a second).
	fmt.Fprintf(f, `worker:
  queue: %q
  rescue_after: 20s
  drain: 30s
jobs:
  - name: inbox
    kind: folder
    schedule: 1h
    case: scale
    path: %s
    stable: 1s
    batch: 20
    timeout: 15s
%s`, queue, s.inbox, moreJobs)
	f.Close()
	s.homes = append(s.homes, first)
	for i := 1; i < workers; i++ {
		home := filepath.Join(s.dir, fmt.Sprintf("home-%d", i))
		if out, err := exec.Command("cp", "-a", first, home).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
		s.homes = append(s.homes, home)
	}
	s.run(first, "worker", "migrate")
	return s
}

func (s *site) command(home string, args ...string) *exec.Cmd {
	cmd := exec.Command(s.bin, args...)
	cmd.Env = append(append(os.Environ(), "EXHIBIT_HOME="+home, "CI="), s.env...)
	return cmd
}

func (s *site) run(home string, args ...string) string {
	s.t.Helper()
	out, err := s.command(home, args...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("exhibit %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (s *site) start() {
	for _, home := range s.homes {
		cmd := s.command(home, "worker", "--listen", "off", "--log-format", "json")
		log := &logBuffer{running: map[float64]bool{}}
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			s.t.Fatal(err)
		}
		s.workers = append(s.workers, cmd)
		s.logs = append(s.logs, log)
	}
	s.t.Cleanup(func() {
		for _, w := range s.workers {
			if w.ProcessState == nil {
				w.Process.Kill()
				w.Wait()
			}
		}
	})
}

// arrive writes n files into the inbox, settled, and asks for a scan.
func (s *site) arrive(round, n int) {
	old := time.Now().Add(-time.Minute)
	for i := range n {
		p := filepath.Join(s.inbox, fmt.Sprintf("round-%02d", round), fmt.Sprintf("statement-%03d.txt", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(fmt.Sprintf("witness statement %d of round %d\n", i, round)), 0o644); err != nil {
			s.t.Fatal(err)
		}
		os.Chtimes(p, old, old)
	}
	s.run(s.homes[0], "jobs", "run", "inbox")
	if s.drop != nil {
		s.drop(round)
		s.run(s.homes[0], "jobs", "run", "drops")
	}
}

// scaleOut: workers share one queue and one archive while 500 files
// (and the objects of s.drop) arrive in ten rounds; one worker is killed
// (SIGKILL) mid-run. Every file
// is archived exactly once, the archive verifies, the custody log has one
// ingested event per item and audits clean, and the others drain on
// SIGTERM.
func scaleOut(t *testing.T, s *site) {
	ctx := context.Background()
	q, err := worker.OpenQueue(ctx, s.queue, s.homes[0])
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	s.start()
	killed := false
	for round := range 10 {
		s.arrive(round, 50)
		if round >= 4 && !killed {
			// Kill one worker in the middle of a batch.
			for wait := time.Now().Add(5 * time.Second); !killed && time.Now().Before(wait); time.Sleep(2 * time.Millisecond) {
				if s.logs[0].busy() {
					s.workers[0].Process.Signal(syscall.SIGKILL)
					s.workers[0].Wait()
					killed = true
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !killed {
		t.Fatal("worker 0 ran no batch to be killed in")
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var done, total int
		q.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM exhibit_file WHERE state IN ('archived', 'exists')`).Scan(&done)
		q.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM exhibit_file`).Scan(&total)
		if done == 500+s.dropped && total == 500+s.dropped {
			break
		}
		if time.Now().After(deadline) {
			for i, l := range s.logs {
				t.Logf("worker %d:\n%s", i, tail(l.String(), 30))
			}
			t.Fatalf("%d of %d files done after 3 minutes", done, total)
		}
		time.Sleep(250 * time.Millisecond)
	}
	for _, w := range s.workers[1:] {
		w.Process.Signal(syscall.SIGTERM)
	}
	for i, w := range s.workers[1:] {
		if err := w.Wait(); err != nil {
			t.Errorf("worker %d after SIGTERM: %v\n%s", i+1, err, tail(s.logs[i+1].String(), 20))
		}
	}

	home := s.homes[1]
	out := s.run(home, "verify", "--all")
	if want := fmt.Sprintf("%d of %[1]d items intact", 500+s.dropped); !strings.Contains(out, want) {
		t.Fatalf("verify: %s", out)
	}
	out = s.run(home, "log", "verify")
	if !strings.Contains(out, "INTACT") {
		t.Fatalf("log verify: %s", out)
	}
	// One ingested event per item: none lost, none doubled.
	out = s.run(home, "log", "show", "--json")
	var shown struct {
		Events []struct {
			Event struct{ Type, Item string }
		}
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil {
		t.Fatalf("log show --json: %v", err)
	}
	ingested := map[string]int{}
	for _, ev := range shown.Events {
		if ev.Event.Type == "ingested" {
			ingested[ev.Event.Item]++
		}
	}
	if len(ingested) != 500+s.dropped {
		t.Errorf("%d items with ingested events, want %d", len(ingested), 500+s.dropped)
	}
	for item, n := range ingested {
		if n != 1 {
			t.Errorf("%s: %d ingested events", item, n)
		}
	}
	// The killed worker's batch was run again by another.
	runs, err := worker.History(ctx, q, "inbox", 100000)
	if err != nil {
		t.Fatal(err)
	}
	again := 0
	for _, r := range runs {
		if r.Kind == "folder-batch" && r.Attempt > 1 && r.Outcome == "ok" {
			again++
		}
	}
	if again == 0 {
		t.Error("no batch ran a second time: the killed worker's batch was not taken over")
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestScaleOutSQLite: two worker processes on one SQLite file and a
// folder archive.
func TestScaleOutSQLite(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts worker processes")
	}
	dir := t.TempDir()
	scaleOut(t, newSite(t, 2, filepath.Join(dir, "archive"), "sqlite:"+filepath.Join(dir, "queue.db"), nil, ""))
}

// TestScaleOutPostgres: three worker processes on one PostgreSQL queue
// and one MinIO archive; objects arrive in an s3-inbox prefix too.
func TestScaleOutPostgres(t *testing.T) {
	dsn := testenv.Postgres(t)
	env := testenv.MinIO(t)
	bucket := testenv.NewBucket(t, env, false)
	c := testenv.Client(t, env)
	s := newSite(t, 3, "s3://"+bucket+"/evidence", dsn, []string{
		"EXHIBIT_S3_ENDPOINT=" + env.Endpoint, "EXHIBIT_S3_ACCESS_KEY=" + env.AccessKey,
		"EXHIBIT_S3_SECRET_KEY=" + env.SecretKey, "EXHIBIT_S3_INSECURE_HTTP=true"}, `  - name: drops
    kind: s3-inbox
    schedule: 1h
    case: scale
    bucket: `+bucket+`
    prefix: drop/
    stable: 1ms
    batch: 10
    timeout: 15s
`)
	s.drop = func(round int) {
		for i := range 10 {
			body := fmt.Sprintf("partner upload %d of round %d\n", i, round)
			if _, err := c.PutObject(context.Background(), bucket, fmt.Sprintf("drop/round-%02d/upload-%02d.txt", round, i),
				strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
				t.Fatal(err)
			}
			s.dropped++
		}
	}
	scaleOut(t, s)
}

// TestDrain: SIGTERM while a long batch runs. With time to drain, the
// batch completes and the worker exits cleanly; without, or at a second
// signal, the batch is cancelled, stays in the queue, and the next worker
// runs it again. Either way the file is archived, once.
func TestDrain(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts worker processes")
	}
	for _, tc := range []struct {
		name, drain string
		completes   bool
		twice       bool
	}{{"completes", "60s", true, false}, {"released", "1ms", false, false}, {"second signal", "60s", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := newSite(t, 1, filepath.Join(dir, "archive"), "sqlite:"+filepath.Join(dir, "queue.db"), nil, "")
			// A file large enough that its ingest takes seconds.
			big := filepath.Join(s.inbox, "drone-footage.bin")
			f, err := os.Create(big)
			if err != nil {
				t.Fatal(err)
			}
			chunk := make([]byte, 1<<20)
			for i := range 512 {
				for j := range chunk {
					chunk[j] = byte(i*31 + j*7 + j>>8)
				}
				f.Write(chunk)
			}
			f.Close()
			old := time.Now().Add(-time.Minute)
			os.Chtimes(big, old, old)

			cmd := s.command(s.homes[0], "worker", "--listen", "off", "--log-format", "json", "--drain", tc.drain)
			log := &logBuffer{running: map[float64]bool{}}
			cmd.Stdout, cmd.Stderr = log, log
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(time.Minute); !log.busy(); time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("no batch started:\n%s", log.String())
				}
			}
			cmd.Process.Signal(syscall.SIGTERM)
			if tc.twice {
				time.Sleep(100 * time.Millisecond)
				cmd.Process.Signal(syscall.SIGTERM)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("exit after SIGTERM: %v\n%s", err, tail(log.String(), 20))
			}
			q, err := worker.OpenQueue(context.Background(), s.queue, s.homes[0])
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			state := func() string {
				var st string
				q.DB.QueryRow(`SELECT state FROM exhibit_file`).Scan(&st)
				return st
			}
			if got := state(); (got == "archived") != tc.completes {
				t.Fatalf("after the drain the file is %q\n%s", got, tail(log.String(), 20))
			}
			if !tc.completes {
				// The next worker runs the released batch again.
				s.start()
				deadline := time.Now().Add(time.Minute)
				for state() != "archived" {
					if time.Now().After(deadline) {
						t.Fatalf("the released batch did not run again: %q\n%s", state(), tail(s.logs[0].String(), 20))
					}
					time.Sleep(100 * time.Millisecond)
				}
				s.workers[0].Process.Signal(syscall.SIGTERM)
				s.workers[0].Wait()
			}
			out := s.run(s.homes[0], "verify", "--all")
			if !strings.Contains(out, "1 of 1 items intact") {
				t.Fatalf("verify: %s", out)
			}
		})
	}
}
