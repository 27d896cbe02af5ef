package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/minio/crc64nvme"
	"github.com/minio/minio-go/v7"
	"golang.org/x/sync/errgroup"

	"github.com/openexhibit/exhibit/storage"
)

// Stage writes r where no key sees it. Content up to Options.SmallObjectMax
// stays in memory and Commit sends it straight to its key. Larger content is
// uploaded to a temporary object under .tmp/, and Commit copies it on the
// server to its key, checks the copy, then removes the temporary object.
//
// Commit of large content thus costs a server-side copy of every byte;
// StageAt avoids it where the caller can name the final key in advance.
//
// In a bucket whose Object Lock configuration sets a default retention,
// temporary objects get that retention too and cannot be removed before it
// ends; keep SmallObjectMax above the usual content size there, or give
// such buckets no default retention (Put and Commit set retention per object).
func (s *Store) Stage(ctx context.Context, r io.Reader, size int64) (storage.Staged, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("storage/s3: stage: %w", err)
	}
	if size > s.opts.SmallObjectMax {
		return s.stageLarge(ctx, r, size)
	}
	m, rest, err := s.stageSmall(ctx, r, size)
	if err != nil || m != nil {
		return m, err
	}
	return s.stageLarge(ctx, rest, -1)
}

// stageSmall keeps content of at most Options.SmallObjectMax bytes (size,
// or -1 for unknown) in memory. Content of unknown size that turns out
// larger is not staged: rest then yields all of it, and m is nil.
func (s *Store) stageSmall(ctx context.Context, r io.Reader, size int64) (m storage.Staged, rest io.Reader, err error) {
	small := s.opts.SmallObjectMax
	limit := small + 1
	if size >= 0 {
		limit = size + 1 // one byte more, to notice content longer than announced
	}
	c := &chunker{r: r}
	buf, err := c.next(ctx, nil, limit)
	if err != nil && err != io.EOF {
		return nil, nil, fmt.Errorf("storage/s3: stage: %w", err)
	}
	n := int64(len(buf))
	if size >= 0 || n <= small {
		if err := expectation(size, n, nil, nil); err != nil {
			return nil, nil, fmt.Errorf("storage/s3: stage: %w", err)
		}
		ms := &memStaged{s: s, size: n, data: buf}
		if sr, ok := r.(storage.SHA256Reader); ok {
			ms.sha256 = sr.SHA256() // r has ended: buf holds one byte less than the limit
		}
		return ms, nil, nil
	}
	// Unknown size, and more than fits in memory: the rest streams.
	rest = io.MultiReader(bytes.NewReader(buf), r)
	if sr, ok := r.(storage.SHA256Reader); ok {
		rest = resumed{rest, sr}
	}
	return nil, rest, nil
}

// resumed is a SHA256Reader read in part already: the part, then the rest.
type resumed struct {
	io.Reader
	sr storage.SHA256Reader
}

func (r resumed) SHA256() []byte { return r.sr.SHA256() }

// memStaged is content held in memory until Commit.
type memStaged struct {
	s      *Store
	size   int64  // fixed at Stage
	sha256 []byte // as r reported it, when it is a storage.SHA256Reader

	mu    sync.Mutex
	data  []byte
	spent bool
}

func (m *memStaged) Size() int64 { return m.size }

// Commit writes the content at key, conditionally, like Put.
func (m *memStaged) Commit(ctx context.Context, key string, opts storage.PutOptions) (storage.Object, error) {
	m.mu.Lock()
	if m.spent {
		m.mu.Unlock()
		return storage.Object{}, fmt.Errorf("storage/s3: commit %s: %w", key, errSpent)
	}
	data := m.data
	m.data, m.spent = nil, true
	m.mu.Unlock()

	if opts.Size >= 0 && opts.Size != int64(len(data)) {
		return storage.Object{}, fmt.Errorf("storage/s3: commit %s: %w: staged %d bytes, expected %d", key, storage.ErrIntegrity, len(data), opts.Size)
	}
	if m.sha256 != nil {
		if err := expectation(-1, 0, opts.SHA256, m.sha256); err != nil {
			return storage.Object{}, fmt.Errorf("storage/s3: commit %s: %w", key, err)
		}
		opts.SHA256 = nil // checked: no need to hash the content again
	}
	return m.s.write(ctx, "commit", key, nil, data, opts)
}

// Discard drops the content. It is safe to call more than once.
func (m *memStaged) Discard(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data, m.spent = nil, true
	return nil
}

