package strip

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/openexhibit/exhibit/capture/photo/tiff"
)

// TestLayoutRoundTrip writes directories, child directories, values of every
// size and data blocks, then reads them back with the bounded reader.
func TestLayoutRoundTrip(t *testing.T) {
	src := []byte("0123456789abcdefghijklmnopqrstuvwxyz")
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		for _, big := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/big=%v", order, big), func(t *testing.T) {
				short := make([]byte, 2)
				order.PutUint16(short, 6)
				long3 := make([]byte, 12)
				for i := range 3 {
					order.PutUint32(long3[i*4:], uint32(1000+i))
				}
				gps := &ifdDir{}
				gps.add(0x0001, tiff.ASCII, 2, []byte("N\x00"))
				ex := &ifdDir{}
				ex.add(0x9003, tiff.ASCII, 20, []byte("2024:01:02 03:04:05\x00"))
				ifd0 := &ifdDir{}
				ifd0.add(0x0112, tiff.Short, 1, short)
				ifd0.add(0x0102, tiff.Long, 3, long3)
				ifd0.add(0x010F, tiff.ASCII, 3, []byte("ab\x00")) // odd-sized value: next must be realigned
				ifd0.fields = append(ifd0.fields,
					ifdField{tag: 0x8825, typ: tiff.Long, dirs: []*ifdDir{gps}},
					ifdField{tag: 0x8769, typ: tiff.Long, dirs: []*ifdDir{ex}},
					ifdField{tag: 0x0111, blocks: []int32{0, -1, 1}})
				ifd1 := &ifdDir{}
				ifd1.fields = append(ifd1.fields, ifdField{tag: 0x0111, blocks: []int32{2}})
				l := &tiffLayout{order: order, big: big, chain: []*ifdDir{ifd0, ifd1},
					blocks: []dataBlock{{src: 2, n: 3}, {src: 5, n: 4}, {src: 20, n: 6}}}
				if err := l.layout(); err != nil {
					t.Fatal(err)
				}
				var out bytes.Buffer
				n, err := l.writeTo(context.Background(), &out, bytes.NewReader(src))
				if err != nil || n != int64(out.Len()) || n != l.size {
					t.Fatalf("writeTo = %d, %v; buffer %d, layout %d", n, err, out.Len(), l.size)
				}
				b := out.Bytes()
				f, err := tiff.Open(bytes.NewReader(b), int64(len(b)), tiff.DefaultLimits)
				if err != nil {
					t.Fatal(err)
				}
				if f.Big != big || f.Order != order {
					t.Fatalf("header: big %v order %v", f.Big, f.Order)
				}
				w, err := f.Walk(tiff.ExifPointers)
				if err != nil || len(w.Problems) != 0 {
					t.Fatalf("walk: %v %v", err, w.Problems)
				}
				paths := []string{}
				for _, d := range w.Dirs {
					paths = append(paths, d.Path)
					if d.Offset%2 != 0 {
						t.Errorf("%s at odd offset %d", d.Path, d.Offset)
					}
					for _, e := range d.Entries {
						if e.Offset%2 != 0 {
							t.Errorf("%s tag %x value at odd offset %d", d.Path, e.Tag, e.Offset)
						}
					}
				}
				if got, want := fmt.Sprint(paths), "[IFD0 IFD/Exif IFD/GPSInfo IFD1]"; got != want {
					t.Fatalf("dirs %s, want %s", got, want)
				}
				d0 := w.Dirs[0]
				for i := 1; i < len(d0.Entries); i++ {
					if d0.Entries[i].Tag <= d0.Entries[i-1].Tag {
						t.Errorf("entries not sorted: %x after %x", d0.Entries[i].Tag, d0.Entries[i-1].Tag)
					}
				}
				check := func(d *tiff.Dir, tag uint16, want string) {
					t.Helper()
					e, ok := d.Find(tag)
					if !ok {
						t.Fatalf("%s: tag %x missing", d.Path, tag)
					}
					var got string
					if e.Type == tiff.ASCII {
						got, err = f.ASCII(e)
					} else {
						var v []uint64
						v, err = f.Uints(e)
						got = fmt.Sprint(v)
					}
					if err != nil || got != want {
						t.Errorf("%s tag %x = %q, %v; want %q", d.Path, tag, got, err, want)
					}
				}
				check(d0, 0x0112, "[6]")
				check(d0, 0x0102, "[1000 1001 1002]")
				check(d0, 0x010F, "ab")
				check(w.Dirs[2], 0x0001, "N")
				check(w.Dirs[1], 0x9003, "2024:01:02 03:04:05")
				strip := func(d *tiff.Dir) [][]byte {
					e, _ := d.Find(0x0111)
					offs, err := f.Uints(e)
					if err != nil {
						t.Fatal(err)
					}
					var out [][]byte
					for i, o := range offs {
						if o == 0 {
							out = append(out, nil)
							continue
						}
						n := []int64{3, 0, 4}[i]
						if d.Path == "IFD1" {
							n = 6
						}
						out = append(out, b[o:int64(o)+n])
					}
					return out
				}
				if got := fmt.Sprintf("%q", strip(d0)); got != `["234" "" "5678"]` {
					t.Errorf("IFD0 strips %s", got)
				}
				if got := fmt.Sprintf("%q", strip(w.Dirs[3])); got != `["klmnop"]` {
					t.Errorf("IFD1 strips %s", got)
				}
				if e, _ := d0.Find(0x0111); big != (e.Type == tiff.Long8) {
					t.Errorf("offsets written as %v", e.Type)
				}
			})
		}
	}
}

