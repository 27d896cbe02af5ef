package custody

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/openexhibit/exhibit/hashing"
)

// Provenance types of the source kinds Exhibit knows. A provenance type
// names the schema of Acquisition.Provenance and its version; a change
// that old readers would misread gets a new version. Kinds of other
// programs use provenance types of their own (any absolute URI).
const (
	// ProvenanceFileV1 is FileProvenance, of kind "file".
	ProvenanceFileV1 = "https://github.com/openexhibit/exhibit/provenance/file/v1"
	// KindFile is a file read from a file system.
	KindFile = "file"
	// ClockHost labels times read from the acquiring machine's clock:
	// trusted time comes from RFC 3161 timestamps, not from these.
	ClockHost = "host"
	// MaxParts bounds the parts of one acquisition.
	MaxParts = 10000
)

// Acquisition says how an item was acquired (custody-record/v2): by whom,
// when, with which programs, from which source with what kind-specific
// provenance, and which other originals were acquired with it. Every record
// of one acquisition carries the same Acquisition but for Part, so each of
// them names the whole unit: a verifier that finds one part notices a
// missing one.
type Acquisition struct {
	// ID is shared by the records of one acquisition ("urn:uuid:…").
	ID string `json:"id"`
	// Part is the name, among Parts, of this record's original.
	Part string `json:"part"`
	// Kind is the source kind: "file", or a kind such as "web", "stac",
	// "s3-object", "platform-export" (lower case, digits and hyphens).
	Kind string `json:"kind"`
	// ProvenanceType is the URI of Provenance's schema and version.
	ProvenanceType string `json:"provenanceType"`
	// Provenance is a JSON object, the kind-specific description of the
	// source (for ProvenanceFileV1, a FileProvenance).
	Provenance json.RawMessage `json:"provenance"`
	// By names who acquired it.
	By string `json:"by,omitempty"`
	// Started and Ended bound the acquisition, read from Clock.
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	// Clock is whose clock Started and Ended come from: ClockHost.
	Clock string `json:"clock"`
	// Tools are the programs that acquired the parts, with versions.
	Tools []AcquisitionTool `json:"tools"`
	// Parts are every original of the acquisition, in the order acquired.
	Parts []Part `json:"parts"`
}

// AcquisitionTool names a program that took part in an acquisition.
type AcquisitionTool struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	// Digest holds the program binary's digests (hex), when known.
	Digest map[string]string `json:"digest,omitempty"`
}

// Part is one original of an acquisition.
type Part struct {
	// Name is unique within the acquisition: letters, digits and ._/-
	// ("original", "warc", "asset/visual").
	Name string `json:"name"`
	// Item is the part's item ID, "sha256:<hex>".
	Item string `json:"item"`
	// Digest holds sha256 and sha512 of the part's bytes, hex.
	Digest    map[string]string `json:"digest"`
	Size      int64             `json:"size"`
	MediaType string            `json:"mediaType"`
}

// FileProvenance is the provenance of kind "file" (ProvenanceFileV1).
type FileProvenance struct {
	// Path is the path exactly as the operator gave it (or as found when
	// walking a folder given by the operator).
	Path string `json:"path"`
	// PathBytes holds the path's exact bytes when they are not UTF-8
	// (Path then shows U+FFFD where a byte was not UTF-8); absent otherwise.
	PathBytes []byte `json:"pathBytes,omitempty"`
	// Name is the file's base name.
	Name string `json:"name"`
	// FileTimes are the file system's times for the file, read at open.
	FileTimes FileTimes `json:"fileTimes"`
	// Device is the file system the file was read from, when known.
	Device *Device `json:"device,omitempty"`
}

// Device identifies the file system a file was read from.
type Device struct {
	// ID is the device number, "major:minor".
	ID string `json:"id"`
	// Mount is where that file system was mounted, Type its type
	// ("vfat", "ext4"…), Source what was mounted ("/dev/sdb1").
	Mount  string `json:"mount,omitempty"`
	Type   string `json:"type,omitempty"`
	Source string `json:"source,omitempty"`
}

// File decodes the provenance of kind "file"; ok is false for another
// provenance type.
func (a *Acquisition) File() (p *FileProvenance, ok bool, err error) {
	if a.ProvenanceType != ProvenanceFileV1 {
		return nil, false, nil
	}
	p = &FileProvenance{}
	dec := json.NewDecoder(bytes.NewReader(a.Provenance))
	dec.DisallowUnknownFields()
	if err := dec.Decode(p); err != nil {
		return nil, true, fmt.Errorf("file provenance: %w", err)
	}
	return p, true, nil
}