// tmpStaged is content in a temporary object, or placed at its final key
// (StageAt: key and markers are set).
type tmpStaged struct {
	s       *Store
	name    string
	key     string   // the key of placed content
	markers []string // of placed content: its keep and place markers
	w       written  // size, CRC64NVME, SHA-256 and parts of the content; version and ETag of the object
	mu      sync.Mutex
	spent   bool
	remove  sync.Once
}

func (s *Store) stageLarge(ctx context.Context, r io.Reader, size int64) (storage.Staged, error) {
	name := s.newTmpName()
	w, err := s.upload(ctx, name, r, size, minio.PutObjectOptions{}, false, []byte{})
	if err != nil {
		return nil, wrapErr("stage", name, err)
	}
	if _, err := s.confirm(ctx, "", name, w); err != nil {
		s.removeTmp(ctx, name, w.info.VersionID)
		return nil, wrapErr("stage", name, err)
	}
	return &tmpStaged{s: s, name: name, w: w}, nil
}

func (t *tmpStaged) Size() int64 { return t.w.size }

// Commit copies the temporary object to key on the server, with the same
// write-once condition as Put, checks the copy, and removes the temporary
// object. The copy is a multipart upload whose parts are copies of the
// temporary object's parts, because CopyObject cannot be made conditional.
func (t *tmpStaged) Commit(ctx context.Context, key string, opts storage.PutOptions) (storage.Object, error) {
	t.mu.Lock()
	spent := t.spent
	t.spent = true
	t.mu.Unlock()
	if spent {
		return storage.Object{}, fmt.Errorf("storage/s3: commit %s: %w", key, errSpent)
	}
	defer t.discard(ctx)

	s := t.s
	name, err := s.checkKey("commit", key)
	if err != nil {
		return storage.Object{}, err
	}
	if err := expectation(opts.Size, t.w.size, opts.SHA256, t.w.sha256); err != nil {
		return storage.Object{}, fmt.Errorf("storage/s3: commit %s: %w", key, err)
	}
	popts, err := s.lockOptions(ctx, "commit", key, opts)
	if err != nil {
		return storage.Object{}, err
	}
	if err := ctx.Err(); err != nil {
		return storage.Object{}, fmt.Errorf("storage/s3: commit %s: %w", key, err)
	}
	if err := s.absent(ctx, "commit", key, name); err != nil {
		return storage.Object{}, err
	}
	info, same, err := s.copyOnce(ctx, t.name, t.w, name, popts)
	if err != nil {
		if isPreconditionFailed(err) {
			return storage.Object{}, fmt.Errorf("storage/s3: commit %s: %w", key, storage.ErrExists)
		}
		return storage.Object{}, wrapErr("commit", key, err)
	}
	obj, err := s.confirmCopy(ctx, key, name, info.VersionID, t.w, same)
	if err != nil {
		return storage.Object{}, wrapErr("commit", key, err)
	}
	return obj, nil
}

// Discard removes the temporary object. It is safe to call more than once
// and after Commit.
func (t *tmpStaged) Discard(ctx context.Context) error {
	t.mu.Lock()
	t.spent = true
	t.mu.Unlock()
	return t.discard(ctx)
}

func (t *tmpStaged) discard(ctx context.Context) error {
	var err error
	t.remove.Do(func() {
		if t.markers == nil {
			err = t.s.removeTmp(ctx, t.name, t.w.info.VersionID)
			return
		}
		// Placed content: every version at its key (there is one, or none
		// when the upload failed), then the markers.
		if err = t.s.removeAll(ctx, t.name); err == nil {
			t.removeMarkers(ctx)
		}
	})
	if err != nil {
		return fmt.Errorf("storage/s3: discard %s: %w (CleanupStale removes it later)", t.name, err)
	}
	return nil
}

// removeTmp removes a temporary object, even when ctx is canceled.
func (s *Store) removeTmp(ctx context.Context, name, versionID string) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupLimit)
	defer cancel()
	err := s.client.RemoveObject(rctx, s.opts.Bucket, name, minio.RemoveObjectOptions{VersionID: versionID})
	if err != nil && classify(err) != storage.ErrNotFound {
		return err
	}
	return nil
}

