package custody

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openexhibit/exhibit/hashing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestRecordGolden pins the record format: a change to the encoding of a
// record must be deliberate (rerun with -update and review the diff, and
// bump RecordPredicateType if old verifiers would misread it).
func TestRecordGolden(t *testing.T) {
	got, err := goldenRecord().Statement().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "record.golden.json")
	if *update {
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
	if _, err := ParseStatement(want); err != nil {
		t.Fatalf("golden record does not parse: %v", err)
	}
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
