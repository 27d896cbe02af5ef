package ledger_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/custody/ledger"
	"github.com/openexhibit/exhibit/custody/ledger/ledgertest"
	"github.com/openexhibit/exhibit/internal/testenv"
	"github.com/openexhibit/exhibit/storage/local"
	"github.com/openexhibit/exhibit/storage/s3"
)

// workerEnv carries a worker process's job (JSON) from TestProcesses.
const workerEnv = "EXHIBIT_LEDGER_TEST_WORKER"

type workerJob struct {
	ID      int    `json:"id"`
	Batches int    `json:"batches"`
	Dir     string `json:"dir,omitempty"`    // local archive
	Bucket  string `json:"bucket,omitempty"` // or a bucket on the test MinIO
	SKey    string `json:"skey"`
	VKey    string `json:"vkey"`
}

// TestProcesses runs 4 processes appending to one archive at once: the
// lock and the conditional writes must hold between processes, not just
// goroutines.
func TestProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	const procs, batches = 4, 5
	skey, vkey, err := custody.NewLogKey(rand.Reader, ledger.TestOrigin)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := note.NewVerifier(vkey)
	verifiers := note.VerifierList(v)
	for _, kind := range []string{"local", "minio"} {
		t.Run(kind, func(t *testing.T) {
			job := workerJob{Batches: batches, SKey: skey, VKey: vkey}
			var s ledger.Store
			if kind == "local" {
				job.Dir = filepath.Join(t.TempDir(), "archive")
				ls, err := local.Create(job.Dir)
				if err != nil {
					t.Fatal(err)
				}
				s = ls
			} else {
				env := testenv.MinIO(t)
				job.Bucket = testenv.NewBucket(t, env, false)
				s = openWorkerS3(t, job.Bucket)
			}
			cmds := make([]*exec.Cmd, procs)
			outs := make([]*bytes.Buffer, procs)
			for i := range cmds {
				job.ID = i
				data, _ := json.Marshal(job)
				cmd := exec.Command(os.Args[0], "-test.run=^TestWorkerProcess$", "-test.v")
				cmd.Env = append(os.Environ(), workerEnv+"="+string(data))
				outs[i] = &bytes.Buffer{}
				cmd.Stdout, cmd.Stderr = outs[i], outs[i]
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				cmds[i] = cmd
			}
			placed := map[string]int64{} // event -> index the worker was told
			for i, cmd := range cmds {
				if err := cmd.Wait(); err != nil {
					t.Fatalf("worker %d: %v\n%s", i, err, outs[i])
				}
				sc := bufio.NewScanner(outs[i])
				for sc.Scan() {
					line, ok := strings.CutPrefix(sc.Text(), "appended ")
					if !ok {
						continue
					}
					var r struct {
						First   int64
						Entries []string
					}
					if err := json.Unmarshal([]byte(line), &r); err != nil {
						t.Fatal(err)
					}
					for k, e := range r.Entries {
						placed[e] = r.First + int64(k)
					}
				}
			}
			c, evs := ledgertest.Check(t, s, ledger.Options{Origin: ledger.TestOrigin, Verifiers: verifiers})
			if int(c.Size) != len(placed) {
				t.Fatalf("log has %d events, workers appended %d", c.Size, len(placed))
			}
			for i, ev := range evs {
				data, _ := ev.Marshal()
				if at, ok := placed[string(data)]; !ok || at != int64(i) {
					t.Fatalf("entry %d: a worker placed it at %d (known: %v)", i, at, ok)
				}
			}
			t.Logf("%d processes, %d events in one history", procs, c.Size)
		})
	}
}

func openWorkerS3(t testing.TB, bucket string) ledger.Store {
	env := testenv.MinIO(t)
	s, err := s3.Open(ledger.TestCtx(t), s3.Options{Endpoint: env.Endpoint, AccessKey: env.AccessKey, SecretKey: env.SecretKey, Bucket: bucket, Prefix: "archive"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestWorkerProcess is one worker of TestProcesses; it does nothing in a
// normal run.
func TestWorkerProcess(t *testing.T) {
	raw := os.Getenv(workerEnv)
	if raw == "" {
		t.Skip("runs only as a worker of TestProcesses")
	}
	var job workerJob
	if err := json.Unmarshal([]byte(raw), &job); err != nil {
		t.Fatal(err)
	}
	var s ledger.Store
	if job.Dir != "" {
		ls, err := local.Open(job.Dir)
		if err != nil {
			t.Fatal(err)
		}
		s = ls
	} else {
		s = openWorkerS3(t, job.Bucket)
	}
	signer, err := note.NewSigner(job.SKey)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := note.NewVerifier(job.VKey)
	l, err := ledger.New(s, ledger.Options{Origin: ledger.TestOrigin, Verifiers: note.VerifierList(v), Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	for i := range job.Batches {
		evs := ledger.TestEvents(100+job.ID, i, 1+(job.ID*7+i*13)%40)
		a, err := l.Append(ledger.TestCtx(t), evs)
		if err != nil {
			t.Fatal(err)
		}
		var entries []string
		for _, e := range ledger.TestMarshalAll(t, evs) {
			entries = append(entries, string(e))
		}
		line, _ := json.Marshal(struct {
			First   int64
			Entries []string
		}{a.First, entries})
		fmt.Printf("appended %s\n", line)
	}
}
