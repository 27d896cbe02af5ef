package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/openexhibit/exhibit/capture/photo"
	"github.com/openexhibit/exhibit/capture/photo/testfiles"
)

// corpusVersion changes whenever the corpus maker would write different
// bytes for the same N, so that a corpus made by an older version is made
// again instead of reused.
const corpusVersion = 1

// source is one accepted source file.
type source struct {
	name string // base name, used in corpus file names
	data []byte
	meta *photo.Metadata
}

// skipped is a source file left out of the corpus, and why.
type skipped struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// manifest describes a corpus; it is written next to the corpus folder
// (not in it, so that every file in the folder is a photo).
type manifest struct {
	Version     int            `json:"version"`
	Files       int            `json:"files"`
	Bytes       int64          `json:"bytes"`
	Sources     []string       `json:"sources"`
	ByContainer map[string]int `json:"byContainer"`
	Skipped     []skipped      `json:"skipped,omitempty"`
}

// loaded memoizes loadSources: decoding every source's pixels twice takes
// seconds, and tests ask many times.
var loaded = struct {
	sync.Mutex
	m map[string]loadResult
}{m: map[string]loadResult{}}

type loadResult struct {
	srcs []source
	skip []skipped
}

// loadSources reads the source files, drops duplicates and the files a
// decoder rejects (goexif's samples are cut short after their metadata),
// and returns the rest in a fixed order. Copy 0 of every source returned
// has been checked with sameMetadata; copies differ only in the mark's
// digits, so that check stands for all of them.
func loadSources(testdata string) ([]source, []skipped, error) {
	loaded.Lock()
	defer loaded.Unlock()
	if r, ok := loaded.m[testdata]; ok {
		return r.srcs, r.skip, nil
	}
	srcs, skip, err := readSources(testdata)
	if err == nil {
		loaded.m[testdata] = loadResult{srcs, skip}
	}
	return srcs, skip, err
}

func readSources(testdata string) ([]source, []skipped, error) {
	if fi, err := os.Stat(testdata); err != nil || !fi.IsDir() {
		return nil, nil, fmt.Errorf("test photo folder %s not found: run from the repository root or pass -testdata", testdata)
	}
	var paths []string
	for _, s := range testfiles.CameraSets {
		dir, err := testfiles.ModuleDir(s.Module)
		if err != nil {
			return nil, nil, err
		}
		m, err := filepath.Glob(filepath.Join(dir, filepath.FromSlash(s.Pattern)))
		if err != nil {
			return nil, nil, err
		}
		paths = append(paths, m...)
	}
	for _, ext := range []string{"jpg", "png", "tif", "heic", "webp"} {
		m, err := filepath.Glob(filepath.Join(testdata, "*."+ext))
		if err != nil {
			return nil, nil, err
		}
		paths = append(paths, m...)
	}
	seen := map[[32]byte]bool{}
	var out []source
	var skip []skipped
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, err
		}
		sum := sha256.Sum256(b)
		if seen[sum] {
			skip = append(skip, skipped{p, "duplicate of an earlier source"})
			continue
		}
		seen[sum] = true
		s := source{name: filepath.Base(p), data: b}
		if s.meta, err = validate(b); err != nil {
			skip = append(skip, skipped{p, err.Error()})
			continue
		}
		// The unique copy must be valid too, and mutate must handle it.
		c, err := mutate(s, 0)
		if err == nil {
			err = sameMetadata(s, c)
		}
		if err != nil {
			skip = append(skip, skipped{p, err.Error()})
			continue
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, skip, errors.New("no usable source files")
	}
	return out, skip, nil
}

// validate checks that b is a photo whose metadata extracts and, for JPEG
// and PNG, whose pixels decode (cut-short files fail there). It returns
// what was extracted.
func validate(b []byte) (*photo.Metadata, error) {
	m, err := photo.Extract(context.Background(), bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, fmt.Errorf("extract: %w", err)
	}
	switch m.Container {
	case "jpeg":
		_, err = jpeg.Decode(bytes.NewReader(b))
	case "png":
		_, err = png.Decode(bytes.NewReader(b))
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", m.Container, err)
	}
	return m, nil
}

// sameMetadata checks that a copy still decodes and carries the metadata
// of its source: the same summary (camera, times, GPS, serials, XMP, IPTC),
// the same number of EXIF tags and no new problems.
func sameMetadata(s source, b []byte) error {
	m, err := validate(b)
	if err != nil {
		return err
	}
	exifTags := func(m *photo.Metadata) int {
		if m.EXIF == nil {
			return 0
		}
		return len(m.EXIF.Tags)
	}
	want, _ := json.Marshal(s.meta.Summary)
	got, _ := json.Marshal(m.Summary)
	switch {
	case m.Container != s.meta.Container:
		return fmt.Errorf("copy reads as %s, not %s", m.Container, s.meta.Container)
	case !bytes.Equal(want, got):
		return errors.New("copy's metadata summary differs from its source's")
	case exifTags(m) != exifTags(s.meta):
		return fmt.Errorf("copy has %d EXIF tags, its source %d", exifTags(m), exifTags(s.meta))
	case len(m.Problems) != len(s.meta.Problems):
		return fmt.Errorf("copy has %d extraction problems, its source %d", len(m.Problems), len(s.meta.Problems))
	}
	return nil
}

