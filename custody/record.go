// Package custody owns the custody record, the signed statement that says
// what an item is, where it came from, who took it in, what was derived
// from it and where it is kept, and the custody log's pure parts: events,
// tree math and signed checkpoints (custody/ledger keeps the log in an
// archive). The record is an in-toto Statement v1 whose predicate is
// specified in docs/formats.md and pinned by the golden records in testdata/:
// version 2 (record-v2*.golden.json) says how the item was acquired
// (Acquisition); version 1 (record.golden.json), which earlier releases
// wrote, has a file Source instead and still verifies.
//
// custody is pure data and its checks: it does no I/O and must not import
// storage, capture, ingest or cli.
package custody

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/openexhibit/exhibit/hashing"
)

// Type URIs.
const (
	// StatementType is the in-toto Statement v1 type.
	StatementType = "https://in-toto.io/Statement/v1"
	// RecordPredicateType names version 2 of the custody record predicate,
	// the version written. A change that old verifiers would misread gets
	// a new version.
	RecordPredicateType = "https://github.com/openexhibit/exhibit/custody-record/v2"
	// RecordPredicateV1 names version 1, written by earlier releases: a
	// file Source in place of the Acquisition.
	RecordPredicateV1 = "https://github.com/openexhibit/exhibit/custody-record/v1"
	// MetadataMediaType is the media type of the metadata document.
	MetadataMediaType = "application/vnd.exhibit.metadata+json;version=1"
	// OriginalSubject is the subject name of the original bytes.
	OriginalSubject = "original"
	// DerivativeSubjectPrefix precedes a derivative's name in its subject name.
	DerivativeSubjectPrefix = "derivative/"
)

// Statement is an in-toto Statement v1 carrying a custody record.
type Statement struct {
	Type          string    `json:"_type"`
	Subject       []Subject `json:"subject"`
	PredicateType string    `json:"predicateType"`
	Predicate     Record    `json:"predicate"`
}

// Subject is one artifact the statement is about.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// Record is the custody record predicate, version 2, or version 1 when
// Source is set in place of Acquisition.
type Record struct {
	// Item is the item ID, "sha256:<hex>" of the original.
	Item string `json:"item"`
	// Case groups items of one investigation; may be empty.
	Case string `json:"case,omitempty"`
	// Original is where the original bytes are stored and what they are.
	Original Object `json:"original"`
	// Source says where the item came from and when it was acquired
	// (version 1 only).
	Source *Source `json:"source,omitempty"`
	// Acquisition says how the item was acquired, and with which other
	// originals (version 2).
	Acquisition *Acquisition `json:"acquisition,omitempty"`
	// Operator names who ingested it and with which key.
	Operator Operator `json:"operator"`
	// Host and Tool describe the machine and the program that ingested it.
	Host Host `json:"host"`
	Tool Tool `json:"tool"`
	// Metadata points to the metadata document extracted at ingest.
	Metadata *Metadata `json:"metadata"`
	// Derivatives are files made from the original (stripped copies, …).
	Derivatives []Derivative `json:"derivatives"`
	// Storage says where the objects were written and how they are retained.
	Storage Storage `json:"storage"`
}

// Object is one stored byte stream.
type Object struct {
	// Key is where the object's bytes lie in the archive: their content
	// address (objects/sha256/ab/<hex>), or for large objects on S3 an
	// upload key (objects/upload/<32 hex>) with a Pointer at the content
	// address.
	Key string `json:"key"`
	// Digest holds sha256 (always) and sha512 (originals and derivatives), hex.
	Digest map[string]string `json:"digest"`
	// Size is the length in bytes.
	Size int64 `json:"size"`
	// MediaType is sniffed from the bytes (originals) or set by the writer.
	MediaType string `json:"mediaType"`
	// VersionID is the store's object version, when it keeps versions.
	VersionID string `json:"versionId,omitempty"`
	// Encryption is set when the stored bytes are an encryption of the
	// object: Key then names the ciphertext, while Digest, Size and
	// MediaType stay those of the plaintext.
	Encryption *Encryption `json:"encryption,omitempty"`
}

// EncryptionAge is the Encryption scheme of age v1 files.
const EncryptionAge = "age-encryption.org/v1"

// Encryption describes a stored ciphertext.
type Encryption struct {
	// Scheme is EncryptionAge.
	Scheme string `json:"scheme"`
	// Recipients are the public recipients it was encrypted to, as given.
	Recipients []string `json:"recipients"`
	// Digest holds the ciphertext's sha256 and sha512, hex; the object's
	// key is content-addressed by that sha256.
	Digest map[string]string `json:"digest"`
	// Size is the ciphertext's length in bytes.
	Size int64 `json:"size"`
}

