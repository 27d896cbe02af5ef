package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/openexhibit/exhibit/storage"
)

// Placement (storage.Placer) writes large content at the key it will keep,
// so that nothing is copied on the server once its digest is known. Its
// crash protocol uses two markers under .tmp/, named after the key:
//
//   - .tmp/place/<key>, written before the upload starts: a placement is
//     under way at <key>;
//   - .tmp/keep/<key>, written by Keep before the link: "<linkKey>\n" and
//     the link's bytes.
//
// Keep removes both once the content has its retention; Discard removes
// the content and then both. CleanupStale resolves a stale place marker:
// without a keep marker no link can name the content, which is removed;
// with one, the content is adopted (given the link's retention and legal
// hold) when the link holds the noted bytes, and removed otherwise.
const (
	placeMarkers = "place/"
	keepMarkers  = "keep/"
)

func (s *Store) placeMarker(key string) string { return s.tmpPrefix() + placeMarkers + key }
func (s *Store) keepMarker(key string) string  { return s.tmpPrefix() + keepMarkers + key }

// StageAt implements storage.Placer. Content up to Options.SmallObjectMax
// is staged in memory as by Stage; larger content is uploaded to key, which
// must not exist, without retention.
//
// In a bucket whose Object Lock configuration sets a default retention the
// server locks the upload (and the markers) as it writes them: a duplicate
// that Keep or Discard removes, and a crashed placement, then stay until
// that retention ends, and CleanupStale reports them until then. Per-object
// retention (set by Keep once the content is known to be new) leaves no
// such orphan; prefer it.
func (s *Store) StageAt(ctx context.Context, key string, r io.Reader, size int64) (storage.Staged, error) {
	name, err := s.checkKey("stage", key)
	if err != nil {
		return nil, err
	}
	if size <= s.opts.SmallObjectMax {
		m, rest, err := s.stageSmall(ctx, r, size)
		if err != nil || m != nil {
			return m, err
		}
		r, size = rest, -1 // more than fits in memory: it goes to key
	}
	if err := s.absent(ctx, "stage", key, name); err != nil {
		return nil, err
	}
	marker := s.placeMarker(key)
	if err := s.putMarker(ctx, marker, nil); err != nil {
		return nil, wrapErr("stage", key, err)
	}
	t := &tmpStaged{s: s, name: name, key: key, markers: []string{marker, s.keepMarker(key)}}
	t.w, err = s.upload(ctx, name, r, size, minio.PutObjectOptions{}, true, []byte{})
	if err == nil {
		_, err = s.confirm(ctx, key, name, t.w)
	}
	if err != nil {
		if isPreconditionFailed(err) {
			// Someone else's object: only the marker is ours to remove.
			_ = s.removeAll(ctx, marker)
			err = fmt.Errorf("%w: %w", storage.ErrExists, err)
		} else {
			_ = t.discard(ctx)
		}
		return nil, wrapErr("stage", key, err)
	}
	return t, nil
}

// putMarker writes a small object under .tmp/, unconditionally.
func (s *Store) putMarker(ctx context.Context, name string, data []byte) error {
	_, err := s.client.PutObject(ctx, s.opts.Bucket, name, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{DisableContentSha256: true})
	return err
}

// Key implements storage.Placed.
func (t *tmpStaged) Key() string { return t.key }

// Keep implements storage.Placed.
func (t *tmpStaged) Keep(ctx context.Context, linkKey string, link []byte, opts storage.PutOptions) (storage.Object, error) {
	t.mu.Lock()
	spent := t.spent
	t.spent = true
	t.mu.Unlock()
	if spent {
		return storage.Object{}, fmt.Errorf("storage/s3: keep %s: %w", t.key, errSpent)
	}
	s := t.s
	if err := expectation(opts.Size, t.w.size, opts.SHA256, t.w.sha256); err != nil {
		t.discard(ctx)
		return storage.Object{}, fmt.Errorf("storage/s3: keep %s: %w", t.key, err)
	}
	if _, err := s.lockOptions(ctx, "keep", t.key, opts); err != nil {
		t.discard(ctx)
		return storage.Object{}, err
	}
	note := append([]byte(linkKey+"\n"), link...)
	if err := s.putMarker(ctx, s.keepMarker(t.key), note); err != nil {
		// No link was written: the content can go.
		t.discard(ctx)
		return storage.Object{}, wrapErr("keep", t.key, err)
	}
	lopts := storage.PutOptions{Size: int64(len(link)), ContentType: "application/json", Retention: opts.Retention, LegalHold: opts.LegalHold}
	if _, err := s.write(ctx, "keep", linkKey, nil, link, lopts); err != nil {
		mine := false
		if errors.Is(err, storage.ErrExists) {
			// A retried write whose first try landed meets its own link.
			got, rerr := storage.ReadAll(ctx, s, linkKey, int64(len(link))+1)
			if errors.Is(rerr, storage.ErrTooLarge) {
				got, rerr = nil, nil // another link
			}
			if rerr != nil {
				t.keep() // cannot tell: CleanupStale settles it
				return storage.Object{}, errors.Join(err, rerr)
			}
			mine = bytes.Equal(got, link)
			if !mine {
				if derr := t.discard(ctx); derr != nil {
					return storage.Object{}, errors.Join(err, derr)
				}
				return storage.Object{}, err
			}
		}
		if !mine {
			// The link may exist: CleanupStale settles it.
			t.keep()
			return storage.Object{}, err
		}
	}
	t.keep()
	obj, err := s.retain(ctx, "keep", t.key, t.name, t.w.info.VersionID, opts)
	if err != nil {
		return storage.Object{}, err
	}
	t.removeMarkers(ctx)
	return obj, nil
}

