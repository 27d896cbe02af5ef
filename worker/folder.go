package worker

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/riverqueue/river"

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
	Job string `json:"job"`
}

func (scanArgs) Kind() string { return "exhibit.scan" }

type batchArgs struct {
	Job   string `json:"job"`
	Batch string `json:"batch"`
}

func (batchArgs) Kind() string { return "exhibit.batch" }

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

type scanWorker struct {
	river.WorkerDefaults[scanArgs]
	w *Worker
}

func (s *scanWorker) Timeout(j *river.Job[scanArgs]) time.Duration {
	return s.w.timeout(j.Args.Job)
}

func (s *scanWorker) Work(ctx context.Context, j *river.Job[scanArgs]) error {
	return s.w.run(ctx, j.JobRow, j.Args.Job, "scan", func(ctx context.Context, job Job, r *runResult) error {
		var fresh []found
		var err error
		if job.Kind == KindS3Inbox {
			fresh, err = s.w.listInbox(ctx, job, r)
		} else {
			fresh, err = s.w.listFolder(ctx, job, r)
		}
		if err != nil {
			return err
		}
		return s.w.recordAndDeal(ctx, job, fresh, r)
	})
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
	rows, err := w.o.Queue.query(ctx, `SELECT path, size, mtime, version FROM exhibit_file WHERE job = ?`, j.Name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var f found
		if err := rows.Scan(&f.path, &f.size, &f.mtime, &f.version); err != nil {
			return nil, err
		}
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
	ON CONFLICT (job, path, size, mtime, version) DO NOTHING`), j.Name, f.path, f.size, f.mtime, f.version, fileNew, now.UnixNano()); err != nil {
				tx.Rollback()
				return err
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	batches, err := w.dealBatches(ctx, j)
	r.items = len(fresh)
	r.detail = fmt.Sprintf("%d new in %d batches; %s", len(fresh), batches, r.detail)
	return err
}

func (f found) key() string { return fmt.Sprintf("%d %d %s %s", f.size, f.mtime, f.version, f.path) }

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
		_, opts := argsFor(j, false)
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

type batchWorker struct {
	river.WorkerDefaults[batchArgs]
	w *Worker
}

func (b *batchWorker) Timeout(j *river.Job[batchArgs]) time.Duration {
	return b.w.timeout(j.Args.Job)
}

func (b *batchWorker) Work(ctx context.Context, j *river.Job[batchArgs]) error {
	return b.w.run(ctx, j.JobRow, j.Args.Job, "batch", func(ctx context.Context, job Job, r *runResult) error {
		final := j.Attempt >= j.MaxAttempts
		if job.Kind == KindS3Inbox {
			return b.w.inboxBatch(ctx, job, j.Args.Batch, final, r)
		}
		return b.w.ingestBatch(ctx, job, j.Args.Batch, final, r)
	})
}

// ingestBatch ingests a batch's files that are still queued, in one run.
// A file changed since the scan is left to the next scan (its new version);
// one gone is marked missing. When some file failed for a reason a retry
// may cure, the run fails and the queue runs it again: the files archived
// meanwhile are done and not taken again. On the last attempt (final) a
// failure is recorded as the file's state.
func (w *Worker) ingestBatch(ctx context.Context, j Job, batch string, final bool, r *runResult) error {
	q := w.o.Queue
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
			if !final && (ctx.Err() != nil || !errors.Is(res.Err, fs.ErrNotExist)) {
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
	case rep.LogErr != nil:
		// The items are archived; their events are logged by the retry,
		// which finds them archived without an ingested event.
		return fmt.Errorf("custody log: %w", rep.LogErr)
	case retry > 0:
		w.metrics.items.WithLabelValues(fileFailed).Add(float64(retry))
		return fmt.Errorf("%d of %d files failed; the batch runs again", retry, len(paths))
	}
	return nil
}

func (w *Worker) setFile(ctx context.Context, id int64, state, item, detail string) error {
	_, err := w.o.Queue.exec(ctx, `UPDATE exhibit_file SET state = ?, item = ?, detail = ?, done_at = ? WHERE id = ?`,
		state, sql.NullString{String: item, Valid: item != ""}, sql.NullString{String: detail, Valid: detail != ""}, time.Now().UnixNano(), id)
	return err
}