// PartOf returns the part named name.
func (a *Acquisition) PartOf(name string) (Part, bool) {
	for _, p := range a.Parts {
		if p.Name == name {
			return p, true
		}
	}
	return Part{}, false
}

// ValidPartName reports whether name may name a part: 1 to 200 bytes of
// ASCII letters, digits and ._/- , not starting or ending with / and
// without an empty, "." or ".." segment (names become file names in
// exports).
func ValidPartName(name string) bool {
	if name == "" || len(name) > 200 {
		return false
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '/' || c == '-') {
			return false
		}
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// ValidKind reports whether kind may be a source kind: 1 to 64 bytes of
// lower-case ASCII letters, digits and hyphens.
func ValidKind(kind string) bool {
	if kind == "" || len(kind) > 64 {
		return false
	}
	for _, c := range []byte(kind) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validProvenanceType accepts an absolute URI without spaces.
func validProvenanceType(t string) bool {
	if len(t) > 512 || strings.ContainsAny(t, " \t\r\n") {
		return false
	}
	return strings.HasPrefix(t, "https://") || strings.HasPrefix(t, "http://") || strings.HasPrefix(t, "urn:")
}

// ValidAcquisitionID accepts "urn:uuid:" and a UUID in its lower-case
// hyphenated form.
func ValidAcquisitionID(id string) bool {
	u, ok := strings.CutPrefix(id, "urn:uuid:")
	if !ok || len(u) != 36 {
		return false
	}
	for i, c := range []byte(u) {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// Check checks the acquisition of a record of the item whose original is
// orig: what ParseStatement checks of a version 2 record's acquisition.
func (a *Acquisition) Check(item string, orig Object) error {
	switch {
	case !ValidAcquisitionID(a.ID):
		return fmt.Errorf("acquisition id %q is not a urn:uuid", a.ID)
	case !ValidKind(a.Kind):
		return fmt.Errorf("acquisition kind %q is not lower-case letters, digits and hyphens", a.Kind)
	case !validProvenanceType(a.ProvenanceType):
		return fmt.Errorf("provenance type %q is not an absolute URI", a.ProvenanceType)
	case a.Clock != ClockHost:
		return fmt.Errorf("acquisition clock %q, want %q", a.Clock, ClockHost)
	case a.Started.IsZero() || a.Ended.Before(a.Started):
		return errors.New("acquisition has no start, or ends before it starts")
	case len(a.Parts) == 0 || len(a.Parts) > MaxParts:
		return fmt.Errorf("acquisition has %d parts, want 1 to %d", len(a.Parts), MaxParts)
	}
	if t := bytes.TrimLeft(a.Provenance, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return errors.New("provenance is not a JSON object")
	}
	if _, isFile, err := a.File(); err != nil {
		return err
	} else if isFile && a.Kind != KindFile {
		return fmt.Errorf("file provenance on an acquisition of kind %q", a.Kind)
	}
	for _, t := range a.Tools {
		if t.Name == "" {
			return errors.New("acquisition tool without a name")
		}
		if t.Digest != nil {
			if _, err := hashing.SetFromMap(t.Digest); err != nil {
				return fmt.Errorf("acquisition tool %s: %w", t.Name, err)
			}
		}
	}
	names := map[string]bool{}
	for _, p := range a.Parts {
		if !ValidPartName(p.Name) || names[p.Name] {
			return fmt.Errorf("part name %q is invalid or repeated", p.Name)
		}
		names[p.Name] = true
		set, err := hashing.SetFromMap(p.Digest)
		if err != nil {
			return fmt.Errorf("part %s: %w", p.Name, err)
		}
		if set.SHA512.IsZero() || p.Item != set.SHA256.String() || p.Size < 0 {
			return fmt.Errorf("part %s: item, digests (sha256 and sha512) or size do not agree", p.Name)
		}
	}
	self, ok := a.PartOf(a.Part)
	if !ok {
		return fmt.Errorf("the record's part %q is not among the acquisition's parts", a.Part)
	}
	if self.Item != item || !sameDigests(self.Digest, orig.Digest) || self.Size != orig.Size || self.MediaType != orig.MediaType {
		return fmt.Errorf("part %s does not describe the record's original", a.Part)
	}
	return nil
}
