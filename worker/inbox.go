package worker

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/tags"

	"github.com/openexhibit/exhibit/archive"
	"github.com/openexhibit/exhibit/ingest"
)

// An s3-inbox job takes the objects partners drop under a bucket prefix:
// each settled object (by key, size, time and ETag) once, streamed into
// the archive as an acquisition of kind s3 whose provenance names where it
// was and which version. The object is left in place, tagged with the
// item it became, or deleted, as the job says, and only once the archive
// holds it.

// S3ObjectProvenanceType is the provenance schema of an object taken from
// an inbox.
const S3ObjectProvenanceType = "https://github.com/openexhibit/exhibit/provenance/s3-object/v1"

// S3ObjectProvenance is where an archived object was.
type S3ObjectProvenance struct {
	Endpoint     string    `json:"endpoint"`
	Bucket       string    `json:"bucket"`
	Key          string    `json:"key"`
	ETag         string    `json:"etag"`
	VersionID    string    `json:"versionId,omitempty"`
	Size         int64     `json:"size"`
	LastModified time.Time `json:"lastModified"`
	ContentType  string    `json:"contentType,omitempty"`
}

// S3 are the defaults of s3-inbox jobs: the archive's endpoint, and the
// credentials (EXHIBIT_INBOX_ACCESS_KEY and _SECRET_KEY, else the
// archive's).
type S3 struct {
	Endpoint, Region     string
	InsecureHTTP         bool
	AccessKey, SecretKey string
}

func (w *Worker) inboxClient(j Job) (*minio.Client, string, error) {
	d := w.o.S3
	endpoint, region, insecure := d.Endpoint, d.Region, d.InsecureHTTP
	if j.Endpoint != "" {
		endpoint, region, insecure = j.Endpoint, j.Region, j.InsecureHTTP
	}
	if endpoint == "" {
		return nil, "", fmt.Errorf("job %s: no endpoint (endpoint: in the job, or the archive's s3.endpoint)", j.Name)
	}
	c, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(d.AccessKey, d.SecretKey, ""), Secure: !insecure, Region: region})
	return c, endpoint, err
}

// listInbox lists the inbox's settled objects not yet recorded.
func (w *Worker) listInbox(ctx context.Context, j Job, r *runResult) ([]found, error) {
	known, err := w.known(ctx, j)
	if err != nil {
		return nil, err
	}
	c, endpoint, err := w.inboxClient(j)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var fresh []found
	unsettled := 0
	for o := range c.ListObjects(ctx, j.Bucket, minio.ListObjectsOptions{Prefix: j.Prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("inbox s3://%s/%s at %s: %w", j.Bucket, j.Prefix, endpoint, o.Err)
		}
		if strings.HasSuffix(o.Key, "/") {
			continue // a folder marker
		}
		if now.Sub(o.LastModified) < time.Duration(j.Stable) {
			unsettled++
			continue
		}
		f := found{path: o.Key, size: o.Size, mtime: o.LastModified.UnixNano(), version: strings.Trim(o.ETag, `"`)}
		if !known[f.key()] {
			fresh = append(fresh, f)
		}
	}
	r.detail = fmt.Sprintf("%d still changing", unsettled)
	return fresh, nil
}