// Source describes the acquisition of a file in a version 1 record.
type Source struct {
	// Kind is "file" for files ingested from a file system.
	Kind string `json:"kind"`
	// Path is the path exactly as the operator gave it (or as found when
	// walking a folder given by the operator).
	Path string `json:"path"`
	// PathBytes holds the path's exact bytes when they are not UTF-8
	// (JSON strings cannot carry them: Path then shows U+FFFD where a
	// byte was not UTF-8); absent otherwise.
	PathBytes []byte `json:"pathBytes,omitempty"`
	// Name is the file's base name.
	Name string `json:"name"`
	// AcquiredAt is when ingest began reading the item (the ingesting
	// machine's clock; trusted time comes from RFC 3161 timestamps).
	AcquiredAt time.Time `json:"acquiredAt"`
	// FileTimes are the file system's times for the file, as read at ingest.
	FileTimes FileTimes `json:"fileTimes"`
}

// FileTimes are file system timestamps; absent ones are omitted.
type FileTimes struct {
	Modified *time.Time `json:"modified,omitempty"`
	Accessed *time.Time `json:"accessed,omitempty"`
	Changed  *time.Time `json:"changed,omitempty"`
	Birth    *time.Time `json:"birth,omitempty"`
}

// Operator identifies who ingested the item.
type Operator struct {
	Name string `json:"name,omitempty"`
	// KeyFingerprint is "sha256:<hex>" of the signing key's PKIX DER.
	KeyFingerprint string `json:"keyFingerprint"`
	// KeyRef is the KMS URI when the key is held by a KMS.
	KeyRef string `json:"keyRef,omitempty"`
}

// Host describes the ingesting machine.
type Host struct {
	Name string `json:"name"`
	OS   string `json:"os"`
	Arch string `json:"arch"`
}

// Tool names the ingesting program.
type Tool struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	GoVersion string `json:"goVersion"`
}

// Metadata points to the metadata document.
type Metadata struct {
	Object
	// Readers lists the capture readers that contributed ("basic/1", …).
	Readers []string `json:"readers"`
	// Errors lists readers that failed to parse the original. The item is
	// archived, hashed and signed all the same.
	Errors []ReaderError `json:"errors,omitempty"`
}

// ReaderError records a metadata reader's failure without any metadata
// values in it.
type ReaderError struct {
	Reader string `json:"reader"`
	Error  string `json:"error"`
}

// Derivative is a file made from the original.
type Derivative struct {
	Object
	// Name is unique within the record ("stripped.jpg").
	Name string `json:"name"`
	// Kind is what the derivative is: "stripped", "screenshot", "thumbnail", …
	Kind string `json:"kind"`
	// Transform says what made it from the original.
	Transform Transform `json:"transform"`
}

// Transform names the program and settings that made a derivative.
type Transform struct {
	Name    string            `json:"name"`
	Version string            `json:"version"`
	Profile string            `json:"profile,omitempty"`
	Params  map[string]string `json:"params,omitempty"`
}

// Storage records where the item's objects were written.
type Storage struct {
	// Location is the store's URL at ingest (file:///…, s3://bucket/prefix).
	Location string `json:"location"`
	// ObjectLock is true when the store enforces retention.
	ObjectLock bool `json:"objectLock"`
	// Retention applied to every object of the item, if any.
	Retention *Retention `json:"retention,omitempty"`
	// LegalHold is true when a legal hold was placed on the objects.
	LegalHold bool `json:"legalHold,omitempty"`
}

// Retention is an Object Lock retention.
type Retention struct {
	Mode  string    `json:"mode"`
	Until time.Time `json:"until"`
}

// Statement builds the in-toto statement for r: the original is the first
// subject and every derivative follows.
func (r *Record) Statement() *Statement {
	s := &Statement{Type: StatementType, PredicateType: RecordPredicateType, Predicate: *r}
	if r.Acquisition == nil {
		s.PredicateType = RecordPredicateV1
	}
	s.Subject = append(s.Subject, Subject{Name: OriginalSubject, Digest: r.Original.Digest})
	for _, d := range r.Derivatives {
		s.Subject = append(s.Subject, Subject{Name: DerivativeSubjectPrefix + d.Name, Digest: d.Digest})
	}
	return s
}

// Marshal encodes the statement as the exact bytes that are signed.
func (s *Statement) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("custody: encode statement: %w", err)
	}
	return buf.Bytes(), nil
}

// ParseStatement decodes signed statement bytes and checks that they form a
// coherent custody record: known types, well-formed digests, subjects that
// match the predicate one to one.
func ParseStatement(data []byte) (*Statement, error) {
	var s Statement
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("custody: decode statement: %w", err)
	}
	if s.Type != StatementType {
		return nil, fmt.Errorf("custody: statement type %q, want %q", s.Type, StatementType)
	}
	if s.PredicateType != RecordPredicateType && s.PredicateType != RecordPredicateV1 {
		return nil, fmt.Errorf("custody: predicate type %q, want %q (or %q)", s.PredicateType, RecordPredicateType, RecordPredicateV1)
	}
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("custody: %w", err)
	}
	return &s, nil
}