// keep makes later Discards leave the content where it is: a link may
// name it.
func (t *tmpStaged) keep() { t.remove.Do(func() {}) }

// Retain implements storage.Retainer.
func (s *Store) Retain(ctx context.Context, key, versionID string, opts storage.PutOptions) (storage.Object, error) {
	name, err := s.checkKey("retain", key)
	if err != nil {
		return storage.Object{}, err
	}
	if _, err := s.lockOptions(ctx, "retain", key, opts); err != nil {
		return storage.Object{}, err
	}
	return s.retain(ctx, "retain", key, name, versionID, opts)
}

// retain sets retention and legal hold on one object version where it has
// less, and returns the object as it is then.
func (s *Store) retain(ctx context.Context, op, key, name, versionID string, opts storage.PutOptions) (storage.Object, error) {
	stat := func() (storage.Object, error) {
		oi, err := s.client.StatObject(ctx, s.opts.Bucket, name, minio.StatObjectOptions{VersionID: versionID})
		if err != nil {
			return storage.Object{}, wrapErr(op, key, err)
		}
		return objectOf(key, oi), nil
	}
	obj, err := stat()
	if err != nil || (opts.Retention.IsZero() && !opts.LegalHold) {
		return obj, err
	}
	if r := opts.Retention; !r.IsZero() && weaker(obj.Retention, r) {
		mode, until := minio.RetentionMode(r.Mode), r.Until.UTC()
		if obj.Retention.Mode == storage.Compliance {
			mode = minio.Compliance // a compliance retention cannot become governance
		}
		if obj.Retention.Until.After(until) {
			until = obj.Retention.Until.UTC() // nor end sooner
		}
		// Governance becoming compliance is an override to S3, allowed
		// with the bypass header (and permission); it only ever
		// strengthens here, the date never moving sooner.
		bypass := obj.Retention.Mode == storage.Governance && mode == minio.Compliance
		err := s.client.PutObjectRetention(ctx, s.opts.Bucket, name, minio.PutObjectRetentionOptions{Mode: &mode, RetainUntilDate: &until, VersionID: versionID, GovernanceBypass: bypass})
		if err != nil {
			return storage.Object{}, wrapErr(op, key, fmt.Errorf("set retention: %w", err))
		}
	}
	if opts.LegalHold && !obj.LegalHold {
		on := minio.LegalHoldEnabled
		if err := s.client.PutObjectLegalHold(ctx, s.opts.Bucket, name, minio.PutObjectLegalHoldOptions{Status: &on, VersionID: versionID}); err != nil {
			return storage.Object{}, wrapErr(op, key, fmt.Errorf("set legal hold: %w", err))
		}
	}
	return stat()
}

// weaker reports whether the retention in force (have) ends before want
// does, or is governance where compliance is wanted.
func weaker(have, want storage.Retention) bool {
	if have.IsZero() || have.Until.Before(want.Until) {
		return true
	}
	return have.Mode == storage.Governance && want.Mode == storage.Compliance
}

// removeMarkers removes a placement's markers in order, best effort:
// CleanupStale removes what is left. The place marker goes first: a keep
// marker left alone is only a note, while a place marker left without its
// keep marker would say that no link can name the content.
func (t *tmpStaged) removeMarkers(ctx context.Context) {
	for _, m := range t.markers {
		_ = t.s.removeAll(ctx, m)
	}
}

