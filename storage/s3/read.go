package s3

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"

	"github.com/minio/crc64nvme"
	"github.com/minio/minio-go/v7"

	"github.com/openexhibit/exhibit/storage"
)

// Get opens the object at key. The reader checks the object's length and,
// when the server stored a full-object CRC64NVME checksum, the checksum: a
// mismatch turns the end of the read into an error wrapping
// storage.ErrIntegrity.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	vr, _, err := s.open(ctx, "get", key)
	if err != nil {
		return nil, err
	}
	return vr, nil
}

// open starts a GET of the object at key, with the server's description of
// the object that response carries, and wraps the body in a reader that
// verifies its length and, when the server stored a full-object CRC64NVME
// checksum, the checksum.
func (s *Store) open(ctx context.Context, op, key string) (*verifyingReader, minio.ObjectInfo, error) {
	name, err := s.checkKey(op, key)
	if err != nil {
		return nil, minio.ObjectInfo{}, err
	}
	var opts minio.GetObjectOptions
	opts.Set("x-amz-checksum-mode", "ENABLED") // report the checksum; verified below
	body, oi, _, err := s.core.GetObject(ctx, s.opts.Bucket, name, opts)
	if err != nil {
		return nil, minio.ObjectInfo{}, wrapErr(op, key, err)
	}
	vr := &verifyingReader{rc: body, key: key, size: oi.Size}
	if oi.ChecksumCRC64NVME != "" && strings.EqualFold(oi.ChecksumMode, typeFullObject) {
		vr.want = oi.ChecksumCRC64NVME
		vr.crc = crc64nvme.New()
	}
	return vr, oi, nil
}

// verifyingReader checks length and checksum of an object as it is read.
type verifyingReader struct {
	rc   io.ReadCloser
	key  string
	size int64
	n    int64
	want string
	crc  hash.Hash64
	err  error
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.rc.Read(p)
	v.n += int64(n)
	if v.crc != nil {
		v.crc.Write(p[:n])
	}
	switch {
	case v.n > v.size:
		err = fmt.Errorf("storage/s3: get %s: %w: more than the %d bytes announced", v.key, storage.ErrIntegrity, v.size)
	case err == io.EOF && v.n < v.size:
		err = fmt.Errorf("storage/s3: get %s: %w: %d of %d bytes", v.key, io.ErrUnexpectedEOF, v.n, v.size)
	case err == io.EOF && v.crc != nil:
		if got := crcString(v.crc.Sum64()); got != v.want {
			err = fmt.Errorf("storage/s3: get %s: %w: content has CRC64NVME %s, the server recorded %s", v.key, storage.ErrIntegrity, got, v.want)
		}
	case err != nil && err != io.EOF:
		err = wrapErr("get", v.key, err)
	}
	if err != nil && err != io.EOF {
		v.err = err
	}
	return n, err
}

func (v *verifyingReader) Close() error { return v.rc.Close() }

// Stat describes the object at key, with the retention and legal hold the
// server reports for it.
func (s *Store) Stat(ctx context.Context, key string) (storage.Object, error) {
	name, err := s.checkKey("stat", key)
	if err != nil {
		return storage.Object{}, err
	}
	oi, err := s.client.StatObject(ctx, s.opts.Bucket, name, minio.StatObjectOptions{})
	if err != nil {
		return storage.Object{}, wrapErr("stat", key, err)
	}
	return objectOf(key, oi), nil
}

