package verify

import (
	"encoding/binary"
	"os/exec"
	"strings"
	"testing"
)

// bigTIFF is a BigTIFF directory of two tiles, big-endian.
func bigTIFF() []byte {
	be := binary.BigEndian
	b := []byte("MM\x00\x2b\x00\x08\x00\x00")
	b = be.AppendUint64(b, 16)
	b = be.AppendUint64(b, 2)
	b = be.AppendUint16(be.AppendUint16(b, 324), 16)
	b = be.AppendUint64(be.AppendUint64(b, 2), 72)
	b = be.AppendUint16(be.AppendUint16(b, 325), 3)
	b = be.AppendUint64(be.AppendUint64(b, 2), 0)
	copy(b[len(b)-8:], []byte{0, 9, 0, 0}) // two SHORTs inline: 9, 0
	b = be.AppendUint64(b, 0)
	return be.AppendUint64(be.AppendUint64(b, 80), 0)
}

func TestTileArrays(t *testing.T) {
	off, n, err := tileArrays(bigTIFF())
	if err != nil || len(off) != 2 || off[0] != 80 || n[0] != 9 || n[1] != 0 {
		t.Fatalf("%v %v %v", off, n, err)
	}
	for _, bad := range [][]byte{nil, []byte("II*\x00\xff\xff\xff\xff"), []byte("XX*\x00\x08\x00\x00\x00"), bigTIFF()[:60]} {
		if _, _, err := tileArrays(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzTileArrays(f *testing.F) {
	f.Add(bigTIFF())
	f.Fuzz(func(t *testing.T, b []byte) {
		off, n, err := tileArrays(b)
		if err == nil && len(off) != len(n) {
			t.Fatalf("%d offsets, %d counts", len(off), len(n))
		}
	})
}

// TestImports: verify stays small enough to audit; it never imports the
// packages that read formats, ingest or acquire (docs/design).
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"/capture", "/ingest", "/acquire", "/worker", "/cli"} {
			if strings.HasPrefix(dep, "github.com/openexhibit/exhibit"+banned) {
				t.Errorf("verify depends on %s", dep)
			}
		}
	}
}
