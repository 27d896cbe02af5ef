package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openexhibit/exhibit/capture/photo/testfiles"
)

const testdata = "../../../capture/photo/testdata"

// needSources skips (or, under CI=true, fails) when the module cache
// cannot provide the source photos.
func needSources(t *testing.T) {
	t.Helper()
	for _, s := range testfiles.CameraSets {
		testfiles.Dir(t, s.Module)
	}
}

// sourceFor returns the source of the given name, as loadSources accepted it.
func sourceFor(t *testing.T, name string) source {
	t.Helper()
	srcs, _, err := loadSources(testdata)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range srcs {
		if s.name == name {
			return s
		}
	}
	t.Fatalf("source %s not accepted", name)
	return source{}
}

func TestMutate(t *testing.T) {
	needSources(t)
	for _, tc := range []struct {
		name  string
		check func(t *testing.T, src, out []byte)
	}{
		{"gps.jpg", func(t *testing.T, src, out []byte) {
			// The first segment (APP0 JFIF or APP1 Exif) stays first; the
			// COM segment follows the APPn run.
			if !bytes.Equal(out[:4], src[:4]) || out[3] < 0xE0 || out[3] > 0xEF {
				t.Errorf("file starts %x, want the original's %x (SOI, APPn)", out[:4], src[:4])
			}
			at := bytes.Index(out, []byte("\xFF\xFE\x00\x24exhibit-bench"))
			if at < 0 {
				t.Fatal("no COM segment with the mark")
			}
			if next := out[at+2+0x24 : at+2+0x24+2]; next[0] != 0xFF || (next[1] >= 0xE0 && next[1] <= 0xEF) {
				t.Errorf("COM segment is followed by %x, want the first non-APPn marker", next)
			}
		}},
		{"lens.png", func(t *testing.T, src, out []byte) {
			if got := string(out[33+4 : 33+8]); got != "tEXt" {
				t.Fatalf("chunk after IHDR is %q, want tEXt", got)
			}
			n := int(binary.BigEndian.Uint32(out[33:]))
			body := out[33+4 : 33+8+n]
			if crc := binary.BigEndian.Uint32(out[33+8+n:]); crc != crc32.ChecksumIEEE(body) {
				t.Errorf("tEXt CRC %08x, want %08x", crc, crc32.ChecksumIEEE(body))
			}
		}},
		{"lens.tif", func(t *testing.T, src, out []byte) {
			if !bytes.HasPrefix(out, src) {
				t.Error("TIFF copy does not start with the whole original")
			}
		}},
		{"lens.webp", func(t *testing.T, src, out []byte) {
			if got := int(binary.LittleEndian.Uint32(out[4:])); got != len(out)-8 {
				t.Errorf("RIFF size %d, want %d", got, len(out)-8)
			}
			if !bytes.Contains(out[len(src):], []byte("XBEN")) {
				t.Error("no XBEN chunk after the original chunks")
			}
		}},
		{"lens.heic", func(t *testing.T, src, out []byte) {
			box := out[len(src):]
			if int(binary.BigEndian.Uint32(box)) != len(box) || string(box[4:8]) != "free" {
				t.Errorf("appended box %q is not one whole free box", box[:8])
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sourceFor(t, tc.name)
			a, err := mutate(s, 7)
			if err != nil {
				t.Fatal(err)
			}
			b, err := mutate(s, 8)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(a, b) || bytes.Equal(a, s.data) {
				t.Error("copies are not unique")
			}
			if len(a) != len(b) {
				t.Errorf("copies differ in size: %d and %d", len(a), len(b))
			}
			if err := sameMetadata(s, a); err != nil {
				t.Error(err)
			}
			tc.check(t, s.data, a)
		})
	}
}

func TestMutateRejects(t *testing.T) {
	needSources(t)
	webp := sourceFor(t, "lens.webp")
	heic := sourceFor(t, "lens.heic")
	png := sourceFor(t, "lens.png")
	simpleWebP := append([]byte(nil), webp.data...)
	copy(simpleWebP[12:16], "VP8 ")
	toEnd := append([]byte(nil), heic.data...)
	binary.BigEndian.PutUint32(toEnd, 0) // ftyp "to the end of the file"
	noIHDR := append([]byte(nil), png.data...)
	copy(noIHDR[12:16], "IDAT")
	for _, tc := range []struct {
		name string
		s    source
		want string
	}{
		{"simple WebP", source{data: simpleWebP, meta: webp.meta}, "extended-format"},
		{"HEIF box to the end", source{data: toEnd, meta: heic.meta}, "32-bit size"},
		{"PNG without IHDR first", source{data: noIHDR, meta: png.meta}, "IHDR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mutate(tc.s, 1)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("mutate: %v, want an error about %q", err, tc.want)
			}
		})
	}
}

