package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/openexhibit/exhibit/acquire/stac/stactest"
	"github.com/openexhibit/exhibit/acquire/web"
	"github.com/openexhibit/exhibit/acquire/web/browser"
	"github.com/openexhibit/exhibit/acquire/web/webtest"
	"github.com/openexhibit/exhibit/archive"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/internal/archivetest"
	"github.com/openexhibit/exhibit/internal/testenv"
	"github.com/openexhibit/exhibit/verify"
)

func TestCheck(t *testing.T) {
	good := []Job{{Name: "sync", Kind: KindFolder, Schedule: "*/5 * * * *", Path: "/srv/in"},
		{Name: "audit", Kind: KindFixity, Schedule: "1d"}}
	if err := Check(good); err != nil {
		t.Fatal(err)
	}
	if good[0].Stable != Duration(time.Minute) || good[0].Batch != 100 || good[1].Sample != 100 || good[1].Attempts != 5 ||
		time.Duration(good[1].Timeout) != 24*time.Hour {
		t.Errorf("defaults: %+v", good)
	}
	for _, tc := range []struct {
		job  Job
		want string
	}{
		{Job{Name: "A", Kind: KindFixity, Schedule: "1h"}, "name"},
		{Job{Name: "a", Kind: "tape", Schedule: "1h"}, "kind"},
		{Job{Name: "a", Kind: KindURLs, Schedule: "1h"}, "urls"},
		{Job{Name: "a", Kind: KindURLs, Schedule: "1h", URLs: []string{"ftp://x"}}, "not an http"},
		{Job{Name: "a", Kind: KindSTAC, Schedule: "1h"}, "api"},
		{Job{Name: "a", Kind: KindSTAC, Schedule: "1h", API: "https://x", BBox: []float64{1, 2, 3}}, "bbox"},
		{Job{Name: "a", Kind: KindFixity, Schedule: "10s"}, "once a minute"},
		{Job{Name: "a", Kind: KindFixity, Schedule: "* * * *"}, "schedule"},
		{Job{Name: "a", Kind: KindFixity, Schedule: "@every 1s"}, "once a minute"},
		{Job{Name: "a", Kind: KindFolder, Schedule: "1h", Path: "in"}, "absolute"},
		{Job{Name: "a", Kind: KindFolder, Schedule: "1h", Path: "/in", Sample: 3}, "sample is not a setting"},
		{Job{Name: "a", Kind: KindFixity, Schedule: "1h", Webhook: "ftp://x"}, "webhook"},
		{Job{Name: "a", Kind: KindFixity, Schedule: "1h", Attempts: 101}, "attempts"},
	} {
		if err := Check([]Job{tc.job}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.job, err, tc.want)
		}
	}
	if err := Check([]Job{good[1], good[1]}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("twice: %v", err)
	}
	s, err := ParseSchedule("0 6 * * *")
	if err != nil || s.Period != 24*time.Hour {
		t.Errorf("daily: %v %v", s.Period, err)
	}
	if d, err := ParseDuration("1.5d"); err != nil || d != 36*time.Hour {
		t.Errorf("1.5d: %v %v", d, err)
	}
}

func write(t *testing.T, path, content string, age time.Duration) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-age)
	os.Chtimes(path, at, at)
}

// waitFor polls cond until it holds, or fails the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// started is a test's worker, running on a migrated queue of its own.
type started struct {
	q     *Queue
	w     *Worker
	drain chan struct{}
	done  chan error
}

