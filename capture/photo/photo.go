// Package photo reads the metadata of photographs: EXIF (every tag of every
// image file directory, with GPS position, capture times, camera, lens and
// serial numbers drawn out), XMP packets and IPTC datasets, from JPEG, PNG,
// TIFF (and TIFF-shaped raw formats: DNG, CR2, NEF, ARW), BigTIFF, HEIF/HEIC
// (and AVIF) and WebP files. It implements capture.Reader as "photo/1".
//
// The container walks (JPEG segments, PNG chunks, RIFF chunks, ISO-BMFF
// boxes, Photoshop resources, IPTC datasets) are written here; TIFF
// structure is read by the tiff subpackage, and go-exif supplies the EXIF
// tag dictionary and the decoders of its UNDEFINED-type values. Nothing hands
// go-exif a count or offset taken from a file: every size is checked against
// fixed limits before anything is allocated, loops are detected, and
// iterations are capped, so a hostile file costs bounded memory and time.
// Errors and problems name the structure and the offset that failed, never
// the metadata values found there. Nothing is logged: see quiet.go for how
// go-exif's logger is kept silent.
//
// photo must not import storage, sign, ingest or cli.
package photo

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/openexhibit/exhibit/capture"
)

// ID names the reader and the version of its output.
const ID = "photo/1"

// Reader extracts photo metadata. It keeps no state between calls and is
// safe for concurrent use.
type Reader struct{}

// New returns a photo metadata reader.
func New() *Reader { return &Reader{} }

var _ capture.Reader = (*Reader)(nil)

// ID implements capture.Reader.
func (*Reader) ID() string { return ID }

// MediaTypes implements capture.Reader. Files are matched by the sniffed
// media type only: an extension can lie.
func (*Reader) MediaTypes() []string {
	return []string{"image/jpeg", "image/png", "image/tiff", "image/heic", "image/heif", "image/avif", "image/webp"}
}

// Metadata is the output of photo/1, stored under "photo/1" in an item's
// metadata document. Offsets are byte offsets in the original.
type Metadata struct {
	// Container is "jpeg", "png", "tiff", "bigtiff", "heif" or "webp".
	Container string `json:"container"`
	// Summary holds the facts most often asked for.
	Summary Summary `json:"summary"`
	Image   *Image  `json:"image,omitempty"`
	Camera  *Camera `json:"camera,omitempty"`
	// Times lists the date-time tags found (EXIF DateTimeOriginal,
	// DateTimeDigitized, DateTime; PNG tIME).
	Times []Time `json:"times,omitempty"`
	GPS   *GPS   `json:"gps,omitempty"`
	EXIF  *EXIF  `json:"exif,omitempty"`
	XMP   []XMP  `json:"xmp,omitempty"`
	IPTC  []IPTC `json:"iptc,omitempty"`
	// Text lists free text: PNG tEXt/zTXt/iTXt chunks and JPEG comments.
	Text []Text `json:"text,omitempty"`
	// Structure lists the container's parts in file order (runs of parts of
	// the same type are merged), including any data after the end of the
	// image.
	Structure []Part `json:"structure,omitempty"`
	// Problems lists what was malformed or beyond limits; what could be read
	// around it is still reported.
	Problems []Problem `json:"problems,omitempty"`
}

// Summary is the compact view `exhibit show` prints.
type Summary struct {
	// CaptureTime is the first of DateTimeOriginal, DateTimeDigitized and
	// DateTime that parses: RFC 3339 when the file records the UTC offset,
	// otherwise a local date-time without offset.
	CaptureTime       string   `json:"captureTime,omitempty"`
	CaptureTimeSource string   `json:"captureTimeSource,omitempty"`
	Latitude          *float64 `json:"latitude,omitempty"`
	Longitude         *float64 `json:"longitude,omitempty"`
	Altitude          *float64 `json:"altitude,omitempty"`
	Make              string   `json:"make,omitempty"`
	Model             string   `json:"model,omitempty"`
	Lens              string   `json:"lens,omitempty"`
	// BodySerial and LensSerial report whether serial numbers are present.
	BodySerial bool `json:"bodySerial"`
	LensSerial bool `json:"lensSerial"`
	// Owner reports whether an owner, artist, author or copyright holder is
	// named.
	Owner bool `json:"owner"`
	XMP   bool `json:"xmp"`
	IPTC  bool `json:"iptc"`
}

