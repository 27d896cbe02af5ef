package custody

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/openexhibit/exhibit/hashing"
)

// ArchiveKey is the key of the archive descriptor, written once by init.
const ArchiveKey = "exhibit-archive.json"

// ArchiveMediaType identifies the descriptor and the layout version.
const ArchiveMediaType = "application/vnd.exhibit.archive+json;version=1"

// Archive is the descriptor at the root of every archive.
type Archive struct {
	MediaType string    `json:"mediaType"`
	CreatedAt time.Time `json:"createdAt"`
	// Retention is the default Object Lock retention of the archive's
	// objects, when the store enforces one ("" mode means none).
	RetentionMode string `json:"retentionMode,omitempty"`
	RetentionDays int    `json:"retentionDays,omitempty"`
	// Keys lists the fingerprints of keys published under keys/ (informational:
	// verifiers trust their own trust file, not the archive).
	Keys []string `json:"keys"`
	// Log is the origin of the archive's custody log (the name on its
	// checkpoints and its log key), set by init; empty for archives made
	// before the log existed. Informational like Keys: verifiers trust the
	// log key their trust file lists for this origin, never the archive.
	Log string `json:"log,omitempty"`

	// digest is the SHA-256 of the bytes ParseArchive read.
	digest string
}

// Digest is "sha256:<hex>" of the descriptor's bytes as read (empty for a
// descriptor not read by ParseArchive). Trust files pin it: the descriptor
// is written once, so any change to it is tampering.
func (a *Archive) Digest() string { return a.digest }

// PublicKeyKey is where a public key is published in the archive.
func PublicKeyKey(fingerprint string) string {
	return "keys/" + fingerprint[len("sha256:"):] + ".pub"
}

// Marshal encodes the descriptor as init writes it: indented JSON with a
// final newline.
func (a *Archive) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	err := enc.Encode(a)
	return buf.Bytes(), err
}

// ParseArchive decodes a descriptor.
func ParseArchive(data []byte) (*Archive, error) {
	var a Archive
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("custody: archive descriptor: %w", err)
	}
	if a.MediaType != ArchiveMediaType {
		return nil, fmt.Errorf("custody: archive descriptor: media type %q, want %q", a.MediaType, ArchiveMediaType)
	}
	a.digest = hashing.Sum256(data).String()
	return &a, nil
}
