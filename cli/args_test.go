package cli

import (
	"io"
	"strings"
	"testing"
)

func TestNormalizeArgs(t *testing.T) {
	app := newApp(&env{stdout: io.Discard, stderr: io.Discard})
	const id = "sha256:87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7"
	for _, tc := range []struct{ in, want string }{
		{"exhibit --json ls", "exhibit ls --json"},
		{"exhibit --home h --archive=a verify --all", "exhibit verify --home h --archive=a --all"},
		{"exhibit get " + id + " --working-copy -o x.jpg", "exhibit get --working-copy -o x.jpg -- " + id},
		{"exhibit ingest a.txt --case c b.txt", "exhibit ingest --case c -- a.txt b.txt"},
		{"exhibit ingest -- -a.txt --case", "exhibit ingest -- -a.txt --case"},
		{"exhibit log show " + id + " --json", "exhibit log show --json -- " + id},
		{"exhibit verify -v " + id, "exhibit verify -v -- " + id},
		{"exhibit --help", "exhibit --help"},
		{"exhibit frobnicate --x", "exhibit frobnicate --x"},
		{"exhibit", "exhibit"},
	} {
		got := strings.Join(normalizeArgs(app, strings.Fields(tc.in)), " ")
		if got != tc.want {
			t.Errorf("normalizeArgs(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"verify", "ingest", "init", "case", "all"}
	for typed, want := range map[string]string{"verfy": "verify", "ingets": "ingest", "cse": "case", "frobnicate": "", "al": "all", "xyz": ""} {
		if got := suggest(typed, names); got != want {
			t.Errorf("suggest(%q) = %q, want %q", typed, got, want)
		}
	}
	if editDistance("same", "same") != 0 || editDistance("", "abc") != 3 {
		t.Fatal("editDistance")
	}
}
