package archive

import (
	"path/filepath"
	"testing"
)

func FuzzParseLocation(f *testing.F) {
	for _, s := range []string{"s3://bucket/prefix", "./archive", "s3://", "ftp://x", "s3://b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLocation(s)
		if err != nil {
			if KindOf(err) != KindConfig {
				t.Fatalf("%q: %v is not a configuration error", s, err)
			}
			return
		}
		if !l.IsS3() && !filepath.IsAbs(l.Dir) {
			t.Fatalf("%q parsed to a relative folder %q", s, l.Dir)
		}
		if l.IsS3() {
			again, err := ParseLocation(l.String())
			if err != nil || again != l {
				t.Fatalf("%q parsed to %+v, whose String %q parses to %+v, %v", s, l, l.String(), again, err)
			}
		}
	})
}
