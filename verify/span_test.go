package verify_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openexhibit/exhibit/capture"
	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/ingest"
	"github.com/openexhibit/exhibit/storage/local"
	"github.com/openexhibit/exhibit/verify"
)

// spanning makes derivatives that claim to be spans of the original:
// "part.txt" truly bytes 2+7, "liar.txt" bytes 2+7 of another content;
// "parts.bin" holds bytes 2+3 and 10+4 at 0 and 5 (original-spans),
// "swapped.bin" holds them the other way round, "outside.bin" names bytes
// beyond the original.
type spanning struct{}

func (spanning) ID() string           { return "test-span/1" }
func (spanning) MediaTypes() []string { return []string{"text/*"} }
func (spanning) Read(_ context.Context, src capture.Source) (*capture.Result, error) {
	part := make([]byte, 7)
	if _, err := src.ReadAt(part, 2); err != nil && err != io.EOF {
		return nil, err
	}
	span := map[string]string{"original-offset": "2", "original-length": "7"}
	d := func(name string, b []byte) capture.Derivative {
		return capture.Derivative{Name: name, Kind: "test", MediaType: "text/plain",
			Transform: capture.Transform{Name: "span", Version: "1", Params: span},
			Write:     func(_ context.Context, w io.Writer) error { _, err := w.Write(b); return err }}
	}
	parts := func(name, spans string, b []byte) capture.Derivative {
		x := d(name, b)
		x.Transform.Params = map[string]string{custody.ParamOriginalSpans: spans}
		return x
	}
	all := make([]byte, src.Size())
	if _, err := src.ReadAt(all, 0); err != nil && err != io.EOF {
		return nil, err
	}
	joined := append(append(append([]byte{}, all[2:5]...), "--"...), all[10:14]...)
	swapped := append(append(append([]byte{}, all[10:13]...), "--"...), all[2:6]...)
	tif := func(name string, offsets, counts [2]uint32) capture.Derivative {
		x := parts(name, "54:2+3 57:10+4", tiffOf(all, offsets, counts))
		x.MediaType = "image/tiff"
		return x
	}
	return &capture.Result{Derivatives: []capture.Derivative{d("part.txt", part), d("liar.txt", []byte("forged!")),
		parts("parts.bin", "0:2+3 5:10+4", joined), parts("swapped.bin", "0:2+3 5:10+4", swapped),
		parts("outside.bin", "0:2+3 5:100+4", joined),
		tif("tiles.tif", [2]uint32{54, 57}, [2]uint32{3, 4}), tif("reordered.tif", [2]uint32{57, 54}, [2]uint32{4, 3})}}, nil
}

// tiffOf is a TIFF whose directory names two tiles at offsets, of counts
// bytes, followed by bytes 2+3 and 10+4 of orig at 54 and 57.
func tiffOf(orig []byte, offsets, counts [2]uint32) []byte {
	le := binary.LittleEndian
	b := []byte("II*\x00\x08\x00\x00\x00")
	b = le.AppendUint16(b, 2)
	b = le.AppendUint16(le.AppendUint16(b, 324), 4)
	b = le.AppendUint32(le.AppendUint32(b, 2), 38)
	b = le.AppendUint16(le.AppendUint16(b, 325), 4)
	b = le.AppendUint32(le.AppendUint32(b, 2), 46)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint32(le.AppendUint32(b, offsets[0]), offsets[1])
	b = le.AppendUint32(le.AppendUint32(b, counts[0]), counts[1])
	return append(append(b, orig[2:5]...), orig[10:14]...)
}

// TestDerivedSpans: a derivative whose record says it is a span of the
// original, or holds spans of it, is compared with those bytes of the
// original, in the same read: the true ones pass, the others fail, naming
// the span; a TIFF whose directory does not place its tiles at the spans
// fails too.
func TestDerivedSpans(t *testing.T) {
	ctx := context.Background()
	st, err := local.Create(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := newSigner(t)
	trust := trustOnly(t, s)
	reg, err := capture.NewRegistry(spanning{})
	if err != nil {
		t.Fatal(err)
	}
	in, err := ingest.New(ctx, ingest.Options{Store: st, Signer: s, Verifier: trust, Readers: reg})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "note.txt")
	os.WriteFile(p, []byte("a witness statement\n"), 0o644)
	res := in.File(ctx, p)
	if res.Status != ingest.Archived {
		t.Fatalf("ingest: %+v", res)
	}
	id, _ := hashing.ParseDigest(res.Item)
	ir := (&verify.Verifier{Store: st, Trust: trust}).Item(ctx, id)
	got := map[string]verify.Status{}
	for _, c := range ir.Checks {
		if c.Name == "derivative tiles.tif source" && !strings.Contains(c.Detail, "its 2 tiles (7 bytes)") ||
			c.Name == "derivative reordered.tif source" && !strings.Contains(c.Found, "tile 0 is 4 bytes at 57") {
			t.Errorf("%+v", c)
		}
		if strings.HasSuffix(c.Name, " source") {
			got[strings.TrimSuffix(strings.TrimPrefix(c.Name, "derivative "), " source")] = c.Status
		}
	}
	want := map[string]verify.Status{"part.txt": verify.Pass, "liar.txt": verify.Fail, "parts.bin": verify.Pass,
		"swapped.bin": verify.Fail, "outside.bin": verify.Fail, "tiles.tif": verify.Pass, "reordered.tif": verify.Fail}
	if fmt.Sprint(got) != fmt.Sprint(want) || ir.Status != verify.Fail {
		t.Fatalf("span checks %v, want %v; item %s", got, want, ir.Status)
	}
}
