package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/minio/crc64nvme"
	"github.com/minio/minio-go/v7"

	"github.com/openexhibit/exhibit/storage"
)

// Header names for S3 additional checksums.
const (
	hdrChecksumAlgo  = "X-Amz-Checksum-Algorithm"
	hdrChecksumType  = "X-Amz-Checksum-Type"
	hdrChecksumCRC64 = "X-Amz-Checksum-Crc64nvme"
	algoCRC64NVME    = "CRC64NVME"
	typeFullObject   = "FULL_OBJECT"
)

// Put writes r at key, once. See the package documentation for guarantees.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.Object, error) {
	return s.write(ctx, "put", key, r, nil, opts)
}

// write is Put of r and, with r nil, the Commit of content staged in memory
// (data), whose length opts.Size has been checked against.
func (s *Store) write(ctx context.Context, op, key string, r io.Reader, data []byte, opts storage.PutOptions) (storage.Object, error) {
	name, err := s.checkKey(op, key)
	if err != nil {
		return storage.Object{}, err
	}
	popts, err := s.lockOptions(ctx, op, key, opts)
	if err != nil {
		return storage.Object{}, err
	}
	if err := s.absent(ctx, op, key, name); err != nil {
		return storage.Object{}, err
	}
	var w written
	if r != nil {
		w, err = s.upload(ctx, name, r, opts.Size, popts, true, opts.SHA256)
	} else {
		w, err = s.uploadBytes(ctx, name, data, popts, true, opts.SHA256)
	}
	if err != nil {
		if isPreconditionFailed(err) {
			return storage.Object{}, fmt.Errorf("storage/s3: %s %s: %w", op, key, storage.ErrExists)
		}
		return storage.Object{}, wrapErr(op, key, err)
	}
	obj, err := s.confirm(ctx, key, name, w)
	if err != nil {
		return storage.Object{}, wrapErr(op, key, err)
	}
	return obj, nil
}

// absent returns an error wrapping storage.ErrExists when name exists. It
// saves reading and sending content that is already stored; the conditional
// write is what settles races.
func (s *Store) absent(ctx context.Context, op, key, name string) error {
	_, err := s.client.StatObject(ctx, s.opts.Bucket, name, minio.StatObjectOptions{})
	switch {
	case err == nil:
		return fmt.Errorf("storage/s3: %s %s: %w", op, key, storage.ErrExists)
	case errCode(err) == "NoSuchKey":
		return nil
	default:
		return wrapErr(op, key, err)
	}
}

// lockOptions turns retention and legal hold into PutObjectOptions, refusing
// them when the bucket cannot enforce them.
func (s *Store) lockOptions(ctx context.Context, op, key string, opts storage.PutOptions) (minio.PutObjectOptions, error) {
	po := minio.PutObjectOptions{ContentType: opts.ContentType}
	ret := opts.Retention
	if ret.IsZero() && !ret.Until.IsZero() {
		return po, fmt.Errorf("storage/s3: %s %s: retention has a date but no mode", op, key)
	}
	if ret.IsZero() && !opts.LegalHold {
		return po, nil
	}
	if !ret.IsZero() {
		switch ret.Mode {
		case storage.Governance, storage.Compliance:
		default:
			return po, fmt.Errorf("storage/s3: %s %s: unknown retention mode %q (want %s or %s)", op, key, ret.Mode, storage.Governance, storage.Compliance)
		}
		if !ret.Until.After(time.Now()) {
			return po, fmt.Errorf("storage/s3: %s %s: retention date %s is not in the future", op, key, ret.Until.UTC().Format(time.RFC3339))
		}
		po.Mode = minio.RetentionMode(ret.Mode)
		po.RetainUntilDate = ret.Until.UTC()
	}
	if opts.LegalHold {
		po.LegalHold = minio.LegalHoldEnabled
	}
	on, err := s.objectLock(ctx)
	if err != nil {
		return po, wrapErr(op, key, err)
	}
	if !on {
		return po, fmt.Errorf("storage/s3: %s %s: bucket %s has no Object Lock, so it cannot enforce retention or legal hold; use a bucket created with Object Lock, or write without retention", op, key, s.opts.Bucket)
	}
	return po, nil
}