// objectOf describes an object from a HEAD or GET response, whose headers
// carry its Object Lock state.
func objectOf(key string, oi minio.ObjectInfo) storage.Object {
	obj := storage.Object{Key: key, Size: oi.Size, ModTime: oi.LastModified.UTC(), VersionID: oi.VersionID}
	if obj.VersionID == "null" {
		obj.VersionID = "" // an unversioned bucket's placeholder
	}
	if mode := oi.Metadata.Get("X-Amz-Object-Lock-Mode"); mode != "" {
		obj.Retention.Mode = storage.RetentionMode(strings.ToUpper(mode))
		if until, err := time.Parse(time.RFC3339, oi.Metadata.Get("X-Amz-Object-Lock-Retain-Until-Date")); err == nil {
			obj.Retention.Until = until.UTC()
		}
	}
	obj.LegalHold = strings.EqualFold(oi.Metadata.Get("X-Amz-Object-Lock-Legal-Hold"), "ON")
	return obj
}

// List calls fn for each object whose key starts with prefix, in lexical key
// order, as the server lists them. Listed objects carry no retention: Stat
// has it. Objects whose names are not valid keys (folder markers made by
// other tools) are skipped.
func (s *Store) List(ctx context.Context, prefix string, fn func(storage.Object) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing when fn fails
	tmp := s.tmpPrefix()
	for oi := range s.client.ListObjectsIter(ctx, s.opts.Bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if oi.Err != nil {
			return wrapErr("list", s.Location()+"/"+prefix, oi.Err)
		}
		if strings.HasPrefix(oi.Key, tmp) || !strings.HasPrefix(oi.Key, s.prefix) {
			continue
		}
		key := strings.TrimPrefix(oi.Key, s.prefix)
		if storage.ValidKey(key) != nil {
			continue
		}
		if err := fn(storage.Object{Key: key, Size: oi.Size, ModTime: oi.LastModified.UTC()}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// CleanupStale removes what interrupted writes left behind: temporary
// objects under .tmp/ and incomplete multipart uploads under the prefix,
// when older than olderThan, and it adopts or removes the content of
// unfinished placements (StageAt) as their markers say. Choose olderThan longer than any write can
// take (a day is safe): younger ones may belong to writes in progress.
// Objects under retention cannot be removed and are reported in the error.
//
// MinIO lists only the uploads begun since it last started; it also aborts
// uploads older than a day by itself (its api stale_uploads_expiry).
func (s *Store) CleanupStale(ctx context.Context, olderThan time.Duration) error {
	cutoff := time.Now().Add(-olderThan)
	bucket := s.opts.Bucket
	var errs []error
	if err := s.cleanupPlacements(ctx, cutoff); err != nil {
		errs = append(errs, err)
	}
	markers := []string{s.tmpPrefix() + placeMarkers, s.tmpPrefix() + keepMarkers}
	for oi := range s.client.ListObjectsIter(ctx, bucket, minio.ListObjectsOptions{Prefix: s.tmpPrefix(), Recursive: true, WithVersions: true}) {
		if oi.Err != nil {
			return errors.Join(append(errs, wrapErr("cleanup", s.Location(), oi.Err))...)
		}
		if !oi.LastModified.Before(cutoff) || strings.HasPrefix(oi.Key, markers[0]) || strings.HasPrefix(oi.Key, markers[1]) {
			continue
		}
		if err := s.client.RemoveObject(ctx, bucket, oi.Key, minio.RemoveObjectOptions{VersionID: oi.VersionID}); err != nil {
			errs = append(errs, wrapErr("cleanup: remove", oi.Key, err))
		}
	}
	// Listed without a prefix and filtered here: MinIO takes a non-empty
	// prefix for an exact object name.
	for up := range s.client.ListIncompleteUploads(ctx, bucket, "", true) {
		if up.Err != nil {
			return errors.Join(append(errs, wrapErr("cleanup", s.Location(), up.Err))...)
		}
		if !strings.HasPrefix(up.Key, s.prefix) || !up.Initiated.Before(cutoff) {
			continue
		}
		if err := s.core.AbortMultipartUpload(ctx, bucket, up.Key, up.UploadID); err != nil && classify(err) != storage.ErrNotFound {
			errs = append(errs, wrapErr("cleanup: abort upload of", up.Key, err))
		}
	}
	return errors.Join(errs...)
}