// mark is the text that makes copy i unique; its length does not depend
// on i, so every copy of a source has the same size.
func mark(i int) []byte { return fmt.Appendf(nil, "exhibit-bench corpus photo %07d", i) }

// mutate returns copy i of s: the same image with a few bytes that make it
// unique, put where the format allows free data:
//
//   - JPEG: a COM segment after the leading APPn segments (so that APP0
//     JFIF or APP1 Exif still come first) and before the tables;
//   - PNG: a tEXt chunk right after IHDR;
//   - TIFF: bytes after the last structure (offsets are absolute, so
//     nothing moves);
//   - WebP (extended format only): an unknown chunk at the end, with the
//     RIFF size updated; decoders skip unknown chunks;
//   - HEIF: a top-level free box at the end (item locations are absolute).
func mutate(s source, i int) ([]byte, error) {
	b, m := s.data, mark(i)
	switch s.meta.Container {
	case "jpeg":
		at := 2
		for at+4 <= len(b) && b[at] == 0xFF && b[at+1] >= 0xE0 && b[at+1] <= 0xEF {
			at += 2 + int(binary.BigEndian.Uint16(b[at+2:]))
		}
		if at > len(b) {
			return nil, errors.New("jpeg: APPn segment runs past the end")
		}
		seg := append([]byte{0xFF, 0xFE, 0, 0}, m...)
		binary.BigEndian.PutUint16(seg[2:], uint16(2+len(m)))
		return splice(b, at, seg), nil
	case "png":
		if len(b) < 33 || string(b[12:16]) != "IHDR" || binary.BigEndian.Uint32(b[8:]) != 13 {
			return nil, errors.New("png: IHDR is not the first chunk")
		}
		return splice(b, 33, pngChunk("tEXt", append([]byte("Comment\x00"), m...))), nil
	case "tiff", "bigtiff":
		return splice(b, len(b), m), nil
	case "webp":
		if len(b) < 30 || string(b[12:16]) != "VP8X" || int(binary.LittleEndian.Uint32(b[4:]))+8 != len(b) || len(b)%2 != 0 {
			return nil, errors.New("webp: not an extended-format file whose RIFF size matches")
		}
		chunk := append([]byte("XBEN\x00\x00\x00\x00"), m...)
		binary.LittleEndian.PutUint32(chunk[4:], uint32(len(m)))
		if len(chunk)%2 != 0 {
			chunk = append(chunk, 0)
		}
		out := splice(b, len(b), chunk)
		binary.LittleEndian.PutUint32(out[4:], uint32(len(out)-8))
		return out, nil
	case "heif":
		for off := 0; off < len(b); {
			if off+8 > len(b) {
				return nil, errors.New("heif: truncated box header")
			}
			size := int(binary.BigEndian.Uint32(b[off:]))
			if size < 8 { // 0 (to the end) or 1 (64-bit size): not handled
				return nil, errors.New("heif: top-level box without a plain 32-bit size")
			}
			off += size
			if off > len(b) {
				return nil, errors.New("heif: box runs past the end")
			}
		}
		box := append([]byte{0, 0, 0, 0, 'f', 'r', 'e', 'e'}, m...)
		binary.BigEndian.PutUint32(box, uint32(len(box)))
		return splice(b, len(b), box), nil
	}
	return nil, fmt.Errorf("%s: no way to make unique copies", s.meta.Container)
}

// splice returns b with ins inserted at offset at, in a new slice.
func splice(b []byte, at int, ins []byte) []byte {
	out := make([]byte, 0, len(b)+len(ins))
	out = append(out, b[:at]...)
	out = append(out, ins...)
	return append(out, b[at:]...)
}

// pngChunk encodes one PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	c = append(c, typ...)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}

// corpusName is the file name of copy i of s.
func corpusName(s source, i int) string {
	return fmt.Sprintf("%07d-%s", i, strings.ReplaceAll(s.name, " ", "_"))
}

// makeCorpus writes n unique photos into dir, cycling through the sources,
// unless dir already holds the corpus of this version and size (its
// manifest, dir + ".json", says so). It writes into a temporary folder and
// renames it, so that an interrupted run leaves no half corpus behind.
// The same n and sources always give the same bytes.
func makeCorpus(dir string, n int, testdata string) (*manifest, error) {
	if n <= 0 {
		return nil, fmt.Errorf("corpus size %d: must be positive", n)
	}
	var old manifest
	if b, err := os.ReadFile(dir + ".json"); err == nil && json.Unmarshal(b, &old) == nil &&
		old.Version == corpusVersion && old.Files == n {
		if fis, err := os.ReadDir(dir); err == nil && len(fis) == n {
			return &old, nil
		}
	}
	srcs, skip, err := loadSources(testdata)
	if err != nil {
		return nil, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".tmp-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	m := &manifest{Version: corpusVersion, Files: n, ByContainer: map[string]int{}, Skipped: skip}
	for _, s := range srcs {
		m.Sources = append(m.Sources, s.name)
	}
	for i := range n {
		s := srcs[i%len(srcs)]
		b, err := mutate(s, i)
		if err != nil {
			return nil, fmt.Errorf("copy %d of %s: %w", i, s.name, err)
		}
		if err := os.WriteFile(filepath.Join(tmp, corpusName(s, i)), b, 0o644); err != nil {
			return nil, err
		}
		m.Bytes += int64(len(b))
		m.ByContainer[s.meta.Container]++
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	js, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return m, os.WriteFile(dir+".json", append(js, '\n'), 0o644)
}