// Image is the image size as the container declares it.
type Image struct {
	Width  uint64 `json:"width,omitempty"`
	Height uint64 `json:"height,omitempty"`
}

// Camera gathers who and what made the photo.
type Camera struct {
	Make              string `json:"make,omitempty"`
	Model             string `json:"model,omitempty"`
	UniqueModel       string `json:"uniqueModel,omitempty"`
	Software          string `json:"software,omitempty"`
	BodySerialNumber  string `json:"bodySerialNumber,omitempty"`
	LensMake          string `json:"lensMake,omitempty"`
	LensModel         string `json:"lensModel,omitempty"`
	LensSerialNumber  string `json:"lensSerialNumber,omitempty"`
	LensSpecification string `json:"lensSpecification,omitempty"`
	OwnerName         string `json:"ownerName,omitempty"`
	Artist            string `json:"artist,omitempty"`
	Author            string `json:"author,omitempty"`
	Copyright         string `json:"copyright,omitempty"`
	ImageUniqueID     string `json:"imageUniqueID,omitempty"`
}

// Time is one date-time tag.
type Time struct {
	// Tag is the tag's name (DateTimeOriginal, …, or tIME for PNG).
	Tag string `json:"tag"`
	// Raw is the value as stored.
	Raw string `json:"raw"`
	// SubSec and RawOffset are the matching SubSecTime and OffsetTime
	// values as stored.
	SubSec    string `json:"subSec,omitempty"`
	RawOffset string `json:"rawOffset,omitempty"`
	// Time is RFC 3339 when the offset is known, a local date-time
	// ("2006-01-02T15:04:05") when not, and empty when Raw does not parse.
	Time string `json:"time,omitempty"`
	// Offset is the UTC offset ("+02:00") Time carries, when known.
	Offset string `json:"offset,omitempty"`
}

// GPS is the position and time from the GPS directory.
type GPS struct {
	// Latitude and Longitude are decimal degrees, south and west negative.
	Latitude  *float64 `json:"latitude,omitempty"`
	Longitude *float64 `json:"longitude,omitempty"`
	// Altitude is in metres, below sea level negative.
	Altitude *float64 `json:"altitude,omitempty"`
	// Timestamp is RFC 3339 UTC when both GPSDateStamp and GPSTimeStamp
	// parse; Time and Date hold what there is otherwise.
	Timestamp string `json:"timestamp,omitempty"`
	Date      string `json:"date,omitempty"`
	Time      string `json:"time,omitempty"`
	MapDatum  string `json:"mapDatum,omitempty"`
}

// EXIF is the EXIF (or TIFF) directory tree.
type EXIF struct {
	// Offset is where the TIFF header starts in the original.
	Offset    int64  `json:"offset"`
	ByteOrder string `json:"byteOrder"`
	BigTIFF   bool   `json:"bigTIFF,omitempty"`
	Tags      []Tag  `json:"tags"`
	// Thumbnails are the JPEG thumbnails the directories point to.
	Thumbnails []Blob `json:"thumbnails,omitempty"`
}

// Tag is one directory entry.
type Tag struct {
	// IFD is the directory: IFD0, IFD1, IFD/Exif, IFD/GPSInfo, IFD/Exif/Iop,
	// IFD/SubIFD0, …
	IFD   string `json:"ifd"`
	ID    uint16 `json:"id"`
	Name  string `json:"name,omitempty"`
	Type  string `json:"type"`
	Count uint64 `json:"count"`
	// Value is the decoded value: a string for ASCII, a number or list of
	// numbers, rationals as "num/den" strings; single values are not
	// wrapped in a list.
	Value any `json:"value,omitempty"`
	// Hex holds short binary values.
	Hex string `json:"hex,omitempty"`
	// Blob describes large binary values (maker notes, embedded profiles,
	// long arrays) instead of copying them.
	Blob *Blob `json:"blob,omitempty"`
	// Error says why the value was not read.
	Error string `json:"error,omitempty"`
}

// Blob describes bytes by position, length and digest.
type Blob struct {
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
	SHA256 string `json:"sha256,omitempty"`
}

