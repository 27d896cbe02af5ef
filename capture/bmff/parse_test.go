package bmff_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/openexhibit/exhibit/capture/bmff"
	"github.com/openexhibit/exhibit/capture/bmff/bmfftest"
)

func parse(data []byte) (*bmff.File, error) {
	return bmff.Parse(context.Background(), bytes.NewReader(data), int64(len(data)))
}

// TestParse reads the item structure of a well-formed file.
func TestParse(t *testing.T) {
	for name, s := range map[string]bmfftest.Spec{
		"iloc version 1":         {},
		"iloc version 0":         {IlocVersion: 0},
		"iloc version 2":         {IlocVersion: 2},
		"Exif in idat":           {ExifMethod: 1},
		"iinf of 5 MiB (padded)": {IinfPad: 5 << 20},
	} {
		t.Run(name, func(t *testing.T) {
			f, err := parse(bmfftest.HEIF(s))
			if err != nil {
				t.Fatal(err)
			}
			m := f.Meta
			if m == nil || m.Handler != "pict" || m.Primary != 1 || len(m.Order) != 2 || len(m.Props) != 1 || len(m.DataRefs) != 1 || !m.DataRefs[0] {
				t.Fatalf("meta %+v", m)
			}
			if len(f.Top) != 3 || f.Top[0].Type != "ftyp" || string(f.Ftyp[:4]) != "heic" {
				t.Fatalf("top %+v", f.Top)
			}
			exif := m.Items[2]
			if exif.Type != "Exif" || len(m.Refs) != 1 || m.Refs[0].Type != "cdsc" || m.Refs[0].From != 2 || m.Refs[0].To[0] != 1 {
				t.Fatalf("item %+v, refs %+v", exif, m.Refs)
			}
			if img := m.Items[1]; img.Type != "hvc1" || len(img.Assocs) != 1 || img.Assocs[0].Index != 1 || !img.Assocs[0].Essential {
				t.Fatalf("image %+v", img)
			}
			b, err := f.ItemBytes(exif, 1<<20)
			if err != nil || !bytes.Equal(b, bmfftest.Exif) {
				t.Fatalf("Exif item %q, %v", b, err)
			}
			if _, err := f.ItemBytes(exif, 8); err == nil {
				t.Fatal("an item over the limit was read")
			}
		})
	}
	t.Run("no meta", func(t *testing.T) {
		data := append(bmfftest.Box("ftyp", []byte("heic\x00\x00\x00\x00")), bmfftest.Box("mdat", []byte("x"))...)
		f, err := parse(data)
		if err != nil || f.Meta != nil || len(f.Top) != 2 {
			t.Fatalf("%+v, %v", f, err)
		}
	})
}

// TestParseHostile: every lie of bmfftest.Hostile is refused with an
// error that says what is wrong, as malformed or as unsupported; the
// top-level boxes are still listed when only the meta box lies.
func TestParseHostile(t *testing.T) {
	for _, c := range bmfftest.Hostile(true) {
		t.Run(c.Name, func(t *testing.T) {
			f, err := parse(c.Data)
			if err == nil || !strings.Contains(err.Error(), c.Want) {
				t.Fatalf("err = %v, want %q", err, c.Want)
			}
			var ue *bmff.UnsupportedError
			var be *bmff.Error
			if errors.As(err, &ue) != c.Unsupported || !c.Unsupported && !errors.As(err, &be) {
				t.Fatalf("err = %T %v, unsupported = %v", err, err, c.Unsupported)
			}
			if f != nil && (f.Meta != nil || len(f.Top) == 0) {
				t.Fatalf("a file with an error: meta %v, top %v", f.Meta, f.Top)
			}
		})
	}
	for _, c := range bmfftest.Unlocatable() {
		t.Run(c.Name, func(t *testing.T) {
			f, err := parse(c.Data)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.Locate(f.Meta.Items[2])
			var ue *bmff.UnsupportedError
			if err == nil || !strings.Contains(err.Error(), c.Want) || errors.As(err, &ue) != c.Unsupported {
				t.Fatalf("err = %v, want %q", err, c.Want)
			}
		})
	}
	t.Run("truncated anywhere", func(t *testing.T) {
		good := bmfftest.HEIF(bmfftest.Spec{})
		for n := 0; n < len(good); n++ {
			if f, err := parse(good[:n]); err == nil && f.Meta != nil {
				for _, it := range f.Meta.Order {
					if spans, err := f.Locate(it); err == nil {
						for _, s := range spans {
							if s.Off < 0 || s.End > int64(n) || s.End < s.Off {
								t.Fatalf("cut at %d: item %d located at %+v", n, it.ID, s)
							}
						}
					}
				}
			}
		}
	})
}

// FuzzParse: any bytes parse or fail, never panic, and whatever is located
// lies inside the file.
func FuzzParse(f *testing.F) {
	for _, s := range []bmfftest.Spec{{}, {ExifMethod: 1}, {IlocVersion: 2}, {InfeVersion: 3}} {
		f.Add(bmfftest.HEIF(s))
	}
	for _, c := range bmfftest.Hostile(false) {
		f.Add(c.Data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pf, err := parse(data)
		if err != nil || pf.Meta == nil {
			return
		}
		for _, it := range pf.Meta.Order {
			spans, err := pf.Locate(it)
			if err != nil {
				continue
			}
			for _, s := range spans {
				if s.Off < 0 || s.End > int64(len(data)) || s.End < s.Off {
					t.Fatalf("item %d located at %+v in %d bytes", it.ID, s, len(data))
				}
			}
		}
	})
}