// written is what upload sent: its length, checksums and parts, and the
// server's answer.
type written struct {
	info   minio.UploadInfo
	size   int64
	crc    string // base64 CRC64NVME of the content, as S3 reports it
	sha256 []byte // when asked for
	parts  []part // as uploaded: one for a single PUT
}

// part is one part of an upload: its length and the ETag the server gave it.
type part struct {
	size int64
	etag string
}

// expectation is a failure of the content to match what the caller announced.
func expectation(size, n int64, wantSHA, gotSHA []byte) error {
	if size >= 0 && n != size {
		if n > size {
			return fmt.Errorf("%w: content is longer than the announced %d bytes", storage.ErrIntegrity, size)
		}
		return fmt.Errorf("%w: content is %d bytes, announced %d", storage.ErrIntegrity, n, size)
	}
	if len(wantSHA) > 0 && subtle.ConstantTimeCompare(wantSHA, gotSHA) != 1 {
		return fmt.Errorf("%w: sha256 is %x, expected %x", storage.ErrIntegrity, gotSHA, wantSHA)
	}
	return nil
}

// contentSHA256 is the SHA-256 of content as upload reads it: computed
// here, or reported by the content itself when it is a storage.SHA256Reader.
type contentSHA256 struct {
	h  hash.Hash
	sr storage.SHA256Reader
}

// newContentSHA256 returns nil when wantSHA is nil (no SHA-256 wanted).
func newContentSHA256(r io.Reader, wantSHA []byte) *contentSHA256 {
	if wantSHA == nil {
		return nil
	}
	if sr, ok := r.(storage.SHA256Reader); ok {
		return &contentSHA256{sr: sr}
	}
	return &contentSHA256{h: sha256.New()}
}

func (c *contentSHA256) write(b []byte) {
	if c != nil && c.h != nil {
		c.h.Write(b)
	}
}

// sum returns the SHA-256; call it once the content has ended.
func (c *contentSHA256) sum() []byte {
	switch {
	case c == nil:
		return nil
	case c.h != nil:
		return c.h.Sum(nil)
	default:
		return c.sr.SHA256()
	}
}

// upload streams r to the object name, as one PUT when it fits in a part and
// as a multipart upload otherwise. With conditional, the write fails with
// 412 if name exists. It checks the length against size (when >= 0) and the
// SHA-256 against wantSHA (when set, or computes it when wantSHA is an empty
// non-nil slice) before the object becomes visible.
func (s *Store) upload(ctx context.Context, name string, r io.Reader, size int64, popts minio.PutObjectOptions, conditional bool, wantSHA []byte) (written, error) {
	return s.uploadChunks(ctx, name, &chunker{r: r}, size, popts, conditional, wantSHA, newContentSHA256(r, wantSHA))
}

// uploadBytes is upload of content already in memory, sent without copying.
func (s *Store) uploadBytes(ctx context.Context, name string, data []byte, popts minio.PutObjectOptions, conditional bool, wantSHA []byte) (written, error) {
	var sh *contentSHA256
	if wantSHA != nil {
		sh = &contentSHA256{h: sha256.New()}
	}
	return s.uploadChunks(ctx, name, &chunker{mem: data}, int64(len(data)), popts, conditional, wantSHA, sh)
}