// XMP is one XMP packet.
type XMP struct {
	// Source says where it was found: "APP1", "iTXt", "tag 700", "XMP chunk",
	// "item", "APP1 extended".
	Source string `json:"source"`
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
	// XML is the packet as stored (absent, with SHA256 set, when beyond the
	// size limit).
	XML    string `json:"xml,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// IPTC is one IPTC-IIM dataset.
type IPTC struct {
	// Tag is "record:dataset", as IPTC numbers them ("2:25").
	Tag     string `json:"tag"`
	Record  uint8  `json:"record"`
	Dataset uint8  `json:"dataset"`
	Name    string `json:"name,omitempty"`
	// Value is text, or a number for binary numeric datasets.
	Value any    `json:"value,omitempty"`
	Hex   string `json:"hex,omitempty"`
	Blob  *Blob  `json:"blob,omitempty"`
}

// Text is a free-text field.
type Text struct {
	// Source is "tEXt", "zTXt", "iTXt" or "COM".
	Source     string `json:"source"`
	Offset     int64  `json:"offset"`
	Keyword    string `json:"keyword,omitempty"`
	Language   string `json:"language,omitempty"`
	Translated string `json:"translatedKeyword,omitempty"`
	Text       string `json:"text"`
	// Truncated is set when the text was cut at the size limit.
	Truncated bool `json:"truncated,omitempty"`
}

// Part is one structural part of the container, or a run of parts of the
// same type.
type Part struct {
	Type   string `json:"type"`
	Offset int64  `json:"offset"`
	// Length is the total length of the run, headers included.
	Length int64 `json:"length"`
	// Count is the number of parts in the run when more than one.
	Count int `json:"count,omitempty"`
	// ID is a format identifier found in the part (the signature of a JPEG
	// APPn segment, the item type of a HEIF item).
	ID string `json:"id,omitempty"`
}

// Problem is something malformed or beyond limits.
type Problem struct {
	// Where names the structure: "jpeg APP1", "IFD/GPSInfo", "png zTXt", …
	Where  string `json:"where"`
	Offset int64  `json:"offset"`
	// Problem says what is wrong, never what the file holds there.
	Problem string `json:"problem"`
}

// Limits.
const (
	maxProblems     = 256
	maxParts        = 512
	maxTags         = 4096
	maxTexts        = 1024
	maxXMPs         = 64
	maxTimes        = 16
	maxText         = 1 << 20  // one decoded text or comment
	maxTextTotal    = 16 << 20 // all decoded text of a file
	maxXMP          = 4 << 20  // one XMP packet kept as XML
	maxMetaBlock    = 16 << 20 // an EXIF, IPTC or Photoshop block read into memory
	maxInlineString = 64 << 10 // an ASCII tag value kept as text
	maxInlineValues = 256      // values of a numeric tag kept as numbers
	maxHex          = 64       // bytes of a binary value kept as hex
	maxOutput       = 8 << 20  // text and values copied into the output
	maxHashed       = 256 << 20
)

// errNotPhoto is returned for data in none of the formats.
var errNotPhoto = errors.New("not a JPEG, PNG, TIFF, HEIF or WebP file")

// Read implements capture.Reader.
func (*Reader) Read(ctx context.Context, src capture.Source) (*capture.Result, error) {
	m, err := Extract(ctx, src, src.Size())
	if err != nil {
		return nil, err
	}
	return &capture.Result{Metadata: m}, nil
}

// Extract reads the metadata of the photo in r, of the given size. It is
// Read without the capture types, for tests and tools.
func Extract(ctx context.Context, r io.ReaderAt, size int64) (*Metadata, error) {
	if size <= 0 {
		return nil, fmt.Errorf("photo: empty file")
	}
	var head [32]byte
	n, err := r.ReadAt(head[:min(int64(len(head)), size)], 0)
	if n < int(min(int64(len(head)), size)) {
		return nil, fmt.Errorf("photo: reading the header: %w", readErr(err))
	}
	h := head[:n]
	st := &state{ctx: ctx, r: r, size: size, m: &Metadata{}}
	switch {
	case len(h) >= 3 && h[0] == 0xFF && h[1] == 0xD8 && h[2] == 0xFF:
		st.m.Container = "jpeg"
		err = st.jpeg()
	case len(h) >= 8 && string(h[:8]) == pngSignature:
		st.m.Container = "png"
		err = st.png()
	case len(h) >= 4 && (string(h[:4]) == "II*\x00" || string(h[:4]) == "MM\x00*"):
		st.m.Container = "tiff"
		err = st.tiffFile()
	case len(h) >= 4 && (string(h[:4]) == "II+\x00" || string(h[:4]) == "MM\x00+"):
		st.m.Container = "bigtiff"
		err = st.tiffFile()
	case len(h) >= 12 && string(h[:4]) == "RIFF" && string(h[8:12]) == "WEBP":
		st.m.Container = "webp"
		err = st.webp()
	case len(h) >= 8 && string(h[4:8]) == "ftyp":
		st.m.Container = "heif"
		err = st.heif()
	default:
		return nil, fmt.Errorf("photo: %w", errNotPhoto)
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("photo: %s: %w", st.m.Container, err)
	}
	st.finish()
	return st.m, nil
}

func readErr(err error) error {
	if err == nil || err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// state is one extraction in progress.
type state struct {
	ctx  context.Context
	r    io.ReaderAt
	size int64
	m    *Metadata

	exifDone  bool  // an EXIF block was decoded (later ones are only listed)
	textBytes int64 // decoded text so far
	output    int64 // text and values copied into the output so far
	hashed    int64 // bytes hashed for blobs so far
	iptcRaw   int   // IPTC blocks decoded
	scanBuf   []byte
}

func (st *state) problem(where string, off int64, format string, args ...any) {
	if len(st.m.Problems) >= maxProblems {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if len(st.m.Problems) == maxProblems-1 {
		where, off, msg = "photo", 0, "problem limit reached; later problems not listed"
	}
	st.m.Problems = append(st.m.Problems, Problem{Where: where, Offset: off, Problem: msg})
}

// part records a structural part, merging runs of the same type.
func (st *state) part(typ string, off, length int64, id string) {
	ps := st.m.Structure
	if n := len(ps); n > 0 && ps[n-1].Type == typ && ps[n-1].ID == id && id == "" && ps[n-1].Offset+ps[n-1].Length == off {
		ps[n-1].Length += length
		if ps[n-1].Count == 0 {
			ps[n-1].Count = 1
		}
		ps[n-1].Count++
		return
	}
	if len(ps) >= maxParts {
		if len(ps) == maxParts {
			st.m.Structure = append(ps, Part{Type: "…", Offset: off, Length: st.size - off})
			st.problem("structure", off, "part limit reached; later parts not listed")
		}
		return
	}
	st.m.Structure = append(ps, Part{Type: typ, Offset: off, Length: length, ID: id})
}

// trailing records data after the end of the image.
func (st *state) trailing(end int64) {
	if end < st.size {
		st.m.Structure = append(st.m.Structure, Part{Type: "trailing data", Offset: end, Length: st.size - end})
	}
}

// read reads n bytes at off, failing on short data.
func (st *state) read(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off > st.size || n > st.size-off {
		return nil, fmt.Errorf("%d bytes at offset %d: past the end of the file", n, off)
	}
	b := make([]byte, n)
	if m, err := st.r.ReadAt(b, off); int64(m) < n {
		return nil, fmt.Errorf("%d bytes at offset %d: %w", n, off, readErr(err))
	}
	return b, nil
}

// spend counts n bytes against the output budget and reports whether they
// fit.
func (st *state) spend(n int64) bool {
	if st.output+n > maxOutput {
		return false
	}
	st.output += n
	return true
}

func (st *state) finish() {
	m := st.m
	s := &m.Summary
	for _, want := range []string{"DateTimeOriginal", "DateTimeDigitized", "DateTime"} {
		for _, t := range m.Times {
			if t.Tag == want && t.Time != "" && s.CaptureTime == "" {
				s.CaptureTime, s.CaptureTimeSource = t.Time, t.Tag
			}
		}
	}
	if g := m.GPS; g != nil {
		s.Latitude, s.Longitude, s.Altitude = g.Latitude, g.Longitude, g.Altitude
	}
	if c := m.Camera; c != nil {
		s.Make, s.Model = c.Make, c.Model
		s.Lens = c.LensModel
		s.BodySerial = c.BodySerialNumber != ""
		s.LensSerial = c.LensSerialNumber != ""
		s.Owner = c.OwnerName != "" || c.Artist != "" || c.Author != "" || c.Copyright != ""
		if *c == (Camera{}) {
			m.Camera = nil
		}
	}
	s.XMP = len(m.XMP) > 0
	s.IPTC = len(m.IPTC) > 0
	for _, d := range m.IPTC {
		if d.Record == 2 && (d.Dataset == 80 || d.Dataset == 116 || d.Dataset == 118) && d.Value != "" {
			s.Owner = true
		}
	}
}