// copyOnce copies the object src, which must still be the upload w, to dst
// unless dst exists. It is a multipart upload whose parts are server-side
// copies of the ranges src was uploaded in, Options.Concurrency at a time:
// unlike CopyObject, CompleteMultipartUpload honours If-None-Match, under
// the server's lock for dst.
//
// same reports whether every copied part has the ETag its source part got
// when it was uploaded. MinIO and S3 make a part's ETag the MD5 of its bytes
// (unless the object is encrypted with SSE-C or SSE-KMS), computed as they
// write it, for uploaded and for copied parts alike; the source parts' bytes
// were checked against their CRC64NVME when they arrived. Equal ETags thus
// show that the copy holds the bytes that were staged.
func (s *Store) copyOnce(ctx context.Context, src string, w written, dst string, popts minio.PutObjectOptions) (info minio.UploadInfo, same bool, err error) {
	bucket := s.opts.Bucket
	init := popts
	init.SetMatchETagExcept("*")
	uploadID, err := s.core.NewMultipartUpload(ctx, bucket, dst, init)
	if err != nil {
		return info, false, err
	}
	defer func() {
		if err != nil {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupLimit)
			defer cancel()
			_ = s.core.AbortMultipartUpload(actx, bucket, dst, uploadID)
		}
	}()

	// upload recorded every part, each at most maxPartSize (uploadChunks
	// refuses anything over maxObject).
	srcParts := w.parts
	parts := make([]minio.CompletePart, len(srcParts))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.Concurrency)
	var start int64
	for i, sp := range srcParts {
		off := start
		start += sp.size
		g.Go(func() error {
			p, err := s.core.CopyObjectPart(gctx, bucket, src, bucket, dst, uploadID, i+1, off, sp.size,
				map[string]string{"x-amz-copy-source-if-match": `"` + w.info.ETag + `"`})
			if err != nil {
				if isPreconditionFailed(err) {
					// The source is not what was staged. %v, not %w: this 412
					// must not read as "destination exists".
					return fmt.Errorf("%w: temporary object %s changed after it was staged (%v)", storage.ErrIntegrity, src, err)
				}
				return err
			}
			parts[i] = p
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return info, false, err
	}
	same = true
	for i, p := range parts {
		if sp := srcParts[i]; sp.etag == "" || trimETag(p.ETag) != trimETag(sp.etag) {
			same = false
		}
	}
	done := minio.PutObjectOptions{}
	done.SetMatchETagExcept("*")
	info, err = s.core.CompleteMultipartUpload(ctx, bucket, dst, uploadID, parts, done)
	return info, same, err
}

func trimETag(etag string) string { return strings.Trim(etag, `"`) }

// confirmCopy checks the object made by copyOnce against the staged content:
// its size, and its bytes. MinIO stores no checksum for an object assembled
// from copied parts (part copies carry none), so the bytes are vouched for
// by the part ETags (same), or else by reading the copy back and computing
// its CRC64NVME here.
func (s *Store) confirmCopy(ctx context.Context, key, name, versionID string, w written, same bool) (storage.Object, error) {
	oi, err := s.client.StatObject(ctx, s.opts.Bucket, name, minio.StatObjectOptions{VersionID: versionID, Checksum: true})
	if err != nil {
		return storage.Object{}, fmt.Errorf("copied, but checking the copy failed: %w", err)
	}
	if oi.Size != w.size {
		return storage.Object{}, s.integrityFailure(ctx, name, versionID, fmt.Errorf("copy holds %d bytes, staged %d", oi.Size, w.size))
	}
	switch {
	case oi.ChecksumCRC64NVME != "" && oi.ChecksumMode == typeFullObject:
		if oi.ChecksumCRC64NVME != w.crc {
			return storage.Object{}, s.integrityFailure(ctx, name, versionID, fmt.Errorf("copy has CRC64NVME %s, staged %s", oi.ChecksumCRC64NVME, w.crc))
		}
	case same:
	default:
		got, err := s.readBackCRC(ctx, name, versionID)
		if err != nil {
			return storage.Object{}, fmt.Errorf("copied, but reading the copy back failed: %w", err)
		}
		if got != w.crc {
			return storage.Object{}, s.integrityFailure(ctx, name, versionID, fmt.Errorf("copy has CRC64NVME %s, staged %s", got, w.crc))
		}
	}
	return objectOf(key, oi), nil
}

// readBackCRC reads an object version and returns its CRC64NVME.
func (s *Store) readBackCRC(ctx context.Context, name, versionID string) (string, error) {
	s.readBacks.Add(1)
	body, _, _, err := s.core.GetObject(ctx, s.opts.Bucket, name, minio.GetObjectOptions{VersionID: versionID})
	if err != nil {
		return "", err
	}
	defer body.Close()
	h := crc64nvme.New()
	if _, err := io.CopyBuffer(h, body, make([]byte, 1<<20)); err != nil {
		return "", err
	}
	return crcString(h.Sum64()), nil
}