// inboxBatch archives a batch's objects in one run, each its own
// acquisition, and then keeps, tags or deletes them.
func (w *Worker) inboxBatch(ctx context.Context, j Job, batch string, final bool, r *runResult) error {
	c, endpoint, err := w.inboxClient(j)
	if err != nil {
		return err
	}
	rows, err := w.o.Queue.query(ctx, `SELECT id, path, size, version FROM exhibit_file WHERE batch = ? AND state = ?`, batch, fileQueued)
	if err != nil {
		return err
	}
	type object struct {
		id        int64
		key, etag string
		size      int64
		info      minio.ObjectInfo
	}
	var objects []object
	for rows.Next() {
		var o object
		if err := rows.Scan(&o.id, &o.key, &o.size, &o.etag); err != nil {
			rows.Close()
			return err
		}
		o.key = decodePath(o.key)
		objects = append(objects, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var acqs []*archive.Acquisition
	var taken []object
	for _, o := range objects {
		opts := minio.StatObjectOptions{}
		opts.SetMatchETag(o.etag)
		info, err := c.StatObject(ctx, j.Bucket, o.key, opts)
		state := ""
		switch resp := minio.ToErrorResponse(err); {
		case err == nil && info.Size != o.size:
			state = fileChanged
		case err == nil:
		case resp.Code == "NoSuchKey":
			state = fileMissing
		case resp.StatusCode == 412:
			state = fileChanged // replaced: the scan takes the new version
		default:
			return fmt.Errorf("inbox s3://%s at %s: %w", j.Bucket, endpoint, err)
		}
		if state != "" {
			w.metrics.items.WithLabelValues(state).Inc()
			if err := w.setFile(ctx, o.id, state, "", ""); err != nil {
				return err
			}
			continue
		}
		o.info = info
		key, etag, version := o.key, o.etag, info.VersionID
		acqs = append(acqs, &archive.Acquisition{
			Kind: "s3", ProvenanceType: S3ObjectProvenanceType,
			Provenance: S3ObjectProvenance{Endpoint: endpoint, Bucket: j.Bucket, Key: key, ETag: etag, VersionID: version,
				Size: info.Size, LastModified: info.LastModified.UTC(), ContentType: info.ContentType},
			Parts: []archive.Part{{Name: "object", FileName: path.Base(key), Open: func(ctx context.Context) (io.ReadCloser, error) {
				opts := minio.GetObjectOptions{VersionID: version}
				opts.SetMatchETag(etag)
				return c.GetObject(ctx, j.Bucket, key, opts)
			}}},
		})
		taken = append(taken, o)
	}
	if len(acqs) == 0 {
		r.detail = "nothing left to ingest"
		return nil
	}
	opts := w.o.Ingest
	opts.Case = j.Case
	rep, err := w.o.Archive.Acquire(ctx, opts, acqs)
	if err != nil {
		return err
	}
	if err := unfinished(ctx, rep); err != nil {
		return err
	}
	retry := 0
	for i, res := range rep.Results {
		if i >= len(taken) {
			break
		}
		o := taken[i]
		state, detail := fileFailed, ""
		switch res.Status {
		case ingest.Archived, ingest.Repaired, ingest.Exists:
			state = fileArchived
			if res.Status == ingest.Exists {
				state = fileExists
			} else {
				r.items++
				r.bytes += res.Size
				w.metrics.bytes.Add(float64(res.Size))
			}
			detail = w.afterArchived(ctx, c, j, o.key, o.info.VersionID, res.Item)
		default:
			if res.Err != nil {
				detail = res.Err.Error()
			}
			if !final {
				retry++
				continue
			}
			r.failures++
		}
		w.metrics.items.WithLabelValues(state).Inc()
		if err := w.setFile(context.WithoutCancel(ctx), o.id, state, res.Item, detail); err != nil {
			return err
		}
	}
	r.detail = fmt.Sprintf("%d objects: %d archived", len(taken), r.items)
	switch {
	case retry > 0:
		return fmt.Errorf("%d of %d objects failed; the batch runs again", retry, len(taken))
	}
	return nil
}

// afterArchived tags or deletes an object the archive now holds; what
// failed is returned for the file's detail (the item is archived either
// way).
func (w *Worker) afterArchived(ctx context.Context, c *minio.Client, j Job, key, version, item string) string {
	var err error
	switch j.After {
	case "tag":
		var t *tags.Tags
		if t, err = tags.NewTags(map[string]string{"exhibit-item": strings.TrimPrefix(item, "sha256:")}, true); err == nil {
			err = c.PutObjectTagging(ctx, j.Bucket, key, t, minio.PutObjectTaggingOptions{VersionID: version})
		}
	case "delete":
		if version == "" {
			// Without versions, what is at the key now may be a newer
			// upload than the one archived: it is not deleted.
			w.o.Logger.Warn("inbox: archived, not deleted: the bucket keeps no versions (enable versioning, or use after: tag)", "job", j.Name, "item", item)
			return "not deleted: the bucket keeps no versions, so the key may hold a newer upload"
		}
		err = c.RemoveObject(ctx, j.Bucket, key, minio.RemoveObjectOptions{VersionID: version})
	}
	if err != nil {
		w.o.Logger.Warn("inbox: archived, but the object was not "+map[string]string{"tag": "tagged", "delete": "deleted"}[j.After],
			"job", j.Name, "item", item, "code", minio.ToErrorResponse(err).Code) // the message may name the key
		return j.After + " failed: " + err.Error()
	}
	return ""
}