func TestLoadSourcesSkipsCutShortFiles(t *testing.T) {
	needSources(t)
	srcs, skip, err := loadSources(testdata)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, s := range srcs {
		names[s.name] = true
	}
	// goexif's samples are cut short after their metadata: pixels do not
	// decode, so they stay out; whole camera files and every format are in.
	for _, want := range []string{"NDM_8901.jpg", "gps.jpg", "geotiff_example.tif", "exif.png", "lens.heic", "lens.webp", "lens.tif"} {
		if !names[want] {
			t.Errorf("%s missing from the sources", want)
		}
	}
	var cut, dup int
	for _, s := range skip {
		switch {
		case strings.Contains(s.Path, "samples") && strings.Contains(s.Reason, "decode jpeg"):
			cut++
		case strings.Contains(s.Reason, "duplicate"):
			dup++
		}
	}
	if cut < 40 || dup != 1 {
		t.Errorf("skipped %d cut-short samples and %d duplicates, want at least 40 and 1", cut, dup)
	}
}

func TestMakeCorpusNeedsTestdata(t *testing.T) {
	_, err := makeCorpus(filepath.Join(t.TempDir(), "photos-5"), 5, filepath.Join(t.TempDir(), "missing"))
	if err == nil || !strings.Contains(err.Error(), "-testdata") {
		t.Errorf("error %v, want one that names -testdata", err)
	}
}

func TestMakeCorpus(t *testing.T) {
	needSources(t)
	dir := filepath.Join(t.TempDir(), "photos-60")
	digests := func() map[string][32]byte {
		t.Helper()
		fis, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][32]byte{}
		seen := map[[32]byte]string{}
		for _, fi := range fis {
			b, err := os.ReadFile(filepath.Join(dir, fi.Name()))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			if other, ok := seen[sum]; ok {
				t.Errorf("%s and %s have the same bytes", fi.Name(), other)
			}
			seen[sum] = fi.Name()
			out[fi.Name()] = sum
		}
		return out
	}
	m, err := makeCorpus(dir, 60, testdata)
	if err != nil {
		t.Fatal(err)
	}
	first := digests()
	if len(first) != 60 || m.Files != 60 {
		t.Fatalf("%d files, manifest says %d; want 60", len(first), m.Files)
	}
	for _, c := range []string{"jpeg", "png", "tiff", "heif", "webp"} {
		if m.ByContainer[c] == 0 {
			t.Errorf("no %s in the corpus", c)
		}
	}
	if err := cmdExtract([]string{"-jobs", "2", dir}); err != nil {
		t.Errorf("extract over the corpus: %v", err)
	}

	t.Run("reused", func(t *testing.T) {
		old := time.Unix(1e9, 0)
		one := filepath.Join(dir, corpusName(sourceFor(t, "gps.jpg"), 2))
		if err := os.Chtimes(one, old, old); err != nil {
			t.Fatal(err)
		}
		if _, err := makeCorpus(dir, 60, testdata); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(one)
		if err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().Equal(old) {
			t.Error("the corpus was written again instead of reused")
		}
	})
	t.Run("deterministic", func(t *testing.T) {
		if err := os.Remove(dir + ".json"); err != nil {
			t.Fatal(err)
		}
		if _, err := makeCorpus(dir, 60, testdata); err != nil {
			t.Fatal(err)
		}
		second := digests()
		for name, sum := range first {
			if second[name] != sum {
				t.Errorf("%s differs between two makes", name)
			}
		}
		if len(second) != len(first) {
			t.Errorf("%d files, then %d", len(first), len(second))
		}
	})
}

func TestWorkingCopies(t *testing.T) {
	arch := t.TempDir()
	for i, rec := range []string{
		`{"predicate":{"metadata":{"errors":[{"reader":"strip/1","error":"x"}]},"derivatives":[]}}`,
		`{"predicate":{"metadata":{},"derivatives":[{"name":"working-copy.jpg"}]}}`,
		`{"predicate":{"metadata":{"errors":[{"reader":"photo/1","error":"x"}]},"derivatives":[{"name":"working-copy.png"}]}}`,
	} {
		d := filepath.Join(arch, "items", string(rune('a'+i)))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "record.json"), []byte(rec), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copies, stripErrs, err := workingCopies(arch)
	if err != nil || copies != 2 || stripErrs != 1 {
		t.Errorf("workingCopies = %d, %d, %v; want 2, 1, nil", copies, stripErrs, err)
	}
}

func TestPhotoBenchFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-jobs", "0,x"}, `"x" is not a number of jobs`},
		{[]string{"-jobs", "-2"}, `"-2" is not a number of jobs`},
		{[]string{"-runs", "0"}, "at least 1"},
		{[]string{"-loop", "0"}, "at least 1"},
		{[]string{"-corpus", filepath.Join(t.TempDir(), "none"), "-exhibit", "x", "-cosign", "y"}, "exhibit-bench photos"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			err := cmdPhotoBench(tc.args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
