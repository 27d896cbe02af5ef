package tiff

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"testing"

	"github.com/openexhibit/exhibit/capture/photo/testfiles"
)

// builder writes classic or BigTIFF directories for tests.
type builder struct {
	big   bool
	order binary.ByteOrder
	buf   bytes.Buffer
}

func newBuilder(big bool) *builder {
	b := &builder{big: big, order: binary.LittleEndian}
	if big {
		b.buf.Write([]byte{'I', 'I', 43, 0, 8, 0, 0, 0})
		b.u64(0) // first IFD, patched by setFirst
	} else {
		b.buf.Write([]byte{'I', 'I', 42, 0})
		b.u32(0)
	}
	return b
}

func (b *builder) u16(v uint16) { _ = binary.Write(&b.buf, b.order, v) }
func (b *builder) u32(v uint32) { _ = binary.Write(&b.buf, b.order, v) }
func (b *builder) u64(v uint64) { _ = binary.Write(&b.buf, b.order, v) }

func (b *builder) setFirst(off uint64) {
	p := b.buf.Bytes()
	if b.big {
		b.order.PutUint64(p[8:], off)
	} else {
		b.order.PutUint32(p[4:], uint32(off))
	}
}

type ent struct {
	tag   uint16
	typ   Type
	count uint64
	value uint64 // inline value or offset
}

// dir appends a directory and returns its offset.
func (b *builder) dir(es []ent, next uint64) uint64 {
	off := uint64(b.buf.Len())
	if b.big {
		b.u64(uint64(len(es)))
	} else {
		b.u16(uint16(len(es)))
	}
	for _, e := range es {
		b.u16(e.tag)
		b.u16(uint16(e.typ))
		if b.big {
			b.u64(e.count)
			b.u64(e.value)
		} else {
			b.u32(uint32(e.count))
			b.u32(uint32(e.value))
		}
	}
	if b.big {
		b.u64(next)
	} else {
		b.u32(uint32(next))
	}
	return off
}

func (b *builder) bytes() []byte { return b.buf.Bytes() }