// removeAll removes every version of the object name, even when ctx is
// canceled.
func (s *Store) removeAll(ctx context.Context, name string) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupLimit)
	defer cancel()
	var errs []error
	for oi := range s.client.ListObjectsIter(rctx, s.opts.Bucket, minio.ListObjectsOptions{Prefix: name, WithVersions: true}) {
		if oi.Err != nil {
			return oi.Err
		}
		if oi.Key != name {
			continue
		}
		if err := s.client.RemoveObject(rctx, s.opts.Bucket, name, minio.RemoveObjectOptions{VersionID: oi.VersionID}); err != nil && classify(err) != storage.ErrNotFound {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// cleanupPlacements resolves placements whose place marker is older than
// cutoff (see the comment at the top of this file).
func (s *Store) cleanupPlacements(ctx context.Context, cutoff time.Time) error {
	var stale []string
	prefix := s.tmpPrefix() + placeMarkers
	for oi := range s.client.ListObjectsIter(ctx, s.opts.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if oi.Err != nil {
			return wrapErr("cleanup", s.Location(), oi.Err)
		}
		if oi.LastModified.Before(cutoff) {
			stale = append(stale, strings.TrimPrefix(oi.Key, prefix))
		}
	}
	var errs []error
	for _, key := range stale {
		if err := s.resolvePlacement(ctx, key); err != nil {
			errs = append(errs, wrapErr("cleanup: placement at", key, err))
		}
	}
	// Keep markers left alone by a run stopped between removing its two
	// markers: notes of a placement that finished.
	keeps := s.tmpPrefix() + keepMarkers
	for oi := range s.client.ListObjectsIter(ctx, s.opts.Bucket, minio.ListObjectsOptions{Prefix: keeps, Recursive: true}) {
		if oi.Err != nil {
			return errors.Join(append(errs, wrapErr("cleanup", s.Location(), oi.Err))...)
		}
		if !oi.LastModified.Before(cutoff) {
			continue
		}
		key := strings.TrimPrefix(oi.Key, keeps)
		if _, err := s.client.StatObject(ctx, s.opts.Bucket, s.placeMarker(key), minio.StatObjectOptions{}); classify(err) == storage.ErrNotFound {
			_ = s.removeAll(ctx, oi.Key)
		}
	}
	return errors.Join(errs...)
}

// resolvePlacement adopts or removes the content of one unfinished
// placement, then removes its markers.
func (s *Store) resolvePlacement(ctx context.Context, key string) error {
	name, err := s.checkKey("cleanup", key)
	if err != nil {
		return err
	}
	adopt, err := s.linked(ctx, key)
	if err != nil {
		return err
	}
	if adopt != nil {
		oi, err := s.client.StatObject(ctx, s.opts.Bucket, name, minio.StatObjectOptions{})
		if err != nil && classify(err) != storage.ErrNotFound {
			return err
		}
		if err == nil {
			if _, err := s.retain(ctx, "cleanup", key, name, oi.VersionID, *adopt); err != nil {
				return err
			}
		}
	} else if err := s.removeAll(ctx, name); err != nil {
		return fmt.Errorf("remove the unlinked content: %w", err)
	}
	t := &tmpStaged{s: s, markers: []string{s.placeMarker(key), s.keepMarker(key)}}
	t.removeMarkers(ctx)
	return nil
}

// linked reads the keep marker of the placement at key and returns the
// link's retention and legal hold when the link it notes holds the noted
// bytes (the placement's content is kept), or nil when there is no such
// link (the content is an orphan).
func (s *Store) linked(ctx context.Context, key string) (*storage.PutOptions, error) {
	note, err := s.readTmp(ctx, s.keepMarker(key))
	if err != nil || note == nil {
		return nil, err
	}
	linkKey, link, ok := bytes.Cut(note, []byte("\n"))
	if !ok {
		return nil, nil // cut short: Keep had not written the link yet
	}
	got, err := storage.ReadAll(ctx, s, string(linkKey), int64(len(link))+1)
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrTooLarge):
		return nil, nil
	case err != nil:
		return nil, err
	case !bytes.Equal(got, link):
		return nil, nil
	}
	obj, err := s.Stat(ctx, string(linkKey))
	if err != nil {
		return nil, err
	}
	return &storage.PutOptions{Retention: obj.Retention, LegalHold: obj.LegalHold}, nil
}

// readTmp reads a marker: nil when it does not exist.
func (s *Store) readTmp(ctx context.Context, name string) ([]byte, error) {
	obj, err := s.client.GetObject(ctx, s.opts.Bucket, name, minio.GetObjectOptions{})
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	data, err := io.ReadAll(io.LimitReader(obj, 1<<20))
	if classify(err) == storage.ErrNotFound {
		return nil, nil
	}
	return data, err
}

var (
	_ storage.Placer   = (*Store)(nil)
	_ storage.Retainer = (*Store)(nil)
)
