package worker

import (
	"context"
	"time"
)

// Run is one run of a job, as exhibit jobs history shows it.
type Run struct {
	Job      string    `json:"job"`
	Kind     string    `json:"kind"`
	Attempt  int       `json:"attempt"`
	Worker   string    `json:"worker"`
	Started  time.Time `json:"started"`
	Ended    time.Time `json:"ended"`
	Outcome  string    `json:"outcome"`
	Items    int       `json:"items"`
	Bytes    int64     `json:"bytes"`
	Failures int       `json:"failures"`
	Detail   string    `json:"detail"`
}

// History is the last limit runs of job name (of every job when name is
// empty), newest first.
func History(ctx context.Context, q *Queue, name string, limit int) ([]Run, error) {
	query := `SELECT job, kind, attempt, worker, started_at, ended_at, outcome, items, bytes, failures, detail FROM exhibit_run`
	var args []any
	if name != "" {
		query += ` WHERE job = ?`
		args = append(args, name)
	}
	query += ` ORDER BY started_at DESC, id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var r Run
		var s, e int64
		if err := rows.Scan(&r.Job, &r.Kind, &r.Attempt, &r.Worker, &s, &e, &r.Outcome, &r.Items, &r.Bytes, &r.Failures, &r.Detail); err != nil {
			return nil, err
		}
		r.Started, r.Ended = time.Unix(0, s).UTC(), time.Unix(0, e).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}