func (s *Store) uploadChunks(ctx context.Context, name string, c *chunker, size int64, popts minio.PutObjectOptions, conditional bool, wantSHA []byte, sh *contentSHA256) (written, error) {
	if err := checkObjectSize(size); err != nil {
		return written{}, err
	}
	partSize := s.partSizeFor(size)
	limit := partSize
	if size >= 0 && size < limit {
		limit = size + 1 // one byte more, to notice content longer than announced
	}
	var first []byte
	if size >= 0 && c.mem == nil {
		first = make([]byte, 0, limit) // known size: no growing
	}
	buf, err := c.next(ctx, first, limit)
	if err != nil && err != io.EOF {
		return written{}, err
	}
	if size >= 0 && int64(len(buf)) > size {
		return written{}, expectation(size, int64(len(buf)), nil, nil)
	}
	if err == nil {
		if err := c.peek(ctx); err == nil {
			return s.uploadMultipart(ctx, name, c, buf, partSize, size, popts, conditional, wantSHA, sh)
		} else if err != io.EOF {
			return written{}, err
		}
	}

	// Everything fits in one part: a single PUT.
	w := written{size: int64(len(buf)), crc: crcString(crc64nvme.Checksum(buf))}
	sh.write(buf)
	w.sha256 = sh.sum()
	if err := expectation(size, w.size, wantSHA, w.sha256); err != nil {
		return written{}, err
	}
	// The checksum goes ahead of the body in a header, so the server refuses
	// the PUT if the bytes it receives differ. (minio-go's Checksum option
	// sends it as a trailer instead, and sends none for an empty body.)
	po := popts
	po.UserMetadata = map[string]string{hdrChecksumCRC64: w.crc}
	po.DisableMultipart = true
	// The CRC64NVME header already makes the server check every byte; a
	// signed payload would hash it twice more (client and server) for
	// nothing. With TLS minio-go leaves the payload unsigned anyway.
	po.DisableContentSha256 = true
	if conditional {
		po.SetMatchETagExcept("*")
	}
	w.info, err = s.client.PutObject(ctx, s.opts.Bucket, name, bytes.NewReader(buf), w.size, po)
	if err != nil {
		return written{}, err
	}
	w.parts = []part{{size: w.size, etag: w.info.ETag}}
	return w, nil
}

// partSizeFor returns the part size for content of the given length (at
// most maxObject): the configured one, grown when needed to stay within
// 10,000 parts.
func (s *Store) partSizeFor(size int64) int64 {
	ps := int64(s.opts.PartSize)
	if size > ps*maxParts {
		ps = (size + maxParts - 1) / maxParts
		ps = (ps + 1<<20 - 1) &^ (1<<20 - 1) // whole MiB
	}
	return ps
}

