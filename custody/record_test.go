package custody

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openexhibit/exhibit/hashing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestRecordGolden pins the record format: a change to the encoding of a
// record must be deliberate (rerun with -update and review the diff, and
// bump RecordPredicateType if old verifiers would misread it). Version 1,
// which earlier releases wrote, must parse unchanged.
func TestRecordGolden(t *testing.T) {
	for _, tc := range []struct {
		file, predicate string
		rec             *Record
	}{
		{"record.golden.json", RecordPredicateV1, goldenRecordV1()},
		{"record-v2-file.golden.json", RecordPredicateType, goldenRecord()},
		{"record-v2-parts.golden.json", RecordPredicateType, goldenRecordParts()},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := tc.rec.Statement().Marshal()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tc.file)
			if *update && tc.predicate == RecordPredicateType {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("record encoding changed; rerun with -update if intended\ngot:\n%s", got)
			}
			s, err := ParseStatement(want)
			if err != nil {
				t.Fatalf("golden record does not parse: %v", err)
			}
			if s.PredicateType != tc.predicate {
				t.Fatalf("predicate type %s, want %s", s.PredicateType, tc.predicate)
			}
			again, err := s.Marshal()
			if err != nil || !bytes.Equal(again, want) {
				t.Fatalf("a parsed record does not re-encode to its bytes (%v):\n%s", err, again)
			}
		})
	}
}