// TestLayoutBigTIFFSwitch: a classic layout beyond 4 GiB is refused and
// layoutFit switches to BigTIFF. No data is read: layout only places.
func TestLayoutBigTIFFSwitch(t *testing.T) {
	d := &ifdDir{fields: []ifdField{{tag: 0x0111, blocks: []int32{0, 1}}}}
	l := &tiffLayout{order: binary.LittleEndian, chain: []*ifdDir{d},
		blocks: []dataBlock{{src: 16, n: 3 << 30}, {src: 3<<30 + 16, n: 2 << 30}}}
	if err := l.layout(); !errors.Is(err, errClassicTooBig) {
		t.Fatalf("classic layout of 5 GiB: %v", err)
	}
	if err := l.layoutFit(); err != nil || !l.big {
		t.Fatalf("layoutFit: %v big=%v", err, l.big)
	}
	if l.blocks[1].out <= math.MaxUint32-(2<<30) || l.size <= math.MaxUint32 {
		t.Fatalf("blocks placed at %d, size %d", l.blocks[1].out, l.size)
	}
}

func TestLayoutRejects(t *testing.T) {
	dup := &ifdDir{}
	dup.add(0x0112, tiff.Short, 1, []byte{1, 0})
	dup.add(0x0112, tiff.Short, 1, []byte{1, 0})
	short := &ifdDir{}
	short.add(0x0112, tiff.Short, 2, []byte{1, 0})
	badType := &ifdDir{}
	badType.add(0x0112, tiff.Type(99), 1, []byte{1})
	loop := &ifdDir{}
	loop.fields = []ifdField{{tag: 0x8769, typ: tiff.Long, dirs: []*ifdDir{loop}}}
	overlap := &ifdDir{fields: []ifdField{{tag: 0x0111, blocks: []int32{0, 1}}}}
	for _, tc := range []struct {
		name   string
		l      *tiffLayout
		reason string
	}{
		{"duplicate tag", &tiffLayout{chain: []*ifdDir{dup}}, "written twice"},
		{"value size", &tiffLayout{chain: []*ifdDir{short}}, "value bytes"},
		{"unknown type", &tiffLayout{chain: []*ifdDir{badType}}, "unexpected field type"},
		{"loop", &tiffLayout{chain: []*ifdDir{loop}}, "referenced twice"},
		{"no directory", &tiffLayout{}, "no directory"},
		{"overlap", &tiffLayout{chain: []*ifdDir{overlap}, blocks: []dataBlock{{src: 10, n: 5}, {src: 12, n: 5}}}, "overlap"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.l.order = binary.LittleEndian
			err := tc.l.layout()
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.reason)) {
				t.Fatalf("layout: %v, want %q", err, tc.reason)
			}
		})
	}
}
