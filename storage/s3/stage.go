package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/minio/crc64nvme"
	"github.com/minio/minio-go/v7"

	"github.com/openexhibit/exhibit/storage"
)

// Stage writes r where no key sees it. Content up to Options.SmallObjectMax
// stays in memory and Commit sends it straight to its key. Larger content is
// uploaded to a temporary object under .tmp/, and Commit copies it on the
// server to its key, reads the copy back to check it, then removes the
// temporary object.
//
// In a bucket whose Object Lock configuration sets a default retention,
// temporary objects get that retention too and cannot be removed before it
// ends; keep SmallObjectMax above the usual content size there, or give
// such buckets no default retention (Put and Commit set retention per object).
func (s *Store) Stage(ctx context.Context, r io.Reader, size int64) (storage.Staged, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("storage/s3: stage: %w", err)
	}
	small := s.opts.SmallObjectMax
	if size > small {
		return s.stageLarge(ctx, r, size)
	}
	limit := small + 1
	if size >= 0 {
		limit = size + 1 // one byte more, to notice content longer than announced
	}
	c := &chunker{r: r}
	buf, err := c.next(ctx, nil, limit)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("storage/s3: stage: %w", err)
	}
	n := int64(len(buf))
	if size >= 0 {
		if err := expectation(size, n, nil, nil); err != nil {
			return nil, fmt.Errorf("storage/s3: stage: %w", err)
		}
		return &memStaged{s: s, size: n, data: buf}, nil
	}
	if n <= small {
		return &memStaged{s: s, size: n, data: buf}, nil
	}
	// Unknown size, and more than fits in memory: stream the rest.
	return s.stageLarge(ctx, io.MultiReader(bytes.NewReader(buf), r), -1)
}

// memStaged is content held in memory until Commit.
type memStaged struct {
	s    *Store
	size int64 // fixed at Stage

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
	return m.s.write(ctx, "commit", key, bytes.NewReader(data), int64(len(data)), opts)
}

// Discard drops the content. It is safe to call more than once.
func (m *memStaged) Discard(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data, m.spent = nil, true
	return nil
}

// tmpStaged is content in a temporary object.
type tmpStaged struct {
	s      *Store
	name   string
	w      written // size, CRC64NVME and SHA-256 of the content; version and ETag of the object
	mu     sync.Mutex
	spent  bool
	remove sync.Once
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
// object. The copy is a one-part (above 5 GiB, several-part) multipart
// upload of ranges of the temporary object, because CopyObject cannot be
// made conditional.
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
	info, err := s.copyOnce(ctx, t.name, t.w.info.ETag, name, t.w.size, popts)
	if err != nil {
		if isPreconditionFailed(err) {
			return storage.Object{}, fmt.Errorf("storage/s3: commit %s: %w", key, storage.ErrExists)
		}
		return storage.Object{}, wrapErr("commit", key, err)
	}
	obj, err := s.confirmCopy(ctx, key, name, info.VersionID, t.w)
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
	t.remove.Do(func() { err = t.s.removeTmp(ctx, t.name, t.w.info.VersionID) })
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

// copyOnce copies the object src, which must still have ETag etag, to dst
// unless dst exists. It is a multipart upload whose parts are server-side
// copies of ranges of src: unlike CopyObject, CompleteMultipartUpload honours
// If-None-Match, under the server's lock for dst.
func (s *Store) copyOnce(ctx context.Context, src, etag, dst string, size int64, popts minio.PutObjectOptions) (info minio.UploadInfo, err error) {
	bucket := s.opts.Bucket
	init := popts
	init.SetMatchETagExcept("*")
	uploadID, err := s.core.NewMultipartUpload(ctx, bucket, dst, init)
	if err != nil {
		return info, err
	}
	defer func() {
		if err != nil {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupLimit)
			defer cancel()
			_ = s.core.AbortMultipartUpload(actx, bucket, dst, uploadID)
		}
	}()
	nparts := (size + maxPartSize - 1) / maxPartSize
	partSize := (size + nparts - 1) / nparts
	var parts []minio.CompletePart
	for i := range nparts {
		start := i * partSize
		length := min(partSize, size-start)
		p, err := s.core.CopyObjectPart(ctx, bucket, src, bucket, dst, uploadID, int(i+1), start, length,
			map[string]string{"x-amz-copy-source-if-match": `"` + etag + `"`})
		if err != nil {
			if isPreconditionFailed(err) {
				// The source is not what was staged. %v, not %w: this 412
				// must not read as "destination exists".
				return info, fmt.Errorf("%w: temporary object %s changed after it was staged (%v)", storage.ErrIntegrity, src, err)
			}
			return info, err
		}
		parts = append(parts, p)
	}
	done := minio.PutObjectOptions{}
	done.SetMatchETagExcept("*")
	return s.core.CompleteMultipartUpload(ctx, bucket, dst, uploadID, parts, done)
}

// confirmCopy checks the object made by copyOnce against the staged content.
// MinIO stores no checksum for an object assembled from copied parts (part
// copies carry none), so unless the server reports a full-object CRC64NVME,
// the object is read back and its CRC64NVME computed here.
func (s *Store) confirmCopy(ctx context.Context, key, name, versionID string, w written) (storage.Object, error) {
	oi, err := s.client.StatObject(ctx, s.opts.Bucket, name, minio.StatObjectOptions{VersionID: versionID, Checksum: true})
	if err != nil {
		return storage.Object{}, fmt.Errorf("copied, but checking the copy failed: %w", err)
	}
	if oi.Size != w.size {
		return storage.Object{}, s.integrityFailure(ctx, name, versionID, fmt.Errorf("copy holds %d bytes, staged %d", oi.Size, w.size))
	}
	got := oi.ChecksumCRC64NVME
	if got == "" || oi.ChecksumMode != typeFullObject {
		got, err = s.readBackCRC(ctx, name, versionID)
		if err != nil {
			return storage.Object{}, fmt.Errorf("copied, but reading the copy back failed: %w", err)
		}
	}
	if got != w.crc {
		return storage.Object{}, s.integrityFailure(ctx, name, versionID, fmt.Errorf("copy has CRC64NVME %s, staged %s", got, w.crc))
	}
	return objectOf(key, oi), nil
}

// readBackCRC reads an object version and returns its CRC64NVME.
func (s *Store) readBackCRC(ctx context.Context, name, versionID string) (string, error) {
	body, _, _, err := s.core.GetObject(ctx, s.opts.Bucket, name, minio.GetObjectOptions{VersionID: versionID})
	if err != nil {
		return "", err
	}
	defer body.Close()
	h := crc64nvme.New()
	if _, err := io.Copy(h, body); err != nil {
		return "", err
	}
	return crcString(h.Sum64()), nil
}