func (s *Statement) check() error {
	r := &s.Predicate
	orig, err := hashing.SetFromMap(r.Original.Digest)
	if err != nil {
		return fmt.Errorf("original: %w", err)
	}
	if orig.SHA512.IsZero() {
		return errors.New("original: digest set has no sha512")
	}
	if r.Item != orig.SHA256.String() {
		return fmt.Errorf("item %q is not the original's sha256 %s", r.Item, orig.SHA256)
	}
	switch v1 := s.PredicateType == RecordPredicateV1; {
	case v1 && (r.Source == nil || r.Acquisition != nil):
		return errors.New("a version 1 record has a source and no acquisition")
	case !v1 && (r.Source != nil || r.Acquisition == nil):
		return errors.New("a version 2 record has an acquisition and no source")
	case !v1:
		if err := r.Acquisition.Check(r.Item, r.Original); err != nil {
			return err
		}
	}
	want := r.Statement().Subject
	if len(s.Subject) != len(want) {
		return fmt.Errorf("statement has %d subjects, the record describes %d", len(s.Subject), len(want))
	}
	for i := range want {
		if s.Subject[i].Name != want[i].Name || !sameDigests(s.Subject[i].Digest, want[i].Digest) {
			return fmt.Errorf("subject %d (%s) does not match the record", i, s.Subject[i].Name)
		}
	}
	names := map[string]bool{}
	for _, d := range r.Derivatives {
		if d.Name == "" || names[d.Name] {
			return fmt.Errorf("derivative name %q is empty or repeated", d.Name)
		}
		names[d.Name] = true
		if _, err := hashing.SetFromMap(d.Digest); err != nil {
			return fmt.Errorf("derivative %s: %w", d.Name, err)
		}
	}
	if r.Metadata != nil {
		if _, err := hashing.SetFromMap(r.Metadata.Digest); err != nil {
			return fmt.Errorf("metadata: %w", err)
		}
		if err := r.Metadata.Encryption.check(); err != nil {
			return fmt.Errorf("metadata: %w", err)
		}
	}
	if err := r.Original.Encryption.check(); err != nil {
		return fmt.Errorf("original: %w", err)
	}
	for _, d := range r.Derivatives {
		if d.Encryption != nil {
			return fmt.Errorf("derivative %s: derivatives are not encrypted", d.Name)
		}
	}
	return nil
}

func (e *Encryption) check() error {
	if e == nil {
		return nil
	}
	if e.Scheme != EncryptionAge {
		return fmt.Errorf("encryption scheme %q, want %q", e.Scheme, EncryptionAge)
	}
	if len(e.Recipients) == 0 {
		return errors.New("encryption names no recipients")
	}
	set, err := hashing.SetFromMap(e.Digest)
	if err != nil {
		return fmt.Errorf("ciphertext: %w", err)
	}
	if set.SHA512.IsZero() {
		return errors.New("ciphertext: digest set has no sha512")
	}
	if e.Size < 0 {
		return errors.New("ciphertext: negative size")
	}
	return nil
}

// Name is the item's name for people: the file's base name; for an
// acquisition of another kind, the "url" its provenance names, with the
// part when there are several; else the kind and part ("web:warc").
func (r *Record) Name() string {
	if r.Source != nil {
		return r.Source.Name
	}
	if r.Acquisition == nil {
		return ""
	}
	a := r.Acquisition
	if f, ok, err := a.File(); ok && err == nil {
		return f.Name
	}
	// A provenance that names a URL (web, stac, s3-object…) is known by it.
	var p struct {
		URL string `json:"url"`
	}
	if json.Unmarshal(a.Provenance, &p) == nil && p.URL != "" {
		if len(a.Parts) > 1 {
			return p.URL + " (" + a.Part + ")"
		}
		return p.URL
	}
	return a.Kind + ":" + a.Part
}

// AcquiredAt is when the acquisition began (the acquiring machine's
// clock): version 1's AcquiredAt, version 2's Acquisition.Started.
func (r *Record) AcquiredAt() time.Time {
	if r.Source != nil {
		return r.Source.AcquiredAt
	}
	if r.Acquisition == nil {
		return time.Time{}
	}
	return r.Acquisition.Started
}

// StoredKey is the content-addressed key the object's stored bytes must
// have: of the ciphertext when encrypted, else of the bytes themselves.
func (o *Object) StoredKey() (string, error) {
	d := o.Digest
	if o.Encryption != nil {
		d = o.Encryption.Digest
	}
	set, err := hashing.SetFromMap(d)
	if err != nil {
		return "", err
	}
	return ObjectKey(set.SHA256), nil
}

func sameDigests(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// ObjectKey is the content-addressed key of bytes whose SHA-256 is d.
func ObjectKey(d hashing.Digest) string {
	h := d.Hex()
	return "objects/" + d.Algorithm + "/" + h[:2] + "/" + h
}

// Keys of an item's files, relative to the archive root.
func ItemPrefix(id hashing.Digest) string      { return "items/" + id.Hex() + "/" }
func RecordKey(id hashing.Digest) string       { return ItemPrefix(id) + "record.json" }
func RecordBundleKey(id hashing.Digest) string { return ItemPrefix(id) + "record.sigstore.json" }
func OriginalBundleKey(id hashing.Digest) string {
	return ItemPrefix(id) + "original.sigstore.json"
}
