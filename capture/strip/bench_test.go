package strip

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/openexhibit/exhibit/capture/photo/tiff"
)

// patternSource is a ReaderAt over n bytes of a pattern, so that large
// test files are written without holding their pixels in memory.
type patternSource struct{ n int64 }

func (p patternSource) ReadAt(b []byte, off int64) (int, error) {
	if off >= p.n {
		return 0, io.EOF
	}
	n := min(int64(len(b)), p.n-off)
	for i := range n {
		b[i] = byte((off + i) * 31 >> 3)
	}
	if n < int64(len(b)) {
		return int(n), io.EOF
	}
	return int(n), nil
}

// largeTIFF writes a tiled 8-bit RGB GeoTIFF-like file of about size bytes
// (256×256 tiles, uncompressed) with identifying tags to path.
func largeTIFF(tb testing.TB, path string, tiles int) int64 {
	tb.Helper()
	s := &synth{o: binary.LittleEndian}
	d := &ifdDir{}
	const tile = 256 * 256 * 3
	side := 1
	for side*side < tiles {
		side++
	}
	s.put(d, 0x0100, tiff.Long, uint64(side*256))
	s.put(d, 0x0101, tiff.Long, uint64(tiles/side*256))
	s.put(d, 0x0102, tiff.Short, 8, 8, 8)
	s.put(d, 0x0103, tiff.Short, 1)
	s.put(d, 0x0106, tiff.Short, 2)
	s.put(d, 0x0115, tiff.Short, 3)
	s.put(d, 0x0142, tiff.Short, 256)
	s.put(d, 0x0143, tiff.Short, 256)
	s.identifying(d)
	idx := make([]int32, tiles)
	counts := make([]uint64, tiles)
	for i := range tiles {
		idx[i] = int32(i)
		s.blocks = append(s.blocks, dataBlock{src: int64(i) * tile, n: tile})
		counts[i] = tile
	}
	d.fields = append(d.fields, ifdField{tag: tagTileOffsets, blocks: idx})
	s.put(d, tagTileByteCounts, tiff.Long, counts...)
	l := &tiffLayout{order: s.o, chain: []*ifdDir{d}, blocks: s.blocks}
	if err := l.layout(); err != nil {
		tb.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	n, err := l.writeTo(context.Background(), f, patternSource{int64(tiles) * tile})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// BenchmarkStripTIFF measures stripping throughput (MB/s of input) of a
// 192 MiB tiled TIFF read from a file, written to a file (beside a plain
// copy of the file, the bound it is compared to) and to io.Discard, and of
// a small COG held in memory.
func BenchmarkStripTIFF(b *testing.B) {
	dir := b.TempDir()
	src := filepath.Join(dir, "large.tif")
	size := largeTIFF(b, src, 1024)
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	b.Run("baseline-copy-to-file", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			out, err := os.Create(filepath.Join(dir, "out.tif"))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(out, io.NewSectionReader(in, 0, size)); err != nil {
				b.Fatal(err)
			}
			out.Close()
		}
	})
	b.Run("large-to-file", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			out, err := os.Create(filepath.Join(dir, "out.tif"))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := Strip(context.Background(), in, size, TIFF, Default, out); err != nil {
				b.Fatal(err)
			}
			out.Close()
		}
	})
	b.Run("large-to-discard", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Strip(context.Background(), in, size, TIFF, Default, io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
	cog := readFile(b, filepath.Join("..", "geo", "testdata", "cog-utm33n.tif"))
	b.Run("small-cog", func(b *testing.B) {
		b.SetBytes(int64(len(cog)))
		var out bytes.Buffer
		for b.Loop() {
			out.Reset()
			if _, err := Strip(context.Background(), bytes.NewReader(cog), int64(len(cog)), TIFF, Default, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestLargeTIFF strips a 192 MiB file and checks the copy's size and
// that its tiles are where its offsets say, without reading it all into
// memory.
func TestLargeTIFF(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 384 MiB")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "large.tif")
	size := largeTIFF(t, src, 1024)
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	dst := filepath.Join(dir, "out.tif")
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Strip(context.Background(), in, size, TIFF, Default, out)
	if err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() >= size || fi.Size() < 1024*256*256*3 {
		t.Fatalf("copy %d bytes, source %d", fi.Size(), size)
	}
	if len(rep.Removed) == 0 {
		t.Fatal("nothing reported removed")
	}
	o, err := os.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	f, err := tiff.Open(o, fi.Size(), tiffLimits)
	if err != nil {
		t.Fatal(err)
	}
	d, err := f.ReadDir(f.FirstIFD, "IFD0")
	if err != nil {
		t.Fatal(err)
	}
	e, _ := d.Find(tagTileOffsets)
	offs, err := f.Uints(e)
	if err != nil || len(offs) != 1024 {
		t.Fatalf("tile offsets: %v, %d", err, len(offs))
	}
	const tile = 256 * 256 * 3
	for _, i := range []int{0, 1, 511, 1023} {
		got := make([]byte, tile)
		want := make([]byte, tile)
		if _, err := o.ReadAt(got, int64(offs[i])); err != nil {
			t.Fatal(err)
		}
		patternSource{1 << 40}.ReadAt(want, int64(i)*tile)
		if !bytes.Equal(got, want) {
			t.Errorf("tile %d differs", i)
		}
	}
}
