package sign

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// A trust file with logs is version 2 and round-trips; one without stays
// version 1; version 1 with logs, a key named for another origin and an
// unknown origin are refused.
func TestTrustFileLogs(t *testing.T) {
	s := memSigner(t)
	_, vkey, err := note.GenerateKey(rand.Reader, "exhibit.archive/one")
	if err != nil {
		t.Fatal(err)
	}
	_, other, _ := note.GenerateKey(rand.Reader, "exhibit.archive/two")

	plain, _ := NewTrustFile(s, "op", time.Now())
	data, _ := plain.Marshal()
	if !strings.Contains(string(data), TrustMediaType) {
		t.Fatalf("a trust file without logs is not version 1:\n%s", data)
	}

	tf, _ := NewTrustFile(s, "op", time.Now())
	if err := tf.AddLog(vkey, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := tf.AddLog(vkey, time.Now()); err != nil || len(tf.Logs) != 1 {
		t.Fatalf("AddLog is not idempotent: %v, %d logs", err, len(tf.Logs))
	}
	data, _ = tf.Marshal()
	back, err := ParseTrustFile(data)
	if err != nil {
		t.Fatal(err)
	}
	if back.MediaType != TrustMediaTypeV2 || len(back.Logs) != 1 || back.Logs[0].Origin != "exhibit.archive/one" {
		t.Fatalf("round trip: %+v", back)
	}
	if _, err := back.LogVerifiers("exhibit.archive/one"); err != nil {
		t.Fatal(err)
	}
	if _, err := back.LogVerifiers("exhibit.archive/two"); err == nil {
		t.Fatal("a log the trust file does not list has verifiers")
	}

	for _, tc := range []struct {
		name, from, to string
	}{
		{"version 1 with logs", TrustMediaTypeV2, TrustMediaType},
		{"key for another origin", `"origin": "exhibit.archive/one"`, `"origin": "exhibit.archive/two"`},
		{"bad key", vkey, other[:len(other)-4] + "AAAA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(string(data), tc.from, tc.to, 1)
			if bad == string(data) {
				t.Fatalf("%q not found in the trust file", tc.from)
			}
			if _, err := ParseTrustFile([]byte(bad)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// TestTrustFileVersion: Marshal writes version 2 exactly when the file lists
// TSAs or logs, whatever MediaType held; what it writes as version 1 decodes
// in a version 1 verifier (keys only, unknown fields refused); a version 1
// file listing TSAs is still read.
func TestTrustFileVersion(t *testing.T) {
	s := memSigner(t)
	_, vkey, err := note.GenerateKey(rand.Reader, "exhibit.archive/one")
	if err != nil {
		t.Fatal(err)
	}
	tsa := mustTrusted(t, newFakeTSA(t, "A"), "https://a.example/api/v1/timestamp")
	tests := []struct {
		name      string
		tsa, log  bool
		mediaType string // as held before Marshal
		want      string
	}{
		{"keys only", false, false, TrustMediaType, TrustMediaType},
		{"keys only, held as version 2", false, false, TrustMediaTypeV2, TrustMediaType},
		{"TSA", true, false, TrustMediaType, TrustMediaTypeV2},
		{"log", false, true, TrustMediaType, TrustMediaTypeV2},
		{"TSA and log", true, true, TrustMediaType, TrustMediaTypeV2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tf, err := NewTrustFile(s, "op", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if tc.tsa {
				if err := tf.AddTSA(tsa); err != nil {
					t.Fatal(err)
				}
			}
			if tc.log {
				if err := tf.AddLog(vkey, time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			tf.MediaType = tc.mediaType
			data, err := tf.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseTrustFile(data)
			if err != nil {
				t.Fatalf("does not parse back: %v\n%s", err, data)
			}
			if back.MediaType != tc.want {
				t.Fatalf("written as %q, want %q", back.MediaType, tc.want)
			}
			var v1 struct {
				MediaType string       `json:"mediaType"`
				Keys      []TrustedKey `json:"keys"`
			}
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&v1); (err == nil) != (tc.want == TrustMediaType) {
				t.Fatalf("a version 1 verifier reading it: %v (written as %q)", err, back.MediaType)
			}
		})
	}
	t.Run("version 1 with TSAs is read", func(t *testing.T) {
		tf, _ := NewTrustFile(s, "op", time.Now())
		if err := tf.AddTSA(tsa); err != nil {
			t.Fatal(err)
		}
		data, _ := tf.Marshal()
		old := strings.Replace(string(data), TrustMediaTypeV2, TrustMediaType, 1)
		if old == string(data) {
			t.Fatal("media type not found")
		}
		back, err := ParseTrustFile([]byte(old))
		if err != nil || len(back.TimestampAuthorities) != 1 {
			t.Fatalf("a version 1 file with a TSA: %v", err)
		}
		again, _ := back.Marshal()
		if !bytes.Contains(again, []byte(TrustMediaTypeV2)) {
			t.Fatalf("rewritten without version 2:\n%s", again)
		}
	})
}
