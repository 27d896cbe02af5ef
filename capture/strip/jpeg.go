package strip

import (
	"context"
	"io"
)

func stripJPEG(ctx context.Context, r io.ReaderAt, size int64, p Profile, w io.Writer) (*Report, error) {
	return nil, ErrUnsupported
}
