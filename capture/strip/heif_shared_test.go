package strip

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/openexhibit/exhibit/capture/bmff/bmfftest"
)

// TestStripHEIFSharedHostile: the stripper refuses every lie of the shared
// parse (capture/bmff) as the parse does, malformed or unsupported, and the
// metadata reader reports the same files without reading their items
// (capture/photo TestHEIFSharedHostile).
func TestStripHEIFSharedHostile(t *testing.T) {
	for _, c := range bmfftest.Hostile(true) {
		t.Run(c.Name, func(t *testing.T) {
			_, err := Strip(context.Background(), bytes.NewReader(c.Data), int64(len(c.Data)), HEIF, Default, &bytes.Buffer{})
			var fe *FormatError
			switch {
			case err == nil || !strings.Contains(err.Error(), c.Want):
				t.Fatalf("err = %v, want %q", err, c.Want)
			case c.Unsupported != errors.Is(err, ErrUnsupported):
				t.Fatalf("err = %v, unsupported = %v", err, c.Unsupported)
			case !c.Unsupported && !errors.As(err, &fe):
				t.Fatalf("err = %T %v, want a FormatError", err, err)
			}
		})
	}
}
