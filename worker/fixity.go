package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/openexhibit/exhibit/archive"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/verify"
)

// A fixity job re-verifies the archive: each run the items checked longest
// ago (never checked first), Sample of them, and every FullEvery a full
// pass, which also finds items the custody log records and the archive
// lost. Every result goes on the custody log as a fixity-checked event
// (one per item for a sample; for a full pass one naming the run's result
// set). An item that does not verify is an alert: an error log line, the
// exhibit_worker_fixity_failures_total metric, and the webhook.

type fixityArgs struct {
	Job  string `json:"job"`
	Full bool   `json:"full,omitempty"`
	Slot string `json:"slot,omitempty"`
}

func (fixityArgs) Kind() string  { return "exhibit.fixity" }
func (a fixityArgs) job() string { return a.Job }

func (w *Worker) fixity(ctx context.Context, j Job, full bool, r *runResult) error {
	q := w.o.Queue
	key := "fixity-full:" + j.Name
	last, err := q.state(ctx, key)
	if err != nil {
		return err
	}
	if ns, err := strconv.ParseInt(last, 10, 64); err != nil || time.Since(time.Unix(0, ns)) >= time.Duration(j.FullEvery) {
		full = true
	}
	sel := archive.Selection{All: true}
	if !full {
		if sel, err = w.sample(ctx, j.Sample); err != nil {
			return err
		}
		if len(sel.Items) == 0 {
			r.detail = "the archive holds no items"
			return nil
		}
	}
	started := time.Now()
	var failed []string
	results := map[string]string{}
	ver, err := w.o.Archive.Verify(ctx, sel, archive.VerifyOptions{Fixity: true}, func(ir *verify.ItemReport) {
		r.items++
		result := "pass"
		if ir.Status != verify.Pass && ir.Status != verify.Warn {
			result = "fail"
			failed = append(failed, ir.Item)
		}
		results[ir.Item] = result
	})
	if err != nil {
		if archive.KindOf(err) == archive.KindNotFound {
			r.detail = "the archive holds no items"
			return nil
		}
		return err
	}
	r.failures = len(failed)
	for item, result := range results {
		if _, err := q.exec(ctx, `INSERT INTO exhibit_fixity (item, checked_at, result) VALUES (?, ?, ?)
	ON CONFLICT (item) DO UPDATE SET checked_at = excluded.checked_at, result = excluded.result`, item, started.UnixNano(), result); err != nil {
			return err
		}
	}
	what := "sample"
	if full {
		what = "full pass"
		if err := q.setState(ctx, key, strconv.FormatInt(started.UnixNano(), 10)); err != nil {
			return err
		}
	}
	r.detail = fmt.Sprintf("%s: %d items, %d not intact", what, r.items, len(failed))
	if len(failed) > 0 {
		w.metrics.fixity.Add(float64(len(failed)))
		for _, item := range failed {
			w.o.Logger.Error("fixity: item not intact; run exhibit verify on it", "job", j.Name, "item", item)
		}
		if j.Webhook != "" {
			if err := notify(ctx, j.Webhook, j.Name, what, failed); err != nil {
				// The error would name the URL, which may carry a token.
				w.o.Logger.Error("fixity: webhook not delivered", "job", j.Name, "error", webhookErr(err))
			}
		}
	}
	if ver.LogErr != nil {
		return fmt.Errorf("the audit is not on the custody log: %w", ver.LogErr)
	}
	if ver.KeyErr != nil {
		return fmt.Errorf("the audit is not on the custody log (the log key did not open): %w", ver.KeyErr)
	}
	return nil
}

// sample is the n items checked longest ago, never-checked ones first.
func (w *Worker) sample(ctx context.Context, n int) (archive.Selection, error) {
	ids, err := w.o.Archive.ItemIDs(ctx)
	if err != nil {
		return archive.Selection{}, err
	}
	checked := map[string]int64{}
	rows, err := w.o.Queue.query(ctx, `SELECT item, checked_at FROM exhibit_fixity`)
	if err != nil {
		return archive.Selection{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var item string
		var at int64
		if err := rows.Scan(&item, &at); err != nil {
			return archive.Selection{}, err
		}
		checked[item] = at
	}
	if err := rows.Err(); err != nil {
		return archive.Selection{}, err
	}
	slices.SortStableFunc(ids, func(a, b hashing.Digest) int {
		return int(max(min(checked[a.String()]-checked[b.String()], 1), -1))
	})
	var sel archive.Selection
	for _, id := range ids[:min(n, len(ids))] {
		sel.Items = append(sel.Items, archive.Target{ID: id})
	}
	return sel, nil
}

// notify POSTs the failures to the webhook: the job, the kind of run and
// the item IDs (no names or metadata).
func notify(ctx context.Context, url, job, what string, items []string) error {
	body, _ := json.Marshal(map[string]any{"event": "fixity-failed", "job": job, "run": what, "items": items,
		"time": time.Now().UTC().Format(time.RFC3339)})
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return &webhookStatus{resp.StatusCode}
	}
	return nil
}

type webhookStatus struct{ code int }

func (e *webhookStatus) Error() string { return fmt.Sprintf("webhook answered %d", e.code) }

// webhookErr says what went wrong without the URL.
func webhookErr(err error) string {
	var st *webhookStatus
	var ue *url.Error
	switch {
	case errors.As(err, &st):
		return st.Error()
	case errors.As(err, &ue):
		return fmt.Sprintf("%T", ue.Err)
	}
	return "request failed"
}
