package storage

import (
	"context"
	"fmt"
	"io"
)

// Getter is the part of a Store that ReadAll needs.
type Getter interface {
	Get(ctx context.Context, key string) (io.ReadCloser, error)
}

// ReadAll reads the whole object at key, which must hold at most limit
// bytes: records, bundles and documents that are read into memory. Errors
// wrap ErrNotFound when the key is missing.
func ReadAll(ctx context.Context, s Getter, key string, limit int64) ([]byte, error) {
	rc, err := s.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("storage: read %s: %w", key, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("storage: %s: %w (over %d bytes)", key, ErrTooLarge, limit)
	}
	return data, nil
}
