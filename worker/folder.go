package worker

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/openexhibit/exhibit/archive"
	"github.com/openexhibit/exhibit/ingest"
)

// A folder or s3-inbox job runs in two steps. A scan lists the folder (or
// the bucket's prefix) and records each file that has stopped changing (by
// path, size, modification time and, for an object, its ETag) in
// exhibit_file, once: a file seen again unchanged is not taken again, and
// a changed one is a new version, taken again. It then deals the new
// files out in batches, each a queue job that any worker may run; a file
// is put in a batch by one UPDATE that only takes files in none, so no
// file goes in two. A batch ingests its files in one run (one custody
// checkpoint). A file that disappears is never taken as deletion of
// evidence: its rows and items stay.

type scanArgs struct {
	Job  string `json:"job"`
	Slot string `json:"slot,omitempty"`
}

func (scanArgs) Kind() string  { return "exhibit.scan" }
func (a scanArgs) job() string { return a.Job }

type batchArgs struct {
	Job   string `json:"job"`
	Batch string `json:"batch"`
}

func (batchArgs) Kind() string  { return "exhibit.batch" }
func (a batchArgs) job() string { return a.Job }

// File states in exhibit_file.
const (
	fileNew      = "new"      // seen, in no batch yet
	fileQueued   = "queued"   // in a batch not yet run
	fileArchived = "archived" // ingested: a new item
	fileExists   = "exists"   // ingested: the archive held its bytes already
	fileSkipped  = "skipped"  // not a file ingest takes (the reason in detail)
	fileFailed   = "failed"   // ingest failed on it (the error in detail)
	fileChanged  = "changed"  // changed after it was seen (its new version is another row)
	fileMissing  = "missing"  // gone before its batch ran (never a deletion of evidence)
)

// scan runs a scan: a stac or urls job's whole run; for a folder or an
// s3-inbox, what is new, recorded and dealt out in batches.
func (w *Worker) scan(ctx context.Context, _ *river.Job[scanArgs], job Job, r *runResult) error {
	switch job.Kind {
	case KindSTAC:
		return w.acquireScenes(ctx, job, r)
	case KindURLs:
		return w.captureURLs(ctx, job, r)
	}
	var fresh []found
	var err error
	if job.Kind == KindS3Inbox {
		fresh, err = w.listInbox(ctx, job, r)
	} else {
		fresh, err = w.listFolder(ctx, job, r)
	}
	if err != nil {
		return err
	}
	return w.recordAndDeal(ctx, job, fresh, r)
}

// found is a file (or object) a scan found settled and not yet recorded.
type found struct {
	path        string
	size, mtime int64
	version     string // an object's ETag; empty for a file
}

func (w *Worker) timeout(name string) time.Duration {
	if j, ok := w.byName[name]; ok {
		return time.Duration(j.Timeout)
	}
	return time.Minute
}

// partial says whether a file name is one that sync tools and browsers
// give a file still arriving.
func partial(name string) bool {
	lower := strings.ToLower(name)
	for _, suffix := range []string{".part", ".partial", ".tmp", ".crdownload", ".download", ".!sync", ".filepart"} {
		if strings.HasSuffix(lower, suffix) {
			return true
		}
	}
	return strings.HasPrefix(name, ".syncthing.") || strings.HasPrefix(name, "~$") || strings.HasPrefix(name, ".~lock.")
}

// known is the set of files the job has recorded.
func (w *Worker) known(ctx context.Context, j Job) (map[string]bool, error) {
	known := map[string]bool{}
	// Files marked missing or failed are found again when they are there
	// again (a share remounted), and taken again.
	rows, err := w.o.Queue.query(ctx, `SELECT path, size, mtime, version FROM exhibit_file WHERE job = ? AND state NOT IN (?, ?)`, j.Name, fileMissing, fileFailed)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var f found
		if err := rows.Scan(&f.path, &f.size, &f.mtime, &f.version); err != nil {
			return nil, err
		}
		f.path = decodePath(f.path)
		known[f.key()] = true
	}
	return known, rows.Err()
}

