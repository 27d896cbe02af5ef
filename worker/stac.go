package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/openexhibit/exhibit/acquire/stac"
	"github.com/openexhibit/exhibit/archive"
	"github.com/openexhibit/exhibit/capture/geo"
	"github.com/openexhibit/exhibit/capture/readers"
	"github.com/openexhibit/exhibit/ingest"
)

// A stac job runs a saved search over a sliding window (the last
// Lookback) and acquires each scene it has not acquired before, as
// `exhibit stac acquire` does: the item as served, the assets asked for,
// each checked against the provider's checksum. A scene is recorded in
// exhibit_file by collection and id, its version by the item's `updated`
// property (else the digest of its bytes), so that a reprocessed scene is
// acquired again, beside the first. A scene is claimed (state acquiring)
// before it is fetched, so that two runs never fetch the same one; a claim
// older than the job's timeout is a dead run's, and taken over.

const fileAcquiring = "acquiring"

func (w *Worker) acquireScenes(ctx context.Context, j Job, r *runResult) error {
	client := &stac.Client{HTTP: stac.HTTPClient(j.InsecureAllowPrivate, 2*time.Minute), UserAgent: "exhibit-worker"}
	dl := &stac.Downloader{HTTP: stac.HTTPClient(j.InsecureAllowPrivate, 0)}
	var sign func(context.Context, string) (string, error)
	if j.Sign == "planetary-computer" {
		sign = (&stac.SASSigner{Client: client}).Sign
	}
	landing, err := client.Landing(ctx, j.API)
	if err != nil {
		return fmt.Errorf("stac: %w", err)
	}
	now := time.Now().UTC()
	search := stac.Search{Collections: j.Collections, BBox: j.BBox, MaxCloud: j.MaxCloud, Limit: min(j.MaxItems, 100),
		Datetime: now.Add(-time.Duration(j.Lookback)).Format(time.RFC3339) + "/" + now.Format(time.RFC3339)}
	type scene struct {
		it *stac.Item
		at string
		f  found
	}
	var scenes []scene
	err = client.Search(ctx, landing, search, j.MaxItems, func(p *stac.Page) error {
		for _, it := range p.Items {
			scenes = append(scenes, scene{it, p.Raw.URL, found{path: it.Collection + "/" + it.ID, version: sceneVersion(it)}})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("stac: %w", err)
	}
	known, err := w.known(ctx, j)
	if err != nil {
		return err
	}
	// As exhibit stac acquire: each COG gets a preview, and with a bbox a
	// clip of the tiles over it.
	opts := w.o.Ingest
	opts.Case = j.Case
	var aoi *geo.AOI
	if bb := j.BBox; len(bb) == 4 {
		aoi = &geo.AOI{West: bb[0], South: bb[1], East: bb[2], North: bb[3]}
	}
	if opts.Readers, err = readers.WithScene(opts.Readers, aoi); err != nil {
		return err
	}
	failed := 0
	for _, sc := range scenes {
		if known[sc.f.key()] {
			if ok, err := w.claimStale(ctx, j, sc.f); err != nil || !ok {
				if err != nil {
					return err
				}
				continue
			}
		} else if ok, err := w.claim(ctx, j, sc.f); err != nil || !ok {
			if err != nil {
				return err
			}
			continue // another run's
		}
		id, err := w.sceneID(ctx, j, sc.f)
		if err != nil {
			return err
		}
		s, err := stac.Acquire(ctx, sc.it, sc.at, stac.AcquireOptions{Client: client, Downloader: dl, Assets: j.Assets,
			Dir: w.o.Downloads, API: j.API, Archived: w.o.Archive.Holds, Sign: sign})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// Left claimed: the next run past the timeout tries it again,
			// resuming its downloads.
			failed++
			w.o.Logger.Warn("stac: scene not acquired", "job", j.Name, "error", err.Error())
			continue
		}
		rep, err := w.o.Archive.Acquire(ctx, opts, []*archive.Acquisition{s.Acquisition})
		if err != nil {
			return err
		}
		if err := unfinished(ctx, rep); err != nil {
			return err
		}
		item, ok := "", true
		for _, res := range rep.Results {
			switch res.Status {
			case ingest.Archived, ingest.Repaired:
				r.bytes += res.Size
				w.metrics.bytes.Add(float64(res.Size))
				item = res.Item
			case ingest.Exists:
				item = cmpOr(item, res.Item)
			default:
				ok = false
			}
		}
		if !ok {
			failed++
			continue // the downloads stay for the next run
		}
		s.Remove()
		r.items++
		w.metrics.items.WithLabelValues(fileArchived).Inc()
		if err := w.setFile(context.WithoutCancel(ctx), id, fileArchived, item, ""); err != nil {
			return err
		}
	}
	r.failures = failed
	r.detail = fmt.Sprintf("%d scenes found, %d acquired, %d failed", len(scenes), r.items, failed)
	if failed > 0 {
		return fmt.Errorf("%d of %d new scenes were not acquired; the next run tries them again", failed, failed+r.items)
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// sceneVersion is the item's `updated` property, else the digest of its
// bytes.
func sceneVersion(it *stac.Item) string {
	var updated string
	if raw, ok := it.Properties["updated"]; ok && json.Unmarshal(raw, &updated) == nil && updated != "" {
		return "updated:" + updated
	}
	sum := sha256.Sum256(it.Raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// claim records a scene as being acquired by this run; false when
// another run recorded it first.
func (w *Worker) claim(ctx context.Context, j Job, f found) (bool, error) {
	res, err := w.o.Queue.exec(ctx, `INSERT INTO exhibit_file (job, path, size, mtime, version, state, seen_at) VALUES (?, ?, 0, 0, ?, ?, ?)
	ON CONFLICT (job, path, size, mtime, version) DO NOTHING`, j.Name, encodePath(f.path), f.version, fileAcquiring, time.Now().UnixNano())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// claimStale takes over a scene claimed by a run that has not finished it
// within the job's timeout (it died, or failed on it).
func (w *Worker) claimStale(ctx context.Context, j Job, f found) (bool, error) {
	now := time.Now()
	res, err := w.o.Queue.exec(ctx, `UPDATE exhibit_file SET seen_at = ? WHERE job = ? AND path = ? AND version = ? AND state = ? AND seen_at < ?`,
		now.UnixNano(), j.Name, encodePath(f.path), f.version, fileAcquiring, now.Add(-time.Duration(j.Timeout)).UnixNano())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (w *Worker) sceneID(ctx context.Context, j Job, f found) (int64, error) {
	var id int64
	err := w.o.Queue.queryRow(ctx, `SELECT id FROM exhibit_file WHERE job = ? AND path = ? AND version = ?`, j.Name, encodePath(f.path), f.version).Scan(&id)
	return id, err
}
