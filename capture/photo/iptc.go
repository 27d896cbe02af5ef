package photo

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/openexhibit/exhibit/capture/photo/tiff"
)

// Photoshop image resource blocks (JPEG APP13 "Photoshop 3.0", TIFF tag
// 34377) carry IPTC-IIM as resource 0x0404.
const irbIPTC = 0x0404

const (
	maxResources = 4096
	maxDatasets  = 8192
)

// irbResource is one Photoshop image resource.
type irbResource struct {
	id        uint16
	off, size int // data within the block
}

var errIRB = errors.New("malformed Photoshop resource block")

// parseIRB walks Photoshop image resources in b. It returns the resources
// read before any malformation, and where the malformation is.
func parseIRB(b []byte) ([]irbResource, int, error) {
	var out []irbResource
	p := 0
	for p < len(b) {
		if len(out) >= maxResources {
			return out, p, fmt.Errorf("more than %d resources: %w", maxResources, errIRB)
		}
		if len(b)-p < 4 {
			if allZero(b[p:]) { // padding
				return out, p, nil
			}
			return out, p, errIRB
		}
		switch string(b[p : p+4]) {
		case "8BIM", "PHUT", "AgHg", "DCSR", "MeSa":
		default:
			if allZero(b[p:]) {
				return out, p, nil
			}
			return out, p, errIRB
		}
		if len(b)-p < 7 {
			return out, p, errIRB
		}
		id := binary.BigEndian.Uint16(b[p+4:])
		nameLen := int(b[p+6])
		q := p + 7 + nameLen
		if (1+nameLen)%2 == 1 { // the Pascal name is padded to an even length
			q++
		}
		if q+4 > len(b) {
			return out, p, errIRB
		}
		size := int64(binary.BigEndian.Uint32(b[q:]))
		q += 4
		if size > int64(len(b)-q) {
			return out, p, errIRB
		}
		out = append(out, irbResource{id: id, off: q, size: int(size)})
		q += int(size)
		if size%2 == 1 && q < len(b) {
			q++
		}
		p = q
	}
	return out, p, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// photoshop decodes a Photoshop resource block found at off in the file.
func (st *state) photoshop(where string, off int64, b []byte) {
	res, at, err := parseIRB(b)
	if err != nil {
		st.problem(where, off+int64(at), "%v", err)
	}
	for _, r := range res {
		if r.id == irbIPTC {
			st.iptc(where+" IPTC", off+int64(r.off), b[r.off:r.off+r.size])
		}
	}
}

// iptc decodes IPTC-IIM datasets found at off in the file.
func (st *state) iptc(where string, off int64, b []byte) {
	if st.iptcRaw > 0 {
		st.problem(where, off, "further IPTC block not decoded")
		return
	}
	st.iptcRaw++
	p := 0
	for p < len(b) {
		if err := st.ctx.Err(); err != nil {
			return
		}
		if b[p] == 0 && allZero(b[p:]) { // padding
			return
		}
		if len(st.m.IPTC) >= maxDatasets {
			st.problem(where, off+int64(p), "dataset limit reached; later datasets not listed")
			return
		}
		if b[p] != 0x1C || len(b)-p < 5 {
			st.problem(where, off+int64(p), "malformed IPTC dataset header")
			return
		}
		rec, ds := b[p+1], b[p+2]
		n := int64(binary.BigEndian.Uint16(b[p+3:]))
		q := p + 5
		if n&0x8000 != 0 { // extended dataset: the low bits give the size of the length
			k := int(n & 0x7FFF)
			if k == 0 || k > 4 || q+k > len(b) {
				st.problem(where, off+int64(p), "malformed IPTC extended length")
				return
			}
			n = 0
			for _, c := range b[q : q+k] {
				n = n<<8 | int64(c)
			}
			q += k
		}
		if n > int64(len(b)-q) {
			st.problem(where, off+int64(p), "IPTC dataset runs past the end of its block")
			return
		}
		data := b[q : q+int(n)]
		d := IPTC{Tag: strconv.Itoa(int(rec)) + ":" + strconv.Itoa(int(ds)), Record: rec, Dataset: ds, Name: iptcNames[uint16(rec)<<8|uint16(ds)]}
		st.iptcValue(&d, off+int64(q), data)
		st.m.IPTC = append(st.m.IPTC, d)
		p = q + int(n)
	}
}

// iptcBinary lists the datasets that are binary, not text.
var iptcBinary = map[uint16]bool{
	0x0100: true, 0x0114: true, 0x0116: true, 0x015A: true,
	0x0200: true, 0x02C8: true, 0x02C9: true, 0x02CA: true,
}

func (st *state) iptcValue(d *IPTC, off int64, data []byte) {
	key := uint16(d.Record)<<8 | uint16(d.Dataset)
	switch {
	case iptcBinary[key] || d.Record == 3 || d.Record == 7 || d.Record == 8 || d.Record == 9:
		switch {
		case len(data) == 2 && key != 0x015A:
			d.Value = binary.BigEndian.Uint16(data)
		case len(data) == 4 && key != 0x015A:
			d.Value = binary.BigEndian.Uint32(data)
		case len(data) <= maxHex:
			d.Hex = hex.EncodeToString(data)
		default:
			d.Blob = &Blob{Offset: off, Length: int64(len(data)), SHA256: hashBytes(data)}
		}
	case int64(len(data)) > maxInlineString || !st.spend(int64(len(data))):
		d.Blob = &Blob{Offset: off, Length: int64(len(data)), SHA256: hashBytes(data)}
	case utf8.Valid(data):
		d.Value = tiff.TrimNUL(data)
	default:
		// Not UTF-8 and no character set named: ISO 8859-1 is the
		// usual guess; the bytes are kept too.
		d.Value = latin1(data)
		if len(data) <= 4*maxHex {
			d.Hex = hex.EncodeToString(data)
		}
	}
}

// iptcNames names the datasets of the envelope (1) and application (2)
// records.
var iptcNames = map[uint16]string{
	0x0100: "ModelVersion", 0x0105: "Destination", 0x0114: "FileFormat", 0x0116: "FileFormatVersion",
	0x011E: "ServiceIdentifier", 0x0128: "EnvelopeNumber", 0x0132: "ProductID", 0x013C: "EnvelopePriority",
	0x0146: "DateSent", 0x0150: "TimeSent", 0x015A: "CodedCharacterSet", 0x0164: "UniqueObjectName",
	0x0178: "ARMIdentifier", 0x017A: "ARMVersion",
	0x0200: "RecordVersion", 0x0203: "ObjectTypeReference", 0x0204: "ObjectAttributeReference",
	0x0205: "ObjectName", 0x0207: "EditStatus", 0x0208: "EditorialUpdate", 0x020A: "Urgency",
	0x020C: "SubjectReference", 0x020F: "Category", 0x0214: "SupplementalCategories",
	0x0216: "FixtureIdentifier", 0x0219: "Keywords", 0x021A: "ContentLocationCode",
	0x021B: "ContentLocationName", 0x021E: "ReleaseDate", 0x0223: "ReleaseTime",
	0x0225: "ExpirationDate", 0x0226: "ExpirationTime", 0x0228: "SpecialInstructions",
	0x022A: "ActionAdvised", 0x022D: "ReferenceService", 0x022F: "ReferenceDate",
	0x0232: "ReferenceNumber", 0x0237: "DateCreated", 0x023C: "TimeCreated",
	0x023E: "DigitalCreationDate", 0x023F: "DigitalCreationTime", 0x0241: "OriginatingProgram",
	0x0246: "ProgramVersion", 0x024B: "ObjectCycle", 0x0250: "By-line", 0x0255: "By-lineTitle",
	0x025A: "City", 0x025C: "Sub-location", 0x025F: "Province-State",
	0x0264: "Country-PrimaryLocationCode", 0x0265: "Country-PrimaryLocationName",
	0x0267: "OriginalTransmissionReference", 0x0269: "Headline", 0x026E: "Credit",
	0x0273: "Source", 0x0274: "CopyrightNotice", 0x0276: "Contact", 0x0278: "Caption-Abstract",
	0x027A: "Writer-Editor", 0x027D: "RasterizedCaption", 0x0282: "ImageType",
	0x0283: "ImageOrientation", 0x0287: "LanguageIdentifier", 0x0296: "AudioType",
	0x0297: "AudioSamplingRate", 0x0298: "AudioSamplingResolution", 0x0299: "AudioDuration",
	0x029A: "AudioOutcue", 0x02C8: "ObjectDataPreviewFileFormat",
	0x02C9: "ObjectDataPreviewFileFormatVersion", 0x02CA: "ObjectDataPreviewData",
}

// xmp records an XMP packet of n bytes at off in the file.
func (st *state) xmp(source string, off int64, b []byte) {
	if len(st.m.XMP) >= maxXMPs {
		st.problem(source, off, "XMP packet limit reached; packet not listed")
		return
	}
	x := XMP{Source: source, Offset: off, Length: int64(len(b))}
	switch {
	case len(b) > maxXMP || !utf8.Valid(b) || !st.spend(int64(len(b))):
		x.SHA256 = hashBytes(b)
		if len(b) > maxXMP {
			st.problem(source, off, "XMP packet larger than %d bytes: described by digest only", maxXMP)
		} else if !utf8.Valid(b) {
			st.problem(source, off, "XMP packet is not UTF-8: described by digest only")
		}
	default:
		x.XML = strings.TrimRight(string(b), "\x00")
	}
	st.m.XMP = append(st.m.XMP, x)
}

// embedded decodes the XMP, IPTC and Photoshop blocks that TIFF tags hold.
func (d *decoder) embedded(dir *tiff.Dir) {
	for _, e := range dir.Entries {
		if e.Tag != tagXMP && e.Tag != tagIPTC && e.Tag != tagPhotoshop {
			continue
		}
		n, ok := e.Size()
		if !ok || d.f.Check(e) != nil {
			continue // already reported on the tag
		}
		if n > maxMetaBlock {
			d.st.problem(dir.Path, d.f.Base+e.Pos, "tag %d block larger than %d bytes: not decoded", e.Tag, maxMetaBlock)
			continue
		}
		b, err := d.f.Value(e)
		if err != nil {
			d.st.problem(dir.Path, d.f.Base+e.Pos, "tag %d: %s", e.Tag, problemText(err))
			continue
		}
		at := d.f.Base + e.Offset
		switch e.Tag {
		case tagXMP:
			d.st.xmp(fmt.Sprintf("tag %d", e.Tag), at, b)
		case tagIPTC:
			d.st.iptc(fmt.Sprintf("tag %d", e.Tag), at, b)
		case tagPhotoshop:
			d.st.photoshop(fmt.Sprintf("tag %d", e.Tag), at, b)
		}
	}
}