// listFolder lists the folder's settled files not yet recorded.
func (w *Worker) listFolder(ctx context.Context, j Job, r *runResult) ([]found, error) {
	known, err := w.known(ctx, j)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(j.Path)
	if err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("folder %s cannot be read (mounted? permissions?): %v", j.Path, err)
	}
	now := time.Now()
	var fresh []found
	unsettled, unreadable := 0, 0
	err = filepath.WalkDir(j.Path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == j.Path {
				return err
			}
			unreadable++
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() || !d.Type().IsRegular() || partial(d.Name()) {
			return nil // symbolic links, devices and files still arriving are not taken
		}
		info, err := d.Info()
		if err != nil {
			unreadable++
			return nil
		}
		if now.Sub(info.ModTime()) < time.Duration(j.Stable) {
			unsettled++
			return nil
		}
		f := found{path: p, size: info.Size(), mtime: info.ModTime().UnixNano()}
		if !known[f.key()] {
			fresh = append(fresh, f)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("folder %s: %w", j.Path, err)
	}
	r.detail = fmt.Sprintf("%d still changing; %d unreadable", unsettled, unreadable)
	return fresh, nil
}

// recordAndDeal records the new files and deals them out in batches.
func (w *Worker) recordAndDeal(ctx context.Context, j Job, fresh []found, r *runResult) error {
	q := w.o.Queue
	now := time.Now()
	// New files, in one transaction per thousand.
	for start := 0; start < len(fresh); start += 1000 {
		tx, err := q.DB.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		for _, f := range fresh[start:min(start+1000, len(fresh))] {
			if _, err := tx.ExecContext(ctx, q.rebind(`INSERT INTO exhibit_file (job, path, size, mtime, version, state, seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (job, path, size, mtime, version) DO UPDATE SET state = excluded.state, batch = NULL, seen_at = excluded.seen_at
	WHERE exhibit_file.state IN (?, ?)`), j.Name, encodePath(f.path), f.size, f.mtime, f.version, fileNew, now.UnixNano(), fileMissing, fileFailed); err != nil {
				tx.Rollback()
				return err
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	orphans, err := w.requeueOrphans(ctx, j)
	if err != nil {
		return err
	}
	batches, err := w.dealBatches(ctx, j)
	r.items = len(fresh) + orphans
	r.detail = fmt.Sprintf("%d new in %d batches; %s", len(fresh), batches, r.detail)
	return err
}

// encodePath makes a path storable as text in both databases: a name that
// is not UTF-8 (which Linux allows and PostgreSQL's text refuses) is kept
// as base64 after "b64:".
func encodePath(p string) string {
	if utf8.ValidString(p) && !strings.ContainsRune(p, 0) && !strings.HasPrefix(p, "b64:") {
		return p
	}
	return "b64:" + base64.StdEncoding.EncodeToString([]byte(p))
}

func decodePath(p string) string {
	if rest, ok := strings.CutPrefix(p, "b64:"); ok {
		if b, err := base64.StdEncoding.DecodeString(rest); err == nil {
			return string(b)
		}
	}
	return p
}

func (f found) key() string { return fmt.Sprintf("%d %d %s %s", f.size, f.mtime, f.version, f.path) }

// requeueOrphans deals again the files of batches that no queue job will
// run any more (a batch whose attempts ran out, or that was discarded
// after its worker died on the last one): their rows go back to new.
func (w *Worker) requeueOrphans(ctx context.Context, j Job) (int, error) {
	q := w.o.Queue
	rows, err := q.query(ctx, `SELECT DISTINCT batch FROM exhibit_file WHERE job = ? AND state = ?`, j.Name, fileQueued)
	if err != nil {
		return 0, err
	}
	var queued []string
	for rows.Next() {
		var b sql.NullString
		if err := rows.Scan(&b); err != nil {
			rows.Close()
			return 0, err
		}
		queued = append(queued, b.String)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(queued) == 0 {
		return 0, err
	}
	// The batches a queue job will still run. A batch's rows and its job
	// are committed together, so a queued row's job is listed here unless
	// it is gone.
	live := map[string]bool{}
	params := river.NewJobListParams().Kinds(batchArgs{}.Kind()).First(1000).
		States(rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable, rivertype.JobStateRunning, rivertype.JobStateScheduled)
	for {
		res, err := w.client.JobList(ctx, params)
		if err != nil {
			return 0, err
		}
		for _, row := range res.Jobs {
			var a batchArgs
			if json.Unmarshal(row.EncodedArgs, &a) == nil && a.Job == j.Name {
				live[a.Batch] = true
			}
		}
		if len(res.Jobs) < 1000 {
			break
		}
		params = params.After(res.LastCursor)
	}
	n := 0
	for _, b := range queued {
		if live[b] {
			continue
		}
		res, err := q.exec(ctx, `UPDATE exhibit_file SET state = ?, batch = NULL WHERE job = ? AND batch = ? AND state = ?`, fileNew, j.Name, b, fileQueued)
		if err != nil {
			return n, err
		}
		k, _ := res.RowsAffected()
		n += int(k)
	}
	if n > 0 {
		w.o.Logger.Warn("files of batches no queue job will run dealt again", "job", j.Name, "files", n)
	}
	return n, nil
}

// dealBatches puts the job's new files into batches and queues each: the
// files are assigned and the batch's queue job inserted in one
// transaction, so that no file is in a batch without a job, and no batch
// runs before its files are in it.
func (w *Worker) dealBatches(ctx context.Context, j Job) (int, error) {
	q := w.o.Queue
	n := 0
	for {
		rows, err := q.query(ctx, `SELECT id FROM exhibit_file WHERE job = ? AND state = ? ORDER BY id LIMIT ?`, j.Name, fileNew, j.Batch)
		if err != nil {
			return n, err
		}
		var ids []any
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return n, err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(ids) == 0 {
			return n, err
		}
		key := randomKey()
		_, opts := argsFor(j, false, "")
		args := append([]any{fileQueued, key, fileNew}, ids...)
		queued, err := w.insertWith(ctx, `UPDATE exhibit_file SET state = ?, batch = ? WHERE state = ? AND id IN (?`+strings.Repeat(", ?", len(ids)-1)+`)`,
			args, batchArgs{Job: j.Name, Batch: key}, opts)
		if err != nil {
			return n, fmt.Errorf("queue a batch: %w", err)
		}
		if queued {
			n++
		}
	}
}

// batch runs a batch of a folder or s3-inbox job.
func (w *Worker) batch(ctx context.Context, j *river.Job[batchArgs], job Job, r *runResult) error {
	final := j.Attempt >= j.MaxAttempts
	if job.Kind == KindS3Inbox {
		return w.inboxBatch(ctx, job, j.Args.Batch, final, r)
	}
	return w.ingestBatch(ctx, job, j.Args.Batch, final, r)
}

// ingestBatch ingests a batch's files that are still queued, in one run.
// A file changed since the scan is left to the next scan (its new version);
// one gone is marked missing. When some file failed for a reason a retry
// may cure, the run fails and the queue runs it again: the files archived
// meanwhile are done and not taken again. On the last attempt (final) a
// failure is recorded as the file's state.
func (w *Worker) ingestBatch(ctx context.Context, j Job, batch string, final bool, r *runResult) error {
	q := w.o.Queue
	if fi, err := os.Stat(j.Path); err != nil || !fi.IsDir() {
		// An unmounted share: its files are not missing; the retry waits.
		return fmt.Errorf("folder %s cannot be read (mounted? permissions?): %v", j.Path, err)
	}
	rows, err := q.query(ctx, `SELECT id, path, size, mtime FROM exhibit_file WHERE batch = ? AND state = ?`, batch, fileQueued)
	if err != nil {
		return err
	}
	byPath := map[string]int64{}
	var paths []string
	type change struct {
		id    int64
		state string
	}
	var changes []change
	for rows.Next() {
		var id, size, mtime int64
		var p string
		if err := rows.Scan(&id, &p, &size, &mtime); err != nil {
			rows.Close()
			return err
		}
		p = decodePath(p)
		fi, err := os.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			changes = append(changes, change{id, fileMissing})
		case err == nil && (fi.Size() != size || fi.ModTime().UnixNano() != mtime):
			changes = append(changes, change{id, fileChanged})
		default:
			byPath[p] = id
			paths = append(paths, p)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range changes {
		if err := w.setFile(ctx, c.id, c.state, "", ""); err != nil {
			return err
		}
		w.metrics.items.WithLabelValues(c.state).Inc()
	}
	if len(paths) == 0 {
		r.detail = "nothing left to ingest"
		return nil
	}
	opts := w.o.Ingest
	opts.Case = j.Case
	rep, err := w.o.Archive.Ingest(ctx, opts, paths)
	if err != nil {
		return err
	}
	if err := unfinished(ctx, rep); err != nil {
		// Every file stays queued: the retry finds the items archived
		// (exists), and logs or syncs what this run did not.
		return err
	}
	retry := 0
	for _, res := range rep.Results {
		id, ok := byPath[res.Path]
		if !ok {
			continue
		}
		state, detail := fileFailed, ""
		switch res.Status {
		case ingest.Archived, ingest.Repaired:
			state = fileArchived
			r.items++
			r.bytes += res.Size
			w.metrics.bytes.Add(float64(res.Size))
		case ingest.Exists:
			state = fileExists
		case ingest.Skipped:
			state, detail = fileSkipped, res.Reason
		default:
			if res.Err != nil {
				detail = res.Err.Error()
			}
			if !final && !errors.Is(res.Err, fs.ErrNotExist) {
				retry++
				continue // stays queued: the retry takes it
			}
		}
		if state == fileFailed {
			r.failures++
		}
		w.metrics.items.WithLabelValues(state).Inc()
		if err := w.setFile(context.WithoutCancel(ctx), id, state, res.Item, detail); err != nil {
			return err
		}
	}
	r.detail = fmt.Sprintf("%d files: %d archived", len(paths), r.items)
	switch {
	case retry > 0:
		w.metrics.items.WithLabelValues(fileFailed).Add(float64(retry))
		return fmt.Errorf("%d of %d files failed; the batch runs again", retry, len(paths))
	}
	return nil
}

// unfinished says why a run's results must not be recorded yet: it was
// cancelled (a drain: River runs it again without counting the attempt,
// since the error wraps context.Canceled), or its custody events or the
// store's sync are not done. Its files stay queued, and the rerun finds
// the archived ones archived (exists), which logs any event missing.
func unfinished(ctx context.Context, rep *archive.IngestReport) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("stopped before the batch was done: %w", ctx.Err())
	case rep.LogErr != nil:
		return fmt.Errorf("custody log: %w", rep.LogErr)
	case rep.SyncErr != nil:
		return fmt.Errorf("the store did not confirm the writes: %w", rep.SyncErr)
	}
	return nil
}

func (w *Worker) setFile(ctx context.Context, id int64, state, item, detail string) error {
	_, err := w.o.Queue.exec(ctx, `UPDATE exhibit_file SET state = ?, item = ?, detail = ?, done_at = ? WHERE id = ?`,
		state, sql.NullString{String: item, Valid: item != ""}, sql.NullString{String: detail, Valid: detail != ""}, time.Now().UnixNano(), id)
	return err
}