// uploadMultipart uploads the content, whose first part is first, with a
// CRC64NVME checksum on every part and a full-object CRC64NVME on completion,
// which the server verifies. The conditional header goes on both the
// initiation and the completion: minio-go's PutObject drops it from the
// completion, where MinIO decides races, so the parts are driven by hand.
//
// Up to Options.Concurrency parts are sent at once while the next one is
// read, so reading (and whatever hashing the reader does) overlaps with
// the network; memory holds at most Concurrency+1 parts.
func (s *Store) uploadMultipart(ctx context.Context, name string, c *chunker, first []byte, partSize, size int64, popts minio.PutObjectOptions, conditional bool, wantSHA []byte, sh *contentSHA256) (w written, err error) {
	bucket := s.opts.Bucket
	init := popts
	init.UserMetadata = map[string]string{hdrChecksumAlgo: algoCRC64NVME, hdrChecksumType: typeFullObject}
	if conditional {
		init.SetMatchETagExcept("*")
	}
	uploadID, err := s.core.NewMultipartUpload(ctx, bucket, name, init)
	if err != nil {
		return written{}, err
	}
	defer func() {
		if err != nil {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupLimit)
			defer cancel()
			_ = s.core.AbortMultipartUpload(actx, bucket, name, uploadID)
		}
	}()

	// Parts go up on their own goroutines; the first failure cancels the rest.
	pctx, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel(nil)
		wg.Wait() // before the abort above
	}()
	var mu sync.Mutex // guards parts
	var parts []minio.CompletePart
	var sizes []int64
	// A part's buffer comes back through free once the part is sent. There
	// are at most Concurrency+1 buffers (for content in memory, tokens
	// standing for its slices): one being read, the others being sent.
	free := make(chan []byte, s.opts.Concurrency+1)
	buffers := 1 // so far: first

	crc := crc64nvme.New()
	buf := first
	var n int64
	for num := 1; ; num++ {
		if num > maxParts {
			return written{}, fmt.Errorf("content is longer than %d parts of %d bytes; set a larger part size", maxParts, partSize)
		}
		crc.Write(buf)
		sh.write(buf)
		n += int64(len(buf))
		if size >= 0 && n > size {
			return written{}, expectation(size, n, nil, nil)
		}
		sum := crcString(crc64nvme.Checksum(buf))
		mu.Lock()
		parts = append(parts, minio.CompletePart{PartNumber: num, ChecksumCRC64NVME: sum})
		mu.Unlock()
		sizes = append(sizes, int64(len(buf)))
		wg.Add(1)
		go func(num int, buf []byte) {
			defer wg.Done()
			p, err := s.core.PutObjectPart(pctx, bucket, name, uploadID, num, bytes.NewReader(buf), int64(len(buf)), minio.PutObjectPartOptions{
				CustomHeader:         http.Header{hdrChecksumCRC64: []string{sum}},
				DisableContentSha256: true, // the CRC header is checked instead (see above)
			})
			if err == nil && p.ChecksumCRC64NVME != "" && p.ChecksumCRC64NVME != sum {
				err = fmt.Errorf("%w: part %d: server computed CRC64NVME %s, sent %s", storage.ErrIntegrity, num, p.ChecksumCRC64NVME, sum)
			}
			if err != nil {
				cancel(err)
			} else {
				mu.Lock()
				parts[num-1].ETag = p.ETag
				mu.Unlock()
			}
			free <- buf
		}(num, buf)

		// The next buffer: a new one until there are Concurrency+1, then
		// the first one a sent part gives back.
		select {
		case buf = <-free:
		default:
			if buffers <= s.opts.Concurrency {
				buffers++
				buf = nil
				if c.mem == nil {
					buf = make([]byte, 0, partSize)
				}
			} else {
				select {
				case buf = <-free:
				case <-pctx.Done():
					return written{}, partError(ctx, pctx)
				}
			}
		}
		buf, err = c.next(pctx, buf[:0], partSize)
		if err != nil && err != io.EOF {
			if pctx.Err() != nil {
				return written{}, partError(ctx, pctx)
			}
			return written{}, err
		}
		if err == io.EOF && len(buf) == 0 {
			break
		}
	}
	wg.Wait()
	if pctx.Err() != nil {
		return written{}, partError(ctx, pctx)
	}

	w = written{size: n, crc: b64(crc.Sum(nil)), sha256: sh.sum()}
	if err := expectation(size, n, wantSHA, w.sha256); err != nil {
		return written{}, err
	}
	for i, p := range parts {
		w.parts = append(w.parts, part{size: sizes[i], etag: p.ETag})
	}
	done := minio.PutObjectOptions{UserMetadata: map[string]string{hdrChecksumCRC64: w.crc, hdrChecksumType: typeFullObject}}
	if conditional {
		done.SetMatchETagExcept("*")
	}
	w.info, err = s.core.CompleteMultipartUpload(ctx, bucket, name, uploadID, parts, done)
	if err != nil {
		return written{}, err
	}
	return w, nil
}

// partError is why the parts of an upload stopped: the caller's context
// ending, or the first part that failed.
func partError(ctx, pctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return context.Cause(pctx)
}

// confirm checks what the server holds after a write against what was sent:
// the checksum the server computed, then its size and checksum as a HEAD
// reports them. On a mismatch it removes the new object version.
func (s *Store) confirm(ctx context.Context, key, name string, w written) (storage.Object, error) {
	if w.info.ChecksumCRC64NVME != w.crc {
		return storage.Object{}, s.integrityFailure(ctx, name, w.info.VersionID,
			fmt.Errorf("server reports CRC64NVME %q after the write, sent %s", w.info.ChecksumCRC64NVME, w.crc))
	}
	oi, err := s.client.StatObject(ctx, s.opts.Bucket, name, minio.StatObjectOptions{VersionID: w.info.VersionID, Checksum: true})
	if err != nil {
		// The server accepted the content and its checksum; only the check
		// failed. The object stays: it is complete.
		return storage.Object{}, fmt.Errorf("written, but reading it back failed: %w", err)
	}
	if oi.Size != w.size || oi.ChecksumCRC64NVME != w.crc {
		return storage.Object{}, s.integrityFailure(ctx, name, w.info.VersionID,
			fmt.Errorf("server holds %d bytes with CRC64NVME %q, sent %d bytes with %s", oi.Size, oi.ChecksumCRC64NVME, w.size, w.crc))
	}
	return objectOf(key, oi), nil
}

