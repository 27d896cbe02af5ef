package custody

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