func TestParseHeader(t *testing.T) {
	tests := []struct {
		in      string
		big     bool
		first   uint64
		wantErr bool
	}{
		{"II*\x00\x08\x00\x00\x00", false, 8, false},
		{"MM\x00*\x00\x00\x00\x08", false, 8, false},
		{"II+\x00\x08\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00", true, 16, false},
		{"MM\x00+\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10", true, 16, false},
		{"II+\x00\x04\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00", false, 0, true}, // offset size 4
		{"II+\x00\x08\x00", false, 0, true},
		{"II*", false, 0, true},
		{"XX*\x00\x08\x00\x00\x00", false, 0, true},
		{"", false, 0, true},
	}
	for _, tc := range tests {
		h, err := ParseHeader([]byte(tc.in))
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseHeader(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if err == nil && (h.Big != tc.big || h.FirstIFD != tc.first) {
			t.Errorf("ParseHeader(%q) = %+v, want big %v first %d", tc.in, h, tc.big, tc.first)
		}
	}
}

func TestWalkClassicAndBig(t *testing.T) {
	for _, big := range []bool{false, true} {
		b := newBuilder(big)
		ascii := uint64(b.buf.Len())
		b.buf.WriteString("camera model\x00")
		exif := b.dir([]ent{{0x9003, ASCII, 4, 0x00333231}}, 0)
		ifd1 := b.dir([]ent{{0x0100, Long, 1, 7}}, 0)
		ifd0 := b.dir([]ent{
			{0x0110, ASCII, 13, ascii},
			{0x8769, Long, 1, exif},
		}, ifd1)
		b.setFirst(ifd0)
		data := b.bytes()
		f, err := Open(bytes.NewReader(data), int64(len(data)), DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		if f.Big != big {
			t.Fatalf("Big = %v, want %v", f.Big, big)
		}
		w, err := f.Walk(ExifPointers)
		if err != nil {
			t.Fatal(err)
		}
		var paths []string
		for _, d := range w.Dirs {
			paths = append(paths, d.Path)
		}
		if got, want := paths, []string{"IFD0", "IFD/Exif", "IFD1"}; !equal(got, want) {
			t.Fatalf("big=%v: paths %v, want %v (problems %v)", big, got, want, w.Problems)
		}
		e, _ := w.Dirs[0].Find(0x0110)
		if s, err := f.ASCII(e); err != nil || s != "camera model" {
			t.Errorf("big=%v: model = %q, %v", big, s, err)
		}
		e, _ = w.Dirs[1].Find(0x9003)
		if s, err := f.ASCII(e); err != nil || s != "123" {
			t.Errorf("big=%v: inline ASCII = %q, %v", big, s, err)
		}
		e, _ = w.Dirs[2].Find(0x0100)
		if v, err := f.Uints(e); err != nil || len(v) != 1 || v[0] != 7 {
			t.Errorf("big=%v: width = %v, %v", big, v, err)
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestHostile checks that loops, poisoned counts and offsets are caught
// before any allocation they would cause.
func TestHostile(t *testing.T) {
	tests := []struct {
		name    string
		build   func(b *builder) uint64
		problem bool
		walkErr bool
		value   error // error reading the first entry of IFD0
	}{
		{"next loops to itself", func(b *builder) uint64 {
			off := uint64(b.buf.Len())
			b.dir([]ent{{0x0100, Short, 1, 1}}, off)
			return off
		}, true, false, nil},
		{"exif pointer to IFD0", func(b *builder) uint64 {
			off := uint64(b.buf.Len())
			b.dir([]ent{{0x8769, Long, 1, off}}, 0)
			return off
		}, true, false, nil},
		{"poisoned count", func(b *builder) uint64 {
			return b.dir([]ent{{0x927C, Undefined, 0x0FFFFFFF, 8}}, 0)
		}, false, false, ErrLimit},
		{"count times size overflows", func(b *builder) uint64 {
			n := uint64(1 << 61)
			if !b.big {
				n = 0xFFFFFFFF
			}
			return b.dir([]ent{{0x0111, Double, n, 8}}, 0)
		}, false, false, ErrLimit},
		{"value past the end", func(b *builder) uint64 {
			return b.dir([]ent{{0x010F, ASCII, 100, 1 << 30}}, 0)
		}, false, false, ErrOutOfRange},
		{"unknown type", func(b *builder) uint64 {
			return b.dir([]ent{{0x010F, 99, 4, 0}}, 0)
		}, false, false, ErrType},
		{"next past the end", func(b *builder) uint64 {
			return b.dir([]ent{{0x0100, Short, 1, 1}}, 1<<31)
		}, true, false, nil},
		{"first IFD past the end", func(b *builder) uint64 { return 1 << 30 }, false, true, nil},
		{"no first IFD", func(b *builder) uint64 { return 0 }, false, true, nil},
	}
	for _, big := range []bool{false, true} {
		for _, tc := range tests {
			b := newBuilder(big)
			b.setFirst(tc.build(b))
			data := b.bytes()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			f, err := Open(bytes.NewReader(data), int64(len(data)), DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			w, err := f.Walk(ExifPointers)
			if (err != nil) != tc.walkErr {
				t.Errorf("%s (big=%v): Walk error %v, want error %v", tc.name, big, err, tc.walkErr)
				continue
			}
			if err != nil {
				continue
			}
			if tc.problem && len(w.Problems) == 0 {
				t.Errorf("%s (big=%v): no problem reported", tc.name, big)
			}
			if tc.value != nil {
				_, err := f.Value(w.Dirs[0].Entries[0])
				if !errors.Is(err, tc.value) {
					t.Errorf("%s (big=%v): Value error %v, want %v", tc.name, big, err, tc.value)
				}
			}
			runtime.ReadMemStats(&after)
			if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
				t.Errorf("%s (big=%v): allocated %d bytes", tc.name, big, d)
			}
		}
	}
}

func TestTooManyEntries(t *testing.T) {
	b := newBuilder(false)
	off := uint64(b.buf.Len())
	b.u16(0xFFFF) // declares 65535 entries, has none
	b.setFirst(off)
	data := b.bytes()
	f, _ := Open(bytes.NewReader(data), int64(len(data)), DefaultLimits)
	if _, err := f.Walk(nil); !errors.Is(err, ErrLimit) {
		t.Fatalf("Walk error = %v, want ErrLimit", err)
	}
}

func TestRealTIFF(t *testing.T) {
	p := testfiles.Path(t, testfiles.GoExif, "assets/geotiff_example.tif")
	fh, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	fi, _ := fh.Stat()
	f, err := Open(fh, fi.Size(), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	w, err := f.Walk(ExifPointers)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Dirs) != 1 || len(w.Problems) != 0 {
		t.Fatalf("dirs %d problems %v", len(w.Dirs), w.Problems)
	}
	e, ok := w.Dirs[0].Find(0x87AF)
	if !ok || e.Type != Short {
		t.Fatalf("GeoKeyDirectory missing or not SHORT: %+v", e)
	}
	v, err := f.Uints(e)
	if err != nil || len(v) < 4 || v[0] != 1 {
		t.Fatalf("GeoKeyDirectory = %v, %v", v, err)
	}
}

func FuzzTIFF(f *testing.F) {
	for _, big := range []bool{false, true} {
		b := newBuilder(big)
		exif := b.dir([]ent{{0x9003, ASCII, 4, 0x00333231}, {0xA005, Long, 1, 0}}, 0)
		ifd0 := b.dir([]ent{{0x8769, Long, 1, exif}, {0x014A, Long, 2, exif}, {0x0100, Short, 1, 3}}, 0)
		b.setFirst(ifd0)
		f.Add(b.bytes())
	}
	f.Add([]byte("II*\x00\x08\x00\x00\x00\x01\x00\x69\x87\x04\x00\x01\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tf, err := Open(bytes.NewReader(data), int64(len(data)), Limits{MaxDirs: 16, MaxEntries: 512, MaxValue: 1 << 20, MaxTotal: 4 << 20})
		if err != nil {
			return
		}
		w, err := tf.Walk(ExifPointers)
		if err != nil {
			return
		}
		for _, d := range w.Dirs {
			for _, e := range d.Entries {
				if b, err := tf.Value(e); err == nil {
					if n, _ := e.Size(); int64(len(b)) != n {
						t.Fatalf("value of %d bytes, entry says %d", len(b), n)
					}
					DecodeFloats(tf.Order, e.Type, b)
					DecodeUints(tf.Order, e.Type, b)
				}
			}
		}
	})
}
