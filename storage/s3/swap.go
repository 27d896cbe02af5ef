package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/minio/crc64nvme"

	"github.com/openexhibit/exhibit/storage"
)

var _ storage.Swapper = (*Store)(nil)

// Load reads the mutable object at key with its version, the ETag the
// server gave the content it returned (one response carries both, so
// they always belong together). The content's checksum and length are
// verified as in Get.
func (s *Store) Load(ctx context.Context, key string, limit int64) ([]byte, storage.Version, error) {
	vr, oi, err := s.open(ctx, "load", key)
	if err != nil {
		return nil, "", err
	}
	defer vr.Close()
	if oi.Size > limit {
		return nil, "", fmt.Errorf("storage/s3: load %s: %w: %d bytes, over the %d limit", key, storage.ErrTooLarge, oi.Size, limit)
	}
	data, err := io.ReadAll(io.LimitReader(vr, limit+1))
	if err != nil {
		return nil, "", fmt.Errorf("storage/s3: load %s: %w", key, err)
	}
	if int64(len(data)) > limit {
		return nil, "", fmt.Errorf("storage/s3: load %s: %w: over the %d byte limit", key, storage.ErrTooLarge, limit)
	}
	if oi.ETag == "" {
		return nil, "", fmt.Errorf("storage/s3: load %s: the server sent no ETag, which mutable objects need", key)
	}
	return data, storage.Version(oi.ETag), nil
}

// Swap replaces the mutable object at key with data if its ETag is still
// old, with a conditional PUT: If-Match: "<old>", or If-None-Match: * to
// create it. The server decides the race under its own lock (MinIO, AWS S3
// since 2024); a 412 or, for If-Match on a missing object, a 404 is
// storage.ErrConflict. The content carries a CRC64NVME checksum the server
// verifies before accepting it.
func (s *Store) Swap(ctx context.Context, key string, old storage.Version, data []byte, opts storage.SwapOptions) (storage.Version, error) {
	name, err := s.checkKey("swap", key)
	if err != nil {
		return "", err
	}
	crc := crcString(crc64nvme.Checksum(data))
	// Each content is a version of its own; its retention keeps it.
	po, err := s.lockOptions(ctx, "swap", key, storage.PutOptions{Retention: opts.Retention, ContentType: "application/octet-stream"})
	if err != nil {
		return "", err
	}
	po.DisableMultipart = true
	po.UserMetadata = map[string]string{hdrChecksumCRC64: crc}
	if old == storage.NoVersion {
		po.SetMatchETagExcept("*")
	} else {
		po.SetMatchETag(string(old))
	}
	info, err := s.client.PutObject(ctx, s.opts.Bucket, name, bytes.NewReader(data), int64(len(data)), po)
	if err != nil {
		if isPreconditionFailed(err) || (old != storage.NoVersion && errCode(err) == "NoSuchKey") {
			return "", fmt.Errorf("storage/s3: swap %s: %w", key, storage.ErrConflict)
		}
		return "", wrapErr("swap", key, err)
	}
	if info.ChecksumCRC64NVME != "" && info.ChecksumCRC64NVME != crc {
		return "", fmt.Errorf("storage/s3: swap %s: %w: the server reports CRC64NVME %s after the write, sent %s", key, storage.ErrIntegrity, info.ChecksumCRC64NVME, crc)
	}
	if info.ETag == "" {
		return "", fmt.Errorf("storage/s3: swap %s: the server sent no ETag, which mutable objects need", key)
	}
	return storage.Version(info.ETag), nil
}
