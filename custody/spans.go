package custody

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Transform parameters by which a derivative states that its bytes are
// the original's, so that verify compares them: original-offset and
// original-length when the whole derivative is one span of the original
// (a WARC record's block), original-spans when parts of it are (a clip's
// tiles; see FormatSpans).
const (
	ParamOriginalOffset = "original-offset"
	ParamOriginalLength = "original-length"
	ParamOriginalSpans  = "original-spans"
)

// Span says that Length bytes of a derivative at DerivativeOffset are the
// original's bytes at OriginalOffset.
type Span struct{ DerivativeOffset, OriginalOffset, Length int64 }

// FormatSpans writes spans as the transform parameter original-spans
// reads: "DST:SRC+LEN" separated by spaces.
func FormatSpans(spans []Span) string {
	var b strings.Builder
	for i, s := range spans {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d:%d+%d", s.DerivativeOffset, s.OriginalOffset, s.Length)
	}
	return b.String()
}

// ParseSpans reads what FormatSpans writes. Spans must be non-empty and
// follow one another in the derivative without overlapping.
func ParseSpans(s string) ([]Span, error) {
	var out []Span
	end := int64(0)
	for _, f := range strings.Fields(s) {
		dst, rest, ok1 := strings.Cut(f, ":")
		src, n, ok2 := strings.Cut(rest, "+")
		var sp Span
		var e1, e2, e3 error
		sp.DerivativeOffset, e1 = strconv.ParseInt(dst, 10, 64)
		sp.OriginalOffset, e2 = strconv.ParseInt(src, 10, 64)
		sp.Length, e3 = strconv.ParseInt(n, 10, 64)
		if !ok1 || !ok2 || e1 != nil || e2 != nil || e3 != nil || sp.DerivativeOffset < end || sp.OriginalOffset < 0 ||
			sp.Length <= 0 || sp.Length > math.MaxInt64-sp.DerivativeOffset || sp.Length > math.MaxInt64-sp.OriginalOffset {
			return nil, fmt.Errorf("span %q is not DST:SRC+LEN after the previous one", f)
		}
		end = sp.DerivativeOffset + sp.Length
		out = append(out, sp)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no span")
	}
	return out, nil
}
