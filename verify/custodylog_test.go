package verify_test

import (
	"testing"

	"github.com/openexhibit/exhibit/verify"
)

// TestRecordDigest pins the form of an ingested event's Record: ingest
// writes it and verify compares it, so a change here breaks every log.
func TestRecordDigest(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", "abc", "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := verify.RecordDigest([]byte(tc.in)); got != tc.want {
				t.Errorf("RecordDigest(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}