// TestParseStatementRejectsAcquisition: a version 2 record whose
// acquisition is incoherent is refused with an error naming what is wrong.
func TestParseStatementRejectsAcquisition(t *testing.T) {
	other := hashing.Bytes([]byte("other part"))
	tests := []struct {
		name string
		edit func(r *Record)
		want string
	}{
		{"source and acquisition", func(r *Record) { r.Source = goldenRecordV1().Source }, "has an acquisition and no source"},
		{"no acquisition", func(r *Record) { r.Acquisition = nil; r.Source = goldenRecordV1().Source }, ""},
		{"id", func(r *Record) { r.Acquisition.ID = "0b8e3c52" }, "not a urn:uuid"},
		{"id upper case", func(r *Record) { r.Acquisition.ID = strings.ToUpper(r.Acquisition.ID) }, "not a urn:uuid"},
		{"kind", func(r *Record) { r.Acquisition.Kind = "Web Capture" }, "acquisition kind"},
		{"provenance type", func(r *Record) { r.Acquisition.ProvenanceType = "file/v1" }, "not an absolute URI"},
		{"provenance not an object", func(r *Record) { r.Acquisition.Provenance = json.RawMessage(`["a"]`) }, "not a JSON object"},
		{"file provenance, unknown field", func(r *Record) {
			r.Acquisition.Provenance = json.RawMessage(`{"path":"a","name":"a","fileTimes":{},"url":"x"}`)
		}, "file provenance"},
		{"file provenance, other kind", func(r *Record) { r.Acquisition.Kind = "web" }, "file provenance on an acquisition of kind"},
		{"clock", func(r *Record) { r.Acquisition.Clock = "tsa" }, "acquisition clock"},
		{"ends before it starts", func(r *Record) { r.Acquisition.Ended = r.Acquisition.Started.Add(-time.Second) }, "ends before it starts"},
		{"no start", func(r *Record) { r.Acquisition.Started = time.Time{} }, "no start"},
		{"no parts", func(r *Record) { r.Acquisition.Parts = nil }, "0 parts"},
		{"part not named", func(r *Record) { r.Acquisition.Part = "warc" }, "not among the acquisition's parts"},
		{"part name", func(r *Record) { r.Acquisition.Parts[0].Name = "../x"; r.Acquisition.Part = "../x" }, "invalid or repeated"},
		{"part repeated", func(r *Record) { r.Acquisition.Parts = append(r.Acquisition.Parts, r.Acquisition.Parts[0]) }, "invalid or repeated"},
		{"part of other bytes", func(r *Record) {
			p := &r.Acquisition.Parts[0]
			p.Item, p.Digest = other.SHA256.String(), other.Map()
		}, "does not describe the record's original"},
		{"part item not its digest", func(r *Record) {
			r.Acquisition.Parts = append(r.Acquisition.Parts, Part{Name: "b", Item: r.Item, Digest: other.Map(), Size: other.Size})
		}, "do not agree"},
		{"part size", func(r *Record) { r.Acquisition.Parts[0].Size++ }, "does not describe the record's original"},
		{"tool without name", func(r *Record) { r.Acquisition.Tools = append(r.Acquisition.Tools, AcquisitionTool{Version: "1"}) }, "tool without a name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := goldenRecord()
			tc.edit(r)
			data, err := r.Statement().Marshal()
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParseStatement(data)
			if tc.want == "" {
				// Without an acquisition the statement is version 1, and valid.
				if err != nil {
					t.Fatalf("version 1 record refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("version 1 predicate with an acquisition", func(t *testing.T) {
		data, _ := goldenRecord().Statement().Marshal()
		bad := strings.Replace(string(data), RecordPredicateType, RecordPredicateV1, 1)
		if _, err := ParseStatement([]byte(bad)); err == nil || !strings.Contains(err.Error(), "version 1 record has a source") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestParseStatementRejects(t *testing.T) {
	good, _ := goldenRecord().Statement().Marshal()
	tests := []struct {
		name, from, to, want string
	}{
		{"statement type", "https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1", "statement type"},
		{"predicate type", RecordPredicateType, RecordPredicateType + "x", "predicate type"},
		{"item not the original", `"item": "sha256:`, `"item": "sha256:0`, "is not the original's sha256"},
		{"unknown field", `"case":`, `"cases": "x", "case":`, "unknown field"},
		{"subject renamed", `"name": "original"`, `"name": "other"`, "does not match the record"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(string(good), tc.from, tc.to, 1)
			if bad == string(good) {
				t.Fatal("test did not change the statement")
			}
			_, err := ParseStatement([]byte(bad))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("subject digest", func(t *testing.T) {
		s := goldenRecord().Statement()
		s.Subject[0].Digest = map[string]string{"sha256": strings.Repeat("0", 64), "sha512": strings.Repeat("0", 128)}
		data, _ := s.Marshal()
		if _, err := ParseStatement(data); err == nil {
			t.Fatal("statement whose subject differs from the record accepted")
		}
	})
	t.Run("no sha512", func(t *testing.T) {
		r := goldenRecord()
		delete(r.Original.Digest, "sha512")
		data, _ := r.Statement().Marshal()
		if _, err := ParseStatement(data); err == nil {
			t.Fatal("original without sha512 accepted")
		}
	})
}

// TestParseStatementRejectsEncryption: a record whose encryption entries are
// malformed is refused, with an error that names the object and the field.
func TestParseStatementRejectsEncryption(t *testing.T) {
	cipher := hashing.Bytes([]byte("ciphertext bytes"))
	enc := func() *Encryption {
		return &Encryption{Scheme: EncryptionAge, Recipients: []string{"age1example"}, Digest: cipher.Map(), Size: cipher.Size}
	}
	// encrypted is a valid record whose original and metadata are encrypted.
	encrypted := func() *Record {
		r := goldenRecord()
		r.Original.Encryption = enc()
		r.Metadata.Encryption = enc()
		return r
	}
	valid, err := encrypted().Statement().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseStatement(valid); err != nil {
		t.Fatalf("the valid encrypted record is refused, so the cases below would prove nothing: %v", err)
	}
	tests := []struct {
		name string
		edit func(r *Record)
		want string
	}{
		{"original: wrong scheme", func(r *Record) { r.Original.Encryption.Scheme = "age-encryption.org/v0" }, "original: encryption scheme"},
		{"metadata: wrong scheme", func(r *Record) { r.Metadata.Encryption.Scheme = "" }, "metadata: encryption scheme"},
		{"original: no recipients", func(r *Record) { r.Original.Encryption.Recipients = nil }, "original: encryption names no recipients"},
		{"metadata: no recipients", func(r *Record) { r.Metadata.Encryption.Recipients = []string{} }, "metadata: encryption names no recipients"},
		{"original: digest without sha512", func(r *Record) { delete(r.Original.Encryption.Digest, "sha512") }, "original: ciphertext: digest set has no sha512"},
		{"metadata: digest without sha512", func(r *Record) { delete(r.Metadata.Encryption.Digest, "sha512") }, "metadata: ciphertext: digest set has no sha512"},
		{"original: no digest", func(r *Record) { r.Original.Encryption.Digest = nil }, "original: ciphertext:"},
		{"original: negative size", func(r *Record) { r.Original.Encryption.Size = -1 }, "original: ciphertext: negative size"},
		{"metadata: negative size", func(r *Record) { r.Metadata.Encryption.Size = -5 }, "metadata: ciphertext: negative size"},
		{"encrypted derivative", func(r *Record) { r.Derivatives[0].Encryption = enc() }, "derivative stripped.jpg: derivatives are not encrypted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := encrypted()
			tc.edit(r)
			data, err := r.Statement().Marshal()
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParseStatement(data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
