package export

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/openexhibit/exhibit/acquire/web/browser"
	"github.com/openexhibit/exhibit/archive"
	"github.com/openexhibit/exhibit/capture/readers"
	"github.com/openexhibit/exhibit/capture/strip"
	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/ingest"
	"github.com/openexhibit/exhibit/internal/archivetest"
	"github.com/openexhibit/exhibit/internal/testenv"
	"github.com/openexhibit/exhibit/verify"
)

// The test items: two photos with GPS, a PNG and a file of no known
// format (no working copy).
var testFiles = []string{
	filepath.Join("..", "capture", "strip", "testdata", "lens-progressive.jpg"),
	filepath.Join("..", "capture", "strip", "testdata", "lens-arithmetic.jpg"),
	filepath.Join("..", "capture", "photo", "testdata", "lens.png"),
}

// newArchive creates an archive in dir (with the TSA, when tsa is set)
// and ingests the test files, plus notes.txt, into case "c1".
func newArchive(t *testing.T, dir, tsa string) (*archive.Archive, []hashing.Digest) {
	t.Helper()
	ctx := context.Background()
	a := archivetest.New(t, dir, func(o *archive.Options) {
		o.Operator = "Field Team 3"
		if tsa != "" {
			o.TSA = []string{tsa}
		}
	})
	notes := filepath.Join(dir, "ملاحظات-Харків.txt")
	if err := os.WriteFile(notes, []byte("Witness notes, 3 March: خاركيف, Харків\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	reg, err := readers.Default(strip.Default)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := a.Ingest(ctx, archive.IngestOptions{Case: "c1", Readers: reg, RequireTimestamp: tsa != ""}, append(append([]string{}, testFiles...), notes))
	if err != nil {
		t.Fatal(err)
	}
	var ids []hashing.Digest
	for _, r := range rep.Results {
		if r.Err != nil {
			t.Fatalf("ingest %s: %v", r.Path, r.Err)
		}
		id, _ := hashing.ParseDigest(r.Item)
		ids = append(ids, id)
	}
	return a, ids
}

func export(t *testing.T, a *archive.Archive, o Options) *Result {
	t.Helper()
	if o.Recipient == "" {
		o.Recipient = "Defence counsel, case 12 (محامي الدفاع)"
	}
	o.Version, o.Prefix = "test", "EX-"
	res, err := Export(context.Background(), a, o)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// check runs Check and returns the report.
func check(t *testing.T, dir string) *CheckReport {
	t.Helper()
	rep, err := Check(dir, CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// failures lists the objects of the checks that did not pass (and the
// warnings' too, when warn is set).
func failures(rep *CheckReport) []string {
	var out []string
	add := func(c verify.Check) {
		if c.Status != verify.Pass && c.Status != verify.Warn {
			out = append(out, c.Object+": "+c.Name+": "+c.Detail+c.Expected+" / "+c.Found)
		}
	}
	for _, c := range rep.Checks {
		add(c)
	}
	for _, ex := range rep.Exhibits {
		for _, c := range ex.Checks {
			add(c)
		}
	}
	return out
}

func TestExportAndCheck(t *testing.T) {
	dir := t.TempDir()
	a, ids := newArchive(t, dir, "")
	pkg := filepath.Join(dir, "pkg")
	res := export(t, a, Options{Case: "c1", Out: pkg})
	if len(res.Exhibits) != 4 {
		t.Fatalf("%d exhibits, want 4", len(res.Exhibits))
	}
	// One read both verified and copied each object.
	for _, ex := range res.Exhibits {
		if c := ex.copies["original"]; c == nil || c.n != ex.Record.Original.Size {
			t.Errorf("%s: the original was not copied while it was verified", ex.Number)
		}
	}
	rep := check(t, pkg)
	if rep.Verdict != verify.Intact || len(rep.Exhibits) != 4 {
		t.Fatalf("intact package: %s, %d exhibits: %v", rep.Verdict, len(rep.Exhibits), failures(rep))
	}
	for _, ex := range rep.Exhibits {
		found := false
		for _, id := range ids {
			found = found || ex.Item == id.String()
		}
		if !found || ex.Verdict != verify.Intact {
			t.Errorf("%s: item %s, %s", ex.Name, ex.Item, ex.Verdict)
		}
	}
	// The export is on record: each item's events end with the exported
	// event naming this package and its recipient.
	for _, id := range ids {
		evs, err := a.Events(context.Background(), &id)
		if err != nil {
			t.Fatal(err)
		}
		last := evs.Events[len(evs.Events)-1].Event
		if last.Type != custody.EventExported || last.Record != res.TagManifest.String() || !strings.Contains(last.Recipient, "محامي") {
			t.Errorf("%s: last event %+v", id, last)
		}
	}
	files, err := walkFiles(pkg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(pkg, checkpointTSR)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a checkpoint token without a TSA: %v", err)
	}
	for _, f := range files {
		t.Run("altered/"+f, func(t *testing.T) {
			c := copyPackage(t, pkg)
			alter(t, filepath.Join(c, f))
			mustName(t, check(t, c), f)
		})
		t.Run("removed/"+f, func(t *testing.T) {
			c := copyPackage(t, pkg)
			os.Remove(filepath.Join(c, f))
			mustName(t, check(t, c), f)
		})
	}
	for _, f := range []string{"data/EX-0001/extra.jpg", "data/extra.txt", "custody/proofs/extra", "custody/exported/00000000000000000003.json", "trust/keys/more.pub", "extra.txt"} {
		t.Run("added/"+f, func(t *testing.T) {
			c := copyPackage(t, pkg)
			p := filepath.Join(c, filepath.FromSlash(f))
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, []byte("added\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			mustName(t, check(t, c), f)
		})
	}
	t.Run("listed in the SHA-512 tag manifest only", func(t *testing.T) {
		c := copyPackage(t, pkg)
		data := []byte("added\n")
		os.WriteFile(filepath.Join(c, "notes.txt"), data, 0o644)
		f, _ := os.OpenFile(filepath.Join(c, "tagmanifest-sha512.txt"), os.O_APPEND|os.O_WRONLY, 0)
		f.Write([]byte(hashing.Bytes(data).SHA512.Hex() + "  notes.txt\n"))
		f.Close()
		mustName(t, check(t, c), "notes.txt")
	})
	t.Run("no exhibit", func(t *testing.T) {
		c := copyPackage(t, pkg)
		os.RemoveAll(filepath.Join(c, "data"))
		os.MkdirAll(filepath.Join(c, "data"), 0o755)
		os.RemoveAll(filepath.Join(c, "custody", "exported"))
		os.WriteFile(filepath.Join(c, "manifest-sha256.txt"), nil, 0o644)
		os.WriteFile(filepath.Join(c, "manifest-sha512.txt"), nil, 0o644)
		mustName(t, check(t, c), "data/")
	})
	t.Run("index with a sign", func(t *testing.T) {
		if _, ok := indexOf("+0000000000000000005.json"); ok {
			t.Error("accepted a sign")
		}
	})
	t.Run("zip", func(t *testing.T) {
		res := export(t, a, Options{Items: ids[2:3], Out: filepath.Join(dir, "zipped"), Zip: true})
		if res.Dir != filepath.Join(dir, "zipped.zip") {
			t.Fatalf("wrote %s", res.Dir)
		}
		if _, err := os.Stat(filepath.Join(dir, "zipped")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a folder beside the zip: %v", err)
		}
		if rep := check(t, res.Dir); rep.Verdict != verify.Intact {
			t.Fatalf("%s: %v", rep.Verdict, failures(rep))
		}
	})
	t.Run("exported event of another package", func(t *testing.T) {
		// A second export of the same item: its exported event, moved
		// into the first package, proves the second one, not this one.
		other := export(t, a, Options{Items: ids[:1], Out: filepath.Join(dir, "other")})
		if len(other.Exhibits) != 1 {
			t.Fatalf("%d exhibits", len(other.Exhibits))
		}
		c := copyPackage(t, pkg)
		entries, _ := os.ReadDir(filepath.Join(dir, "other", "custody", "exported"))
		for _, e := range entries {
			data, _ := os.ReadFile(filepath.Join(dir, "other", "custody", "exported", e.Name()))
			os.WriteFile(filepath.Join(c, "custody", "exported", e.Name()), data, 0o644)
			proof, _ := os.ReadFile(filepath.Join(dir, "other", "custody", "proofs", strings.TrimSuffix(e.Name(), ".json")+".tlog-proof"))
			os.WriteFile(filepath.Join(c, "custody", "proofs", strings.TrimSuffix(e.Name(), ".json")+".tlog-proof"), proof, 0o644)
			mustName(t, check(t, c), "custody/")
		}
	})
}

// mustName fails unless the report fails and names f (or, for a file of
// an exhibit, that exhibit's failing check names something of it).
func mustName(t *testing.T, rep *CheckReport, f string) {
	t.Helper()
	if rep.Verdict == verify.Intact {
		t.Fatalf("%s: the package still verifies", f)
	}
	fs := failures(rep)
	for _, s := range fs {
		if strings.HasPrefix(s, f) || strings.Contains(s, f) {
			return
		}
	}
	// An event and its proof are named by their log index, 20 digits.
	if idx := regexp.MustCompile(`[0-9]{20}`).FindString(f); idx != "" {
		for _, s := range fs {
			if strings.Contains(s, idx) {
				return
			}
		}
	}
	t.Fatalf("%s: no failing check names it:\n%s", f, strings.Join(fs, "\n"))
}

func copyPackage(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "pkg")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// alter changes one byte in the middle of a file, keeping text text.
func alter(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) == 0 {
		data = []byte("x")
	} else {
		i := len(data) / 2
		switch {
		case data[i] >= '0' && data[i] <= '8', data[i] >= 'a' && data[i] < 'z', data[i] >= 'A' && data[i] < 'Z':
			data[i]++
		default:
			data[i] ^= 0x01
		}
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func flipLast(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-1] ^= 0x01
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWorkingCopiesOnly(t *testing.T) {
	dir := t.TempDir()
	a, ids := newArchive(t, dir, "")
	pkg := filepath.Join(dir, "pkg")
	res := export(t, a, Options{Case: "c1", Out: pkg, Content: WorkingCopies})
	if rep := check(t, pkg); rep.Verdict != verify.Intact {
		t.Fatalf("%s: %v", rep.Verdict, failures(rep))
	}
	withheld := 0
	for _, ex := range res.Exhibits {
		if ex.Original != "" {
			t.Errorf("%s holds its original", ex.Number)
		}
		if ex.Withheld != "" {
			withheld++
		}
	}
	if withheld != 1 {
		t.Errorf("%d exhibits withheld, want 1 (notes.txt has no working copy)", withheld)
	}
	// No byte of any original: no file equals one, and none holds its
	// EXIF segment (where GPS lives) or the GPS values the metadata shows.
	var secrets [][]byte
	for _, f := range testFiles {
		data, _ := os.ReadFile(f)
		if i := bytes.Index(data, []byte("Exif\x00\x00")); i >= 0 {
			secrets = append(secrets, data[i:i+256])
		}
	}
	if len(secrets) != 2 {
		t.Fatalf("%d EXIF segments in the test photos, want 2", len(secrets))
	}
	secrets = append(secrets, []byte("59.3325"), []byte("18.0649"), []byte("Witness notes"))
	files, _ := walkFiles(pkg)
	originals := map[string]bool{}
	for _, id := range ids {
		originals[id.Hex()] = true
	}
	for _, f := range files {
		data, _ := os.ReadFile(filepath.Join(pkg, f))
		if originals[hashing.Sum256(data).Hex()] {
			t.Errorf("%s is an original", f)
		}
		for _, s := range secrets {
			if bytes.Contains(data, s) {
				t.Errorf("%s holds %q…", f, s[:min(len(s), 12)])
			}
		}
		if strings.HasSuffix(f, "metadata.json") {
			t.Errorf("%s: a metadata document in a working-copies package", f)
		}
	}
	// And no GPS tag in any file, as exiftool reads them (the originals
	// have them: the check would see them).
	t.Run("exiftool", func(t *testing.T) {
		exiftool := testenv.Program(t, "libimage-exiftool-perl", "exiftool")
		gps := func(paths ...string) string {
			out, err := exec.Command(exiftool, append([]string{"-q", "-r", "-a", "-s", "-gps:all"}, paths...)...).Output()
			if err != nil {
				t.Fatal(err)
			}
			return string(out)
		}
		if gps(testFiles[0]) == "" {
			t.Fatal("exiftool sees no GPS in the original: the check could not fail")
		}
		if out := gps(pkg); out != "" {
			t.Errorf("GPS in the package:\n%s", out)
		}
	})
}

func TestExportRefuses(t *testing.T) {
	dir := t.TempDir()
	a, ids := newArchive(t, dir, "")
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"no recipient", Options{Case: "c1", Out: filepath.Join(dir, "x")}, "recipient"},
		{"two-line recipient", Options{Case: "c1", Out: filepath.Join(dir, "x"), Recipient: "a\nb"}, "one line"},
		{"no selection", Options{Out: filepath.Join(dir, "x"), Recipient: "r"}, "case or items"},
		{"both", Options{Case: "c1", Items: ids, Out: filepath.Join(dir, "x"), Recipient: "r"}, "case or items"},
		{"exists", Options{Case: "c1", Out: dir, Recipient: "r"}, "exists"},
		{"bad prefix", Options{Case: "c1", Out: filepath.Join(dir, "x"), Recipient: "r", Prefix: "EX %"}, "prefix"},
		{"no such case", Options{Case: "nope", Out: filepath.Join(dir, "x"), Recipient: "r"}, "no item of case"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Export(ctx, a, tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
		})
	}
	t.Run("not intact", func(t *testing.T) {
		// An archived working copy altered: nothing is exported.
		rec, err := a.Record(ctx, ids[0])
		if err != nil {
			t.Fatal(err)
		}
		key := filepath.Join(dir, "archive", filepath.FromSlash(rec.Statement.Predicate.Derivatives[0].Key))
		os.Chmod(key, 0o644)
		alter(t, key)
		out := filepath.Join(dir, "tampered")
		_, err = Export(ctx, a, Options{Case: "c1", Out: out, Recipient: "r"})
		var ni *NotIntactError
		if !errors.As(err, &ni) || len(ni.Reports) != 1 || ni.Reports[0].Item != ids[0].String() {
			t.Fatalf("%v, want the altered item not intact", err)
		}
		if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a package was left: %v", err)
		}
		if left, _ := filepath.Glob(out + ".partial-*"); len(left) > 0 {
			t.Errorf("left %v", left)
		}
	})
	t.Run("no log key", func(t *testing.T) {
		os.Rename(filepath.Join(dir, "home", archive.LogKeyFile), filepath.Join(dir, "log.key"))
		defer os.Rename(filepath.Join(dir, "log.key"), filepath.Join(dir, "home", archive.LogKeyFile))
		loc, _ := archive.ParseLocation(filepath.Join(dir, "archive"))
		b, err := archive.Open(ctx, archive.Options{Location: loc, Home: filepath.Join(dir, "home"), Credentials: archive.Passphrase(archivetest.Passphrase)})
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "nolog")
		_, err = Export(ctx, b, Options{Items: ids[1:2], Out: out, Recipient: "r"})
		if archive.KindOf(err) != archive.KindKey {
			t.Fatalf("%v (kind %v), want a key error", err, archive.KindOf(err))
		}
		if left, _ := filepath.Glob(out + "*"); len(left) > 0 {
			t.Errorf("left %v", left)
		}
	})
}

// TestCommands runs VERIFY.md's commands, exactly as written there, with
// the real cosign, openssl and a real TSA: they pass on the intact
// package and fail on an altered one.
func TestCommands(t *testing.T) {
	tsa := testenv.TSA(t)
	cosign := testenv.Cosign(t)
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is needed (apt-get install openssl)")
	}
	dir := t.TempDir()
	a, _ := newArchive(t, dir, tsa)
	pkg := filepath.Join(dir, "pkg")
	for _, content := range []Content{Both, WorkingCopies} {
		out := filepath.Join(dir, content.String())
		res := export(t, a, Options{Case: "c1", Out: out, Content: content})
		if !res.Timestamped {
			t.Fatal("the checkpoint is not timestamped")
		}
		if rep := check(t, out); rep.Verdict != verify.Intact || failures(rep) != nil {
			t.Fatalf("%s: %s %v", content, rep.Verdict, failures(rep))
		}
		blocks := guideBlocks(t, out)
		if len(blocks) != 7 {
			t.Fatalf("%d blocks in VERIFY.md, want 7", len(blocks))
		}
		for i, b := range blocks {
			if out, err := runBlock(out, cosign, b); err != nil {
				t.Fatalf("%s: block %d fails on the intact package: %v\n%s\n%s", content, i+1, err, b, out)
			}
		}
		if content == Both {
			pkg = out
		}
	}
	// A file named to run a command when a shell evaluates its name: the
	// commands refuse it and run nothing.
	t.Run("hostile name", func(t *testing.T) {
		c := copyPackage(t, pkg)
		evil := filepath.Join(c, "data", "EX-0001", "events", "0+a[$(touch PWNED)].json")
		if err := os.WriteFile(evil, []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
		failed := false
		for _, b := range guideBlocks(t, c) {
			if _, err := runBlock(c, cosign, b); err != nil {
				failed = true
			}
		}
		if !failed {
			t.Error("every block passes with the hostile file")
		}
		if _, err := os.Stat(filepath.Join(c, "PWNED")); err == nil {
			t.Fatal("a block ran the command in a file name")
		}
		mustName(t, check(t, c), "data/EX-0001/events/0+a")
	})
	// A manifest line that no longer parses fails the check, not only a
	// digest that differs (sha256sum --check warns and passes otherwise).
	t.Run("malformed manifest line", func(t *testing.T) {
		for _, m := range []string{"manifest-sha256.txt", "tagmanifest-sha512.txt"} {
			c := copyPackage(t, pkg)
			data, _ := os.ReadFile(filepath.Join(c, m))
			os.WriteFile(filepath.Join(c, m), bytes.Replace(data, []byte("  "), []byte(" !"), 1), 0o644)
			for _, b := range guideBlocks(t, c) {
				if strings.Contains(b, "sha256sum --check") {
					if out, err := runBlock(c, cosign, b); err == nil {
						t.Errorf("%s with a malformed line passes:\n%s", m, out)
					}
				}
			}
		}
	})
	// One file of each kind altered: the commands that check it fail,
	// each tool on its own (not only the manifests).
	expect := []struct {
		file  *regexp.Regexp
		fails []string // what the blocks that must fail contain
	}{
		{regexp.MustCompile(`^data/.*/timestamps/`), []string{"sha256sum --check", "openssl ts"}},
		{regexp.MustCompile(`^data/.*/(original\.[a-z]+|working-copy\.[a-z]+|record\.sigstore\.json|original\.sigstore\.json)$`), []string{"sha256sum --check", "cosign"}},
		{regexp.MustCompile(`^data/.*/events/`), []string{"sha256sum --check", "check_proof"}},
		{regexp.MustCompile(`^custody/checkpoint$`), []string{"pkeyutl", "check_proof"}},
		{regexp.MustCompile(`^custody/checkpoint\.tsr$`), []string{"openssl ts"}},
		{regexp.MustCompile(`^custody/(exported|proofs)/`), []string{"check_proof"}},
		{regexp.MustCompile(`^tagmanifest-sha256\.txt$`), []string{"sha256sum --check", "NOT THIS PACKAGE"}},
		{regexp.MustCompile(`^trust/log\.pem$`), []string{"sha256sum --check", "pkeyutl", "trust/log.pem IS NOT"}},
		{regexp.MustCompile(`^trust/log\.vkey$`), []string{"sha256sum --check", "trust/log.pem IS NOT"}},
		{regexp.MustCompile(`^trust/tsa-`), []string{"sha256sum --check", "openssl ts"}},
		{regexp.MustCompile(`^trust/keys/`), []string{"sha256sum --check", "cosign", "KEY FILE AND FINGERPRINT"}},
		{regexp.MustCompile(`^trust/trusted_root`), []string{"sha256sum --check", "cosign"}},
		{regexp.MustCompile(`.`), []string{"sha256sum --check"}},
	}
	files, _ := walkFiles(pkg)
	kinds := map[string]bool{}
	digits := regexp.MustCompile(`[0-9]+`)
	for _, f := range files {
		kind := digits.ReplaceAllString(f, "N")
		if kinds[kind] {
			continue
		}
		kinds[kind] = true
		t.Run(f, func(t *testing.T) {
			c := copyPackage(t, pkg)
			alter(t, filepath.Join(c, f))
			if strings.HasSuffix(f, ".tsr") {
				// The middle of a token may be a certificate it carries
				// unsigned; its last byte is the TSA's signature.
				flipLast(t, filepath.Join(c, f))
			}
			var want []string
			for _, e := range expect {
				if e.file.MatchString(f) {
					want = e.fails
					break
				}
			}
			for _, b := range guideBlocks(t, c) {
				for _, w := range want {
					if !strings.Contains(b, w) {
						continue
					}
					if out, err := runBlock(c, cosign, b); err == nil {
						t.Errorf("the commands with %q pass with %s altered:\n%s", w, f, out)
					}
				}
			}
		})
	}
}

// guideBlocks returns the ```sh blocks of a package's VERIFY.md.
func guideBlocks(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, verifyMD))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, part := range strings.Split(string(data), "```sh\n")[1:] {
		b, _, ok := strings.Cut(part, "```\n")
		if !ok {
			t.Fatalf("unterminated block in VERIFY.md: %s", part)
		}
		blocks = append(blocks, b)
	}
	return blocks
}

// runBlock runs a block with bash in dir, with cosign on the PATH.
func runBlock(dir, cosign, block string) (string, error) {
	cmd := exec.Command("bash", "-c", block)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(cosign)+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestReport opens report.html in headless chromium: the DOM text holds
// each exhibit's number and digest, a right-to-left name is laid out
// right to left in a font that has its glyphs, the pictures decode,
// and nothing is fetched.
func TestReport(t *testing.T) {
	exe := testenv.Program(t, "chromium-headless-shell", browser.DefaultExec)
	dir := t.TempDir()
	a, _ := newArchive(t, dir, "")
	pkg := filepath.Join(dir, "pkg")
	res := export(t, a, Options{Case: "c1", Out: pkg})
	html, err := os.ReadFile(filepath.Join(pkg, reportHTML))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script", "http://", "src=\"https:", "@import", "url("} {
		if bytes.Contains(html, []byte(bad)) {
			t.Errorf("report.html holds %q: it must need nothing outside itself", bad)
		}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.WindowSize(1200, 1600), chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	type rtlLayout struct {
		Direction string  `json:"direction"`
		Width     float64 `json:"width"`
		Tofu      float64 `json:"tofu"`
	}
	var requests atomic.Int32
	if err := chromedp.Listen(ctx, func(ev any) {
		if r, ok := ev.(*network.EventRequestWillBeSent); ok && !strings.HasPrefix(r.Request.URL, "file:") && !strings.HasPrefix(r.Request.URL, "data:") {
			requests.Add(1)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+filepath.Join(pkg, reportHTML))); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	rtl, err := chromedp.Run(ctx, chromedp.Evaluate[rtlLayout](`(() => {
		const el = [...document.querySelectorAll('span[dir=auto]')].find(e => /[\u0600-\u06FF]/.test(e.textContent));
		const probe = document.createElement('span'); probe.textContent = '\uFFFF'.repeat(el.textContent.length);
		document.body.appendChild(probe);
		return {direction: getComputedStyle(el).direction, width: el.getBoundingClientRect().width, tofu: probe.getBoundingClientRect().width};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	thumbs, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`Promise.all([...document.images].map(i => { i.loading = 'eager'; return i.decode().then(() => i.naturalWidth, () => 0); }))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range res.Exhibits {
		if !strings.Contains(text, ex.Number) || !strings.Contains(text, ex.Record.Original.Digest["sha256"]) {
			t.Errorf("the report's text lacks %s or its digest", ex.Number)
		}
	}
	if rtl.Direction != "rtl" || rtl.Width <= 0 || rtl.Width == rtl.Tofu {
		t.Errorf("the Arabic name: %+v, want laid out right to left in real glyphs", rtl)
	}
	// A picture of each photo: its working copy, shown by the browser.
	if len(thumbs) != 3 || strings.Count(string(html), `src="data/EX-`) != 3 || !strings.Contains(text, "No picture: the package holds no image") {
		t.Errorf("%d pictures, want the 3 photos' working copies", len(thumbs))
	}
	for _, w := range thumbs {
		if w <= 0 {
			t.Errorf("a picture does not decode: %v", thumbs)
		}
	}
	if n := requests.Load(); n > 0 {
		t.Errorf("the report made %d network requests", n)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	dark := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Min.Y+400; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if r, g, bl, _ := img.At(x, y).RGBA(); r+g+bl < 3*0x4000 {
				dark++
			}
		}
	}
	if dark < 2000 {
		t.Errorf("the summary's screenshot is nearly blank (%d dark pixels)", dark)
	}
	// --pdf: the same report, printed by the browser.
	pdfOut := filepath.Join(dir, "pdf")
	export(t, a, Options{Items: []hashing.Digest{res.Exhibits[0].Item}, Out: pdfOut, PDF: exe})
	pdf, err := os.ReadFile(filepath.Join(pdfOut, reportPDF))
	if err != nil || !bytes.HasPrefix(pdf, []byte("%PDF-")) || len(pdf) < 10000 {
		t.Fatalf("report.pdf: %d bytes, %v", len(pdf), err)
	}
	if rep := check(t, pdfOut); rep.Verdict != verify.Intact {
		t.Fatalf("with report.pdf: %s %v", rep.Verdict, failures(rep))
	}
}

// TestCaseDocument checks case.jsonld against the CASE 1.4.0 and UCO
// 1.4.0 SHACL shapes, and that the check rejects a hash of the wrong type.
func TestCaseDocument(t *testing.T) {
	cv := testenv.CaseValidate(t)
	dir := t.TempDir()
	a, _ := newArchive(t, dir, "")
	pkg := filepath.Join(dir, "pkg")
	export(t, a, Options{Case: "c1", Out: pkg, Organization: "Правозахисна група"})
	validate := func(path string) (string, error) {
		cmd := exec.Command("node", "validate.mjs", path)
		cmd.Dir = cv
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	doc := filepath.Join(pkg, caseJSONLD)
	if out, err := validate(doc); err != nil || !strings.Contains(out, "conforms=true") {
		t.Fatalf("case.jsonld does not conform: %v\n%s", err, out)
	}
	data, _ := os.ReadFile(doc)
	for _, want := range []string{`"case-investigation:exhibitNumber": "EX-0001"`, `"uco-types:hashMethod": "SHA256"`, `"@type": "xsd:hexBinary"`, `"@type": "xsd:dateTime"`} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("case.jsonld lacks %s", want)
		}
	}
	bad := filepath.Join(dir, "bad.jsonld")
	os.WriteFile(bad, bytes.Replace(data, []byte(`"@type": "xsd:hexBinary"`), []byte(`"@type": "xsd:string"`), 1), 0o644)
	if out, err := validate(bad); err == nil {
		t.Fatalf("the check accepts a hash value typed xsd:string:\n%s", out)
	}
}

// TestEncryptedOriginals: an original encrypted at ingest is exported as
// its plaintext, which the verification decrypted and checked while it
// copied it; without an identity the export stops and says what to pass,
// and a working-copies export needs none.
func TestEncryptedOriginals(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := archivetest.New(t, dir, nil)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	reg, err := readers.Default(strip.Default)
	if err != nil {
		t.Fatal(err)
	}
	photo := testFiles[2]
	rep, err := a.Ingest(ctx, archive.IngestOptions{Case: "c1", Readers: reg,
		Encrypt: &ingest.Encryption{Recipients: []age.Recipient{id.Recipient()}, Names: []string{id.Recipient().String()}}}, []string{photo})
	if err != nil || rep.Results[0].Err != nil {
		t.Fatal(err, rep.Results[0].Err)
	}
	out := filepath.Join(dir, "pkg")
	if _, err := Export(ctx, a, Options{Case: "c1", Out: out, Recipient: "r"}); err == nil || !strings.Contains(err.Error(), "--identity") {
		t.Fatalf("without an identity: %v, want a request for --identity", err)
	}
	if left, _ := filepath.Glob(out + "*"); len(left) > 0 {
		t.Errorf("left %v", left)
	}
	res := export(t, a, Options{Case: "c1", Out: out, Identities: []age.Identity{id}})
	ex := res.Exhibits[0]
	if c := ex.copies["original"]; c == nil || !c.ok || c.n != ex.Record.Original.Size {
		t.Errorf("the plaintext was not copied while it was verified: %+v", c)
	}
	got, _ := os.ReadFile(filepath.Join(out, filepath.FromSlash(ex.Original)))
	want, _ := os.ReadFile(photo)
	if !bytes.Equal(got, want) {
		t.Fatal("the exported original is not the plaintext")
	}
	if rep := check(t, out); rep.Verdict != verify.Intact {
		t.Fatalf("%s: %v", rep.Verdict, failures(rep))
	}
	wc := export(t, a, Options{Case: "c1", Out: filepath.Join(dir, "wc"), Content: WorkingCopies})
	if wc.Exhibits[0].WorkingCopy == "" {
		t.Error("no working copy exported")
	}
}