// start opens and migrates the queue of dsn (SQLite in dir/home when
// empty) and runs a worker with o on it until stop.
func start(t *testing.T, dir, dsn string, o Options) *started {
	t.Helper()
	ctx := context.Background()
	q, err := OpenQueue(ctx, dsn, filepath.Join(dir, "home"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	if err := q.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	o.Queue = q
	w, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	s := &started{q: q, w: w, drain: make(chan struct{}), done: make(chan error, 1)}
	go func() { s.done <- w.Run(ctx, "", s.drain, nil) }()
	return s
}

// stop drains the worker; it must stop cleanly.
func (s *started) stop(t *testing.T) {
	t.Helper()
	close(s.drain)
	if err := <-s.done; err != nil {
		t.Fatal(err)
	}
}

// files is a condition for waitFor: job has n files (or scenes) in state.
func (s *started) files(t *testing.T, job, state string, n int) func() bool {
	return func() bool {
		return count(t, s.q, `SELECT COUNT(*) FROM exhibit_file WHERE job = ? AND state = ?`, job, state) == n
	}
}

func count(t *testing.T, q *Queue, query string, args ...any) int {
	t.Helper()
	var n int
	if err := q.queryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestFolderAndFixity runs a worker on a SQLite queue: a folder job takes
// each settled file once (files still changing or arriving wait; a changed
// file is a new version; a removed one stays archived), in batches; a
// fixity job audits the archive, and a flipped byte is reported on the
// log, in the metrics and to the webhook; /readyz and /metrics answer.
func TestFolderAndFixity(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { folderAndFixity(t, "") })
	t.Run("postgres", func(t *testing.T) { folderAndFixity(t, testenv.Postgres(t)) })
}

func folderAndFixity(t *testing.T, dsn string) {
	ctx := context.Background()
	dir := t.TempDir()
	a := archivetest.New(t, dir, nil)
	in := filepath.Join(dir, "in")
	for i := range 5 {
		write(t, filepath.Join(in, fmt.Sprintf("team-%d", i%2), fmt.Sprintf("photo-%d.jpg", i)), fmt.Sprintf("photo %d", i), time.Hour)
	}
	// A name that is not UTF-8 (Linux allows it; PostgreSQL's text does not).
	write(t, filepath.Join(in, "\xff\xfe-scan.jpg"), "scan", time.Hour)
	write(t, filepath.Join(in, "fresh.jpg"), "still being written", 0)
	write(t, filepath.Join(in, "video.mp4.part"), "arriving", time.Hour)
	os.Symlink("/etc/passwd", filepath.Join(in, "link"))

	hooks := make(chan string, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hooks <- string(b)
	}))
	defer hook.Close()

	jobs := []Job{{Name: "field", Kind: KindFolder, Schedule: "1h", Case: "field", Path: in, Stable: Duration(30 * time.Second), Batch: 2},
		{Name: "audit", Kind: KindFixity, Schedule: "1d", Sample: 3, Webhook: hook.URL}}
	run := start(t, dir, dsn, Options{Jobs: jobs, Archive: a, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	q := run.q
	if err := q.Migrate(ctx); err != nil { // again: idempotent
		t.Fatal(err)
	}
	srv := httptest.NewServer(run.w.Handler())
	defer srv.Close()
	archived := func(n int) func() bool { return run.files(t, "field", "archived", n) }
	waitFor(t, "the first six files", archived(6))
	if n := count(t, q, `SELECT COUNT(*) FROM exhibit_file`); n != 6 {
		t.Fatalf("%d files taken, want 6 (fresh, partial and linked ones wait)", n)
	}
	// Three batches of at most two.
	if n := count(t, q, `SELECT COUNT(DISTINCT batch) FROM exhibit_file`); n != 3 {
		t.Errorf("%d batches", n)
	}
	// A batch no queue job will run (its attempts ran out): the next scan
	// deals its file again.
	orphan := filepath.Join(in, "orphan.jpg")
	write(t, orphan, "left in a dead batch", time.Hour)
	fi, _ := os.Stat(orphan)
	if _, err := q.exec(ctx, `INSERT INTO exhibit_file (job, path, size, mtime, version, state, batch, seen_at) VALUES (?, ?, ?, ?, '', 'queued', 'dead', 0)`,
		"field", orphan, fi.Size(), fi.ModTime().UnixNano()); err != nil {
		t.Fatal(err)
	}
	// A file once marked missing (a share unmounted under its batch) that
	// is back is taken again.
	back := filepath.Join(in, "back.jpg")
	write(t, back, "back from an unmounted share", time.Hour)
	fi, _ = os.Stat(back)
	if _, err := q.exec(ctx, `INSERT INTO exhibit_file (job, path, size, mtime, version, state, seen_at) VALUES (?, ?, ?, ?, '', 'missing', 0)`,
		"field", back, fi.Size(), fi.ModTime().UnixNano()); err != nil {
		t.Fatal(err)
	}

	// Settled now, changed, removed; a run queued by hand takes them.
	os.Chtimes(filepath.Join(in, "fresh.jpg"), time.Now().Add(-time.Hour), time.Now().Add(-time.Hour))
	write(t, filepath.Join(in, "team-0", "photo-0.jpg"), "photo 0, cropped", time.Hour)
	os.Remove(filepath.Join(in, "team-1", "photo-1.jpg"))
	if _, err := Enqueue(ctx, q, jobs, "field", false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the settled, the changed, the orphaned and the returned file", archived(10))

	ids, err := a.ItemIDs(ctx)
	if err != nil || len(ids) != 10 {
		t.Fatalf("%d items in the archive (%v), want 10: the removed file's item stays", len(ids), err)
	}

	// Fixity: a byte flipped in an original is found by a full pass.
	victim := ids[0]
	obj := filepath.Join(dir, "archive", "objects", "sha256", victim.Hex()[:2], victim.Hex())
	b, _ := os.ReadFile(obj)
	os.Chmod(obj, 0o644)
	b[0] ^= 1
	os.WriteFile(obj, b, 0o644)
	if _, err := Enqueue(ctx, q, jobs, "audit", true); err != nil {
		t.Fatal(err)
	}
	select {
	case body := <-hooks:
		if !strings.Contains(body, victim.String()) || !strings.Contains(body, `"run":"full pass"`) {
			t.Errorf("webhook: %s", body)
		}
	case <-time.After(time.Minute):
		t.Fatal("no webhook call")
	}
	waitFor(t, "the audit's history", func() bool {
		return count(t, q, `SELECT COUNT(*) FROM exhibit_run WHERE job = 'audit' AND failures = 1`) == 1
	})
	metrics := get(t, srv.URL+"/metrics")
	for _, want := range []string{"exhibit_worker_fixity_failures_total 1", `exhibit_worker_items_total{outcome="archived"} 10`,
		`exhibit_worker_jobs_total{kind="folder-batch",outcome="ok"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// The audits are on the custody log: the first run's full pass and
	// this one, each an event naming its result set, this one's failing.
	ev, err := a.Events(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var results []string
	for _, e := range ev.Events {
		if e.Event.Type == "fixity-checked" && e.Event.Record != "" {
			results = append(results, e.Event.Result)
		}
	}
	if fmt.Sprint(results) != "[pass fail]" && fmt.Sprint(results) != "[fail]" {
		t.Errorf("fixity events on the log: %v", results)
	}
	if got := get(t, srv.URL+"/readyz"); got != "ready\n" {
		t.Errorf("readyz: %q", got)
	}

	run.stop(t)
	if got := get(t, srv.URL+"/readyz"); !strings.Contains(got, "draining") {
		t.Errorf("readyz while draining: %q", got)
	}
	runs, err := History(ctx, q, "field", 100)
	if err != nil || len(runs) < 5 {
		t.Fatalf("history: %d runs, %v", len(runs), err)
	}
	// The archive, bar the flipped byte, verifies, and its log audits.
	res, err := a.Verify(ctx, archive.Selection{All: true}, archive.VerifyOptions{}, func(*verify.ItemReport) {})
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for _, ir := range res.Report.Items {
		if ir.Status == verify.Fail {
			bad++
		}
	}
	if bad != 1 {
		t.Errorf("%d items fail, want the one flipped", bad)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestS3Inbox: objects dropped under a prefix of a MinIO bucket are each
// archived once, as acquisitions of kind s3 naming the bucket, key, ETag
// and version; then tagged with their item, or deleted, as the job says. A
// replaced object is a new version, archived beside the first; objects
// outside the prefix are left alone.
func TestS3Inbox(t *testing.T) {
	ctx := context.Background()
	env := testenv.MinIO(t)
	bucket := testenv.NewBucket(t, env, true) // versions: after: delete removes the version archived
	c := testenv.Client(t, env)
	put := func(key, content string) {
		if _, err := c.PutObject(ctx, bucket, key, strings.NewReader(content), int64(len(content)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	put("incoming/a.jpg", "photo a")
	put("incoming/sub/b.jpg", "photo b")
	put("incoming/c.jpg", "photo c")
	put("drop/d.txt", "statement d")
	put("other/e.txt", "not for us")

	dir := t.TempDir()
	a := archivetest.New(t, dir, nil)
	jobs := []Job{
		{Name: "partners", Kind: KindS3Inbox, Schedule: "1h", Case: "inbox", Bucket: bucket, Prefix: "incoming/", After: "tag", Stable: Duration(time.Millisecond), Batch: 2},
		{Name: "drops", Kind: KindS3Inbox, Schedule: "1h", Bucket: bucket, Prefix: "drop/", After: "delete", Stable: Duration(time.Millisecond)},
	}
	run := start(t, dir, "", Options{Jobs: jobs, Archive: a, S3: S3{Endpoint: env.Endpoint, InsecureHTTP: true, AccessKey: env.AccessKey, SecretKey: env.SecretKey}})
	q := run.q
	archived := func(job string, n int) func() bool { return run.files(t, job, "archived", n) }
	waitFor(t, "the inbox's three objects", archived("partners", 3))
	waitFor(t, "the drop", archived("drops", 1))

	// Tagged with their item; the record says where each came from.
	var item string
	if err := q.queryRow(ctx, `SELECT item FROM exhibit_file WHERE path = 'incoming/sub/b.jpg'`).Scan(&item); err != nil {
		t.Fatal(err)
	}
	tg, err := c.GetObjectTagging(ctx, bucket, "incoming/sub/b.jpg", minio.GetObjectTaggingOptions{})
	if err != nil || tg.ToMap()["exhibit-item"] != strings.TrimPrefix(item, "sha256:") {
		t.Fatalf("tags %v (%v), item %s", tg, err, item)
	}
	id, _ := hashing.ParseDigest(item)
	rec, err := a.Record(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var prov S3ObjectProvenance
	if err := json.Unmarshal(rec.Statement.Predicate.Acquisition.Provenance, &prov); err != nil || prov.Bucket != bucket || prov.Key != "incoming/sub/b.jpg" ||
		prov.ETag == "" || rec.Statement.Predicate.Acquisition.Kind != "s3" || rec.Statement.Predicate.Case != "inbox" {
		t.Fatalf("provenance %+v (%v), record %+v", prov, err, rec.Statement.Predicate.Acquisition)
	}
	// Deleted once archived; the other prefix untouched.
	if _, err := c.StatObject(ctx, bucket, "drop/d.txt", minio.StatObjectOptions{}); minio.ToErrorResponse(err).StatusCode != 404 {
		t.Errorf("drop/d.txt still there: %v", err)
	}
	if _, err := c.StatObject(ctx, bucket, "other/e.txt", minio.StatObjectOptions{}); err != nil {
		t.Errorf("other/e.txt: %v", err)
	}

	// A replaced object is a new version.
	put("incoming/a.jpg", "photo a, re-exported")
	if _, err := Enqueue(ctx, q, jobs, "partners", false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new version", archived("partners", 4))
	run.stop(t)
	if ids, err := a.ItemIDs(ctx); err != nil || len(ids) != 5 {
		t.Fatalf("%d items (%v), want 5", len(ids), err)
	}
}

// TestSTACJob: a saved search acquires each scene once, with its asset
// checked against the provider's checksum; a run that finds nothing new
// downloads nothing; a scene the provider reprocessed (an asset's bytes,
// and so its stated checksum, changed) is acquired again, beside the first.
func TestSTACJob(t *testing.T) {
	ctx := context.Background()
	srv := stactest.Start(t, stactest.Options{Items: 3})
	dir := t.TempDir()
	a := archivetest.New(t, dir, nil)
	jobs := []Job{{Name: "sentinel", Kind: KindSTAC, Schedule: "1d", Case: "sat", API: srv.URL + "/", Collections: []string{stactest.Collection},
		Lookback: Duration(3650 * 24 * time.Hour), Assets: []string{"visual"}, InsecureAllowPrivate: true}}
	run := start(t, dir, "", Options{Jobs: jobs, Archive: a, Downloads: filepath.Join(dir, "downloads")})
	q := run.q
	scenes := func(n int) func() bool { return run.files(t, "sentinel", "archived", n) }
	waitFor(t, "three scenes", scenes(3))
	asset := stactest.AssetPath(1, "visual")
	fetched := srv.Requests(asset)
	if fetched == 0 {
		t.Fatal("the asset was never fetched")
	}
	// Nothing new: nothing fetched.
	if _, err := Enqueue(ctx, q, jobs, "sentinel", false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second run", func() bool {
		return count(t, q, `SELECT COUNT(*) FROM exhibit_run WHERE job = 'sentinel' AND outcome = 'ok'`) == 2
	})
	if srv.Requests(asset) != fetched || count(t, q, `SELECT COUNT(*) FROM exhibit_file`) != 3 {
		t.Fatalf("the second run fetched again (%d requests, %d before)", srv.Requests(asset), fetched)
	}
	// Reprocessed at the provider: acquired again.
	srv.SetAsset(asset, append([]byte("reprocessed "), srv.Asset(1, "visual")...))
	if _, err := Enqueue(ctx, q, jobs, "sentinel", false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reprocessed scene", scenes(4))
	run.stop(t)
	res, err := a.Verify(ctx, archive.Selection{Case: "sat"}, archive.VerifyOptions{}, func(*verify.ItemReport) {})
	if err != nil || res.Report.Status == verify.Fail {
		t.Fatalf("verify: %v %s", err, res.Report.Status)
	}
}

// TestURLsJob: a urls job captures each URL with the real headless
// browser, each run a new capture, archived as a WACZ under a record of
// kind web; a URL that cannot be fetched is a failure of the run, and the
// others are archived all the same.
func TestURLsJob(t *testing.T) {
	testenv.Program(t, "chromium-headless-shell", browser.DefaultExec)
	ctx := context.Background()
	srv := webtest.Site(t)
	dir := t.TempDir()
	a := archivetest.New(t, dir, nil)
	list := filepath.Join(dir, "urls.txt")
	os.WriteFile(list, []byte("# the morning list\n"+srv.URL+"/post/123\n"), 0o644)
	jobs := []Job{{Name: "morning", Kind: KindURLs, Schedule: "1d", Case: "web", URLsFile: list,
		URLs: []string{"https://127.0.0.1:1/unreachable"}}}
	run := start(t, dir, "", Options{Jobs: jobs, Archive: a,
		Web: web.Options{RootCAs: webtest.Roots(srv), InsecureAllowPrivate: true, TempDir: t.TempDir(), Software: "exhibit test"}})
	q := run.q
	waitFor(t, "the first run", func() bool {
		return count(t, q, `SELECT COUNT(*) FROM exhibit_run WHERE job = 'morning' AND items = 1 AND failures = 1`) == 1
	})
	run.stop(t)
	ids, err := a.ItemIDs(ctx)
	if err != nil || len(ids) != 1 {
		t.Fatalf("%d items (%v)", len(ids), err)
	}
	rec, err := a.Record(ctx, ids[0])
	if err != nil || rec.Statement.Predicate.Acquisition.Kind != "web" || rec.Statement.Predicate.Case != "web" {
		t.Fatalf("record: %v %+v", err, rec)
	}
}
