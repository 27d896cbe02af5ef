package export

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/openexhibit/exhibit/custody"
)

func FuzzParseTlogProof(f *testing.F) {
	h := base64.StdEncoding.EncodeToString(make([]byte, 32))
	f.Add([]byte("c2sp.org/tlog-proof@v1\nindex 3\n" + h + "\n" + h + "\n\norigin\n4\n" + h + "\n\n— origin x\n"))
	f.Add([]byte("c2sp.org/tlog-proof@v1\nextra AAAA\nindex 0\n\ncp"))
	f.Add([]byte("c2sp.org/tlog-proof@v1\nindex 01\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, p, cp, err := parseTlogProof(data)
		if err != nil {
			return
		}
		// What parses encodes back to the same proof.
		again := tlogProof(idx, p, cp)
		i2, p2, cp2, err := parseTlogProof(again)
		if err != nil || i2 != idx || len(p2) != len(p) || !bytes.Equal(cp2, cp) {
			t.Fatalf("re-encoded proof differs: %v", err)
		}
	})
}

func TestTlogProofRoundTrip(t *testing.T) {
	p := tlog.RecordProof{{1}, {2}, {3}}
	idx, got, cp, err := parseTlogProof(tlogProof(41, p, []byte("o\n1\nAAA=\n\n— o sig\n")))
	if err != nil || idx != 41 || len(got) != 3 || got[2] != p[2] || string(cp) != "o\n1\nAAA=\n\n— o sig\n" {
		t.Fatalf("%d %v %q %v", idx, got, cp, err)
	}
	for _, bad := range []string{"", "c2sp.org/tlog-proof@v2\nindex 1\n\ncp", "c2sp.org/tlog-proof@v1\nindex -1\n\ncp",
		"c2sp.org/tlog-proof@v1\nindex 1\nnot base64\n\ncp", "c2sp.org/tlog-proof@v1\nindex 1\n" + strings.Repeat("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", 65) + "\ncp"} {
		if _, _, _, err := parseTlogProof([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(strings.Repeat("a", 64)+"  data/x\n"), "sha256")
	f.Add([]byte(strings.Repeat("0", 128)+"  data/EX-0001/original.jpg\n"), "sha512")
	f.Add([]byte(strings.Repeat("a", 64)+" *data/x\n"), "sha256")
	f.Fuzz(func(t *testing.T, data []byte, alg string) {
		lines, err := parseManifest(data, alg)
		if err != nil {
			return
		}
		for _, l := range lines {
			if !safeName(l.path) {
				t.Fatalf("unsafe path %q accepted", l.path)
			}
		}
	})
}

func FuzzParseBagInfo(f *testing.F) {
	f.Add([]byte("Source-Organization: x\nPayload-Oxum: 1.1\n"))
	f.Add([]byte("A: \n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := parseBagInfo(data)
		if err == nil {
			checkOxum(first(info["Payload-Oxum"]), 0, 0)
		}
	})
}

func TestSafeName(t *testing.T) {
	for _, ok := range []string{"data/EX-0001/original.jpg", "bagit.txt", "trust/keys/ab.pub"} {
		if !safeName(ok) {
			t.Errorf("refused %q", ok)
		}
	}
	for _, bad := range []string{"", "data/a b", "data/%41", "data/../x", "./x", "data//x", "data/x\n", "данные", "a\\b"} {
		if safeName(bad) {
			t.Errorf("accepted %q", bad)
		}
	}
}

// TestUnzipRefuses: verify-export unzips only one folder, inside its
// temporary folder, regular files only.
func TestUnzipRefuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []string
		want    string
	}{
		{"climbs out", []string{"pkg/bagit.txt", "../evil"}, "outside"},
		{"climbs out inside", []string{"pkg/../../evil"}, "outside"},
		{"absolute", []string{"/etc/evil"}, "outside"},
		{"two folders", []string{"a/bagit.txt", "b/bagit.txt"}, "one folder"},
		{"empty", nil, "not a disclosure package"},
		{"a zip at the top", []string{"inner.zip"}, "not inside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			zpath := filepath.Join(dir, "p.zip")
			var buf bytes.Buffer
			zw := zip.NewWriter(&buf)
			for _, e := range tc.entries {
				w, _ := zw.Create(e)
				w.Write([]byte("x"))
			}
			zw.Close()
			os.WriteFile(zpath, buf.Bytes(), 0o644)
			out := filepath.Join(dir, "out")
			os.Mkdir(out, 0o755)
			if _, err := unzipPackage(zpath, out); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "evil")); err == nil {
				t.Fatal("wrote outside the folder")
			}
		})
	}
}

// TestPlanNames: two derivatives that come to one file name get two.
func TestPlanNames(t *testing.T) {
	rec := &custody.Record{Original: custody.Object{MediaType: "image/jpeg"}, Derivatives: []custody.Derivative{
		{Name: "derivative-2.jpg", Kind: "screenshot", Object: custody.Object{MediaType: "image/jpeg"}},
		{Name: "bad name.jpg", Kind: "screenshot", Object: custody.Object{MediaType: "image/jpeg"}},
		{Name: "record.json", Kind: "other", Object: custody.Object{MediaType: "application/json"}},
	}}
	x := &exporter{}
	seen := map[string]bool{}
	for _, p := range x.plan(rec) {
		if seen[p.name] {
			t.Fatalf("%s planned twice", p.name)
		}
		seen[p.name] = true
	}
	if len(seen) != 4 || !seen["derivative-2-2.jpg"] || !seen["derivative-3.json"] {
		t.Fatalf("planned %v", seen)
	}
}