// integrityFailure removes a freshly written object version that does not
// match what was sent, and returns an error wrapping storage.ErrIntegrity.
func (s *Store) integrityFailure(ctx context.Context, name, versionID string, cause error) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupLimit)
	defer cancel()
	if err := s.client.RemoveObject(rctx, s.opts.Bucket, name, minio.RemoveObjectOptions{VersionID: versionID}); err != nil {
		return fmt.Errorf("%w: %w; removing the bad object failed too: %w", storage.ErrIntegrity, cause, err)
	}
	return fmt.Errorf("%w: %w; the bad object was removed", storage.ErrIntegrity, cause)
}

// readMax is the most a chunker asks of its reader at once: hashing readers
// (hashing.Tee) work best with writes of about 1 MiB.
const readMax = 1 << 20

// chunker reads content in chunks, noticing the end one byte early so that
// content of exactly one part goes up in a single PUT. Content already in
// memory (mem, with r nil) is cut into chunks without copying.
type chunker struct {
	r      io.Reader
	mem    []byte
	peeked []byte // at most one byte read ahead
	eof    bool
}

// next appends up to limit bytes to buf[:0] and returns them, with io.EOF
// when the content ended. The buffer grows as data arrives, so small
// content does not cost a whole part. Content in memory is returned as
// a slice of it, and buf is not used.
func (c *chunker) next(ctx context.Context, buf []byte, limit int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return buf[:0], err
	}
	if c.r == nil {
		n := min(int64(len(c.mem)), limit)
		b := c.mem[:n:n]
		c.mem = c.mem[n:]
		if len(c.mem) == 0 && n < limit {
			return b, io.EOF
		}
		return b, nil
	}
	buf = append(buf[:0], c.peeked...)
	c.peeked = c.peeked[:0]
	for int64(len(buf)) < limit {
		if c.eof {
			return buf, io.EOF
		}
		if err := ctx.Err(); err != nil {
			return buf, err
		}
		if len(buf) == cap(buf) {
			nb := make([]byte, len(buf), min(max(2*int64(cap(buf)), 64<<10), limit))
			copy(nb, buf)
			buf = nb
		}
		n, err := c.r.Read(buf[len(buf):min(int64(cap(buf)), limit, int64(len(buf))+readMax)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			c.eof = true
		} else if err != nil {
			return buf, fmt.Errorf("read content: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return buf, err
	}
	return buf, nil
}

// peek reads one byte ahead: io.EOF when the content has ended.
func (c *chunker) peek(ctx context.Context) error {
	if c.r == nil {
		if len(c.mem) == 0 {
			return io.EOF
		}
		return nil
	}
	if len(c.peeked) > 0 {
		return nil
	}
	var b [1]byte
	for !c.eof {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := c.r.Read(b[:])
		if n > 0 {
			c.peeked = append(c.peeked, b[0])
			return nil
		}
		if err == io.EOF {
			c.eof = true
		} else if err != nil {
			return fmt.Errorf("read content: %w", err)
		}
	}
	return io.EOF
}

var errSpent = errors.New("staged content was already committed or discarded")

// crcString is a CRC64NVME as S3 headers carry it: base64 of its 8 bytes, big-endian.
func crcString(crc uint64) string { return b64(binary.BigEndian.AppendUint64(nil, crc)) }

// checkObjectSize refuses an announced size no S3 object can have, before
// anything is allocated or sent for it.
func checkObjectSize(size int64) error {
	if size > maxObject {
		return fmt.Errorf("%w: content of %d bytes announced, over the %d bytes an S3 object can hold (5 GiB x 10,000 parts)", storage.ErrIntegrity, size, int64(maxObject))
	}
	return nil
}
