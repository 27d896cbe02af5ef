package sign

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// A trust file with logs is version 2 and round-trips; one without stays
// version 1; version 1 with logs, a key named for another origin and an
// unknown origin are refused.
func TestTrustFileLogs(t *testing.T) {
	s, _ := fuzzSigner(nil)
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
