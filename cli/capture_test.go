package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/openexhibit/exhibit/acquire/web/browser"
	"github.com/openexhibit/exhibit/acquire/web/webtest"
	"github.com/openexhibit/exhibit/cli"
	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/internal/testenv"
)

// initHome makes a home folder and an archive folder in dir (an archive
// without passwords) and returns a runner of exhibit commands on them.
func initHome(t *testing.T, dir string) func(args ...string) (int, string) {
	t.Helper()
	t.Setenv("EXHIBIT_HOME", filepath.Join(dir, "home"))
	run := func(args ...string) (int, string) {
		var out bytes.Buffer
		code := cli.Run(context.Background(), append([]string{"exhibit"}, args...), strings.NewReader(""), &out, &out)
		return code, out.String()
	}
	if code, out := run("init", "--archive", filepath.Join(dir, "archive"), "--insecure-no-password"); code != cli.ExitOK {
		t.Fatalf("init: %d\n%s", code, out)
	}
	return run
}

// columns collapses show's column padding.
var columns = regexp.MustCompile(` {2,}`)

// TestCaptureCommand captures the local test site with the real browser
// as a user would: the capture is archived, verifies and lists under its
// URL; a loopback address without the insecure flag, a server that does
// not answer and a URL that is not http(s) are refused with their codes,
// and nothing is archived for them.
func TestCaptureCommand(t *testing.T) {
	testenv.Program(t, "chromium-headless-shell", browser.DefaultExec)
	srv := webtest.Site(t)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	run := initHome(t, dir)
	url := srv.URL + "/post/123"
	code, out := run("capture", "--case", "bridge", "--insecure-allow-private", "--ca", ca, url)
	// 11 events: ingested, archived (WACZ, metadata, 4 attachments),
	// derived (4 attachments).
	if code != cli.ExitOK || !strings.Contains(out, "1 archived") || !strings.Contains(out, "custody log: 11 events logged") {
		t.Fatalf("capture: %d\n%s", code, out)
	}
	id := strings.Fields(out[strings.Index(out, "archived  sha256:")+len("archived  "):])[0]
	code, out = run("show", id)
	out = columns.ReplaceAllString(out, "  ")
	for _, want := range []string{"web archive  WACZ, valid", "screenshot.png (screenshot, image/png", "page.pdf", "text.txt", "finalUrl  " + url,
		"origins[0].chainVerified  true", "behaviours  loaded (load event)\n  scrolled"} {
		if code != cli.ExitOK || !strings.Contains(out, want) {
			t.Fatalf("show: %d, no %q in\n%s", code, want, out)
		}
	}
	if code, out := run("verify", "--verbose", "--all"); code != cli.ExitOK || !strings.Contains(out, "1 of 1 items intact") ||
		!strings.Contains(out, "derivative screenshot.png source") {
		t.Fatalf("verify: %d\n%s", code, out)
	}
	if code, out := run("ls", "--case", "bridge"); code != cli.ExitOK || !strings.Contains(out, url) {
		t.Fatalf("ls: %d\n%s", code, out)
	}
	// The reference client verifies the capture's signed record against
	// the WACZ, offline, and refuses it for a WACZ with one byte changed.
	t.Run("cosign", func(t *testing.T) {
		cosign := testenv.Cosign(t)
		wacz := filepath.Join(dir, "capture.wacz")
		if code, out := run("get", "-o", wacz, id); code != cli.ExitOK {
			t.Fatalf("get: %d\n%s", code, out)
		}
		home := filepath.Join(dir, "home")
		verifyBlob := func(file string) ([]byte, error) {
			return exec.Command(cosign, "verify-blob-attestation", "--key", filepath.Join(home, "cosign.pub"),
				"--bundle", filepath.Join(dir, "archive", "items", strings.TrimPrefix(id, "sha256:"), "record.sigstore.json"),
				"--new-bundle-format", "--insecure-ignore-tlog=true", "--trusted-root", filepath.Join(home, "trusted_root.json"),
				"--type", "https://github.com/openexhibit/exhibit/custody-record/v2", file).CombinedOutput()
		}
		if out, err := verifyBlob(wacz); err != nil || !strings.Contains(string(out), "Verified OK") {
			t.Fatalf("cosign: %v\n%s", err, out)
		}
		data, _ := os.ReadFile(wacz)
		data[len(data)/2] ^= 1
		bad := filepath.Join(dir, "changed.wacz")
		os.WriteFile(bad, data, 0o644)
		if out, err := verifyBlob(bad); err == nil {
			t.Fatalf("cosign verified a changed WACZ:\n%s", out)
		}
	})

	// Refused: loopback without the flag; a port nothing listens on; not http.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/"
	ln.Close()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"capture", "--ca", ca, url}, cli.ExitInput, "not a public address"},
		{[]string{"capture", "--insecure-allow-private", closed}, cli.ExitInput, "could not be fetched"},
		{[]string{"capture", "ftp://example.org/x"}, cli.ExitUsage, "not an http or https URL"},
		{[]string{"capture", "--media", "--yt-dlp", filepath.Join(dir, "none"), url}, cli.ExitUsage, "apt-get install yt-dlp"},
		{[]string{"capture", "--yt-dlp", "yt-dlp", url}, cli.ExitUsage, "go with --media"},
	} {
		if code, out := run(tc.args...); code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, want %d with %q\n%s", tc.args, code, tc.code, tc.want, out)
		}
	}
	if code, out := run("ls"); code != cli.ExitOK || strings.Count(out, "sha256:") != 1 {
		t.Fatalf("after the refused captures: %d\n%s", code, out)
	}

	// --encrypt-to applies to the capture as to any original: the stored
	// WACZ is age ciphertext, and the item still verifies.
	t.Run("encrypt-to", func(t *testing.T) {
		key, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		code, out := run("capture", "--encrypt-to", key.Recipient().String(), "--insecure-allow-private", "--ca", ca, srv.URL+"/post/removed")
		if code != cli.ExitOK || !strings.Contains(out, "1 archived") {
			t.Fatalf("capture --encrypt-to: %d\n%s", code, out)
		}
		id := strings.Fields(out[strings.Index(out, "archived  sha256:")+len("archived  "):])[0]
		rec, err := os.ReadFile(filepath.Join(dir, "archive", "items", strings.TrimPrefix(id, "sha256:"), "record.json"))
		if err != nil {
			t.Fatal(err)
		}
		var st custody.Statement
		if err := json.Unmarshal(rec, &st); err != nil || st.Predicate.Original.Encryption == nil {
			t.Fatalf("record says no encryption (%v):\n%s", err, rec)
		}
		stored, err := os.ReadFile(filepath.Join(dir, "archive", st.Predicate.Original.Key))
		if err != nil || !bytes.HasPrefix(stored, []byte("age-encryption.org/v1")) {
			t.Fatalf("stored capture is not encrypted (%v): %.80q", err, stored)
		}
		// Nor is the page's text anywhere else in the archive: the
		// screenshot, PDF, DOM and text are not made.
		if len(st.Predicate.Derivatives) != 0 {
			t.Errorf("derivatives of an encrypted capture: %+v", st.Predicate.Derivatives)
		}
		filepath.WalkDir(filepath.Join(dir, "archive"), func(p string, d os.DirEntry, err error) error {
			if b, _ := os.ReadFile(p); err == nil && !d.IsDir() && bytes.Contains(b, []byte("This post was removed")) {
				t.Errorf("%s holds the page's text in clear", p)
			}
			return nil
		})
		if code, out := run("verify", id); code != cli.ExitOK {
			t.Fatalf("verify: %d\n%s", code, out)
		}
	})

	// Interrupted while the page loads: exit 130, nothing archived, no
	// temporary file left (WARC, WACZ, browser profile, media folder).
	t.Run("interrupted", func(t *testing.T) {
		_, before := run("ls")
		tmp := filepath.Join(dir, "tmp")
		os.MkdirAll(tmp, 0o700)
		t.Setenv("TMPDIR", tmp)
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		var out bytes.Buffer
		code := cli.Run(ctx, []string{"exhibit", "capture", "--media", "--insecure-allow-private", "--ca", ca, url}, strings.NewReader(""), &out, &out)
		if code != cli.ExitInterrupted {
			t.Fatalf("interrupted capture: exit %d\n%s", code, out.String())
		}
		if code, out := run("ls"); code != cli.ExitOK || out != before {
			t.Fatalf("after the interrupted capture: %d\n%s", code, out)
		}
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Fatalf("left in TMPDIR: %v", left)
		}
	})

	// A list: each page is archived as it is captured; one that fails
	// does not stop the others, and the exit code says some failed.
	t.Run("from", func(t *testing.T) {
		list := filepath.Join(dir, "urls.txt")
		os.WriteFile(list, []byte("# two posts\n"+srv.URL+"/video/7\n\n"+closed+"\n"+srv.URL+"/login\n"), 0o644)
		code, out := run("capture", "--case", "list", "--insecure-allow-private", "--ca", ca, "--from", list)
		if code != cli.ExitInput || strings.Count(out, "1 archived") != 2 || !strings.Contains(out, "1 of 3 captures failed") {
			t.Fatalf("capture --from: %d\n%s", code, out)
		}
		if code, out := run("ls", "--case", "list"); code != cli.ExitOK || strings.Count(out, "sha256:") != 2 {
			t.Fatalf("ls: %d\n%s", code, out)
		}
	})

	// A login profile: added from a cookies.txt, kept encrypted, used by
	// name; the record names it, the working copy has no cookie.
	t.Run("profile", func(t *testing.T) {
		t.Setenv("EXHIBIT_PROFILE_PASSWORD", "profile pass")
		jar := filepath.Join(dir, "cookies.txt")
		os.WriteFile(jar, webtest.CookiesTxt(strings.TrimPrefix(srv.URL, "https://")), 0o600)
		if code, out := run("profile", "add", "ngo-account", "--cookies", jar); code != cli.ExitOK || !strings.Contains(out, "delete it") {
			t.Fatalf("profile add: %d\n%s", code, out)
		}
		if code, out := run("profile", "ls"); code != cli.ExitOK || out != "ngo-account\n" {
			t.Fatalf("profile ls: %d\n%s", code, out)
		}
		code, out := run("capture", "--profile", "ngo-account", "--insecure-allow-private", "--ca", ca, srv.URL+"/members/report")
		if code != cli.ExitOK || !strings.Contains(out, "1 archived") {
			t.Fatalf("capture --profile: %d\n%s", code, out)
		}
		id := strings.Fields(out[strings.Index(out, "archived  sha256:")+len("archived  "):])[0]
		code, out = run("show", id)
		out = columns.ReplaceAllString(out, "  ")
		if code != cli.ExitOK || !strings.Contains(out, "profile  ngo-account") || !strings.Contains(out, "finalUrl  "+srv.URL+"/members/report") ||
			!strings.Contains(out, "working-copy.wacz") || strings.Contains(out, webtest.Session) {
			t.Fatalf("show: %d\n%s", code, out)
		}
		wc := filepath.Join(dir, "shared.wacz")
		if code, out := run("get", "--working-copy", "-o", wc, id); code != cli.ExitOK {
			t.Fatalf("get --working-copy: %d\n%s", code, out)
		}
		if b, err := os.ReadFile(wc); err != nil || bytes.Contains(b, []byte(webtest.Session)) || !bytes.Contains(b, []byte("14 detainees")) {
			t.Fatalf("working copy (%v): holds the session %v", err, bytes.Contains(b, []byte(webtest.Session)))
		}
		bad := filepath.Join(dir, "bad.txt")
		os.WriteFile(bad, []byte("session=abc\n"), 0o600)
		for _, tc := range []struct {
			args []string
			pass string
			code int
			want string
		}{
			{[]string{"capture", "--profile", "ngo-account", "--insecure-allow-private", srv.URL + "/members/report"}, "wrong", cli.ExitKey, "passphrase"},
			{[]string{"capture", "--profile", "nobody", "--insecure-allow-private", srv.URL + "/members/report"}, "profile pass", cli.ExitNotFound, "profile ls"},
			{[]string{"profile", "add", "x", "--cookies", bad}, "profile pass", cli.ExitInput, "cookies.txt"},
			{[]string{"profile", "add", "../x", "--cookies", jar}, "profile pass", cli.ExitUsage, "not a profile name"},
		} {
			t.Setenv("EXHIBIT_PROFILE_PASSWORD", tc.pass)
			if code, out := run(tc.args...); code != tc.code || !strings.Contains(out, tc.want) {
				t.Errorf("%v: exit %d, want %d with %q\n%s", tc.args, code, tc.code, tc.want, out)
			}
		}
	})

	// With --media, and a yt-dlp given by path (a copy, as a newer one
	// would be): the clip is a derivative, verify checks it against the
	// WACZ, show states what the platform claims as claims.
	t.Run("media", func(t *testing.T) {
		testenv.Program(t, "yt-dlp", "yt-dlp")
		sys, _ := exec.LookPath("yt-dlp")
		ytdlp := filepath.Join(dir, "bin", "yt-dlp")
		b, err := os.ReadFile(sys)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(ytdlp), 0o755)
		if err := os.WriteFile(ytdlp, b, 0o755); err != nil {
			t.Fatal(err)
		}
		code, out := run("capture", "--case", "bridge", "--media", "--yt-dlp", ytdlp, "--insecure-allow-private", "--ca", ca, srv.URL+"/video/7")
		if code != cli.ExitOK || !strings.Contains(out, "1 archived") {
			t.Fatalf("capture --media: %d\n%s", code, out)
		}
		id := strings.Fields(out[strings.Index(out, "archived  sha256:")+len("archived  "):])[0]
		code, out = run("show", id)
		out = columns.ReplaceAllString(out, "  ")
		for _, want := range []string{"media-001.mp4 (media, video/mp4", "social.author.name  witness_kh", "social.posted.time  2026-03-12T05:41:00Z",
			"social.posted.note  as the platform states it; not verified", "social.engagement.views  1520", "media.files[0].name  media-001.mp4",
			", yt-dlp 20"} {
			if code != cli.ExitOK || !strings.Contains(out, want) {
				t.Fatalf("show: %d, no %q in\n%s", code, want, out)
			}
		}
		if code, out := run("verify", "--verbose", id); code != cli.ExitOK || !strings.Contains(out, "derivative media-001.mp4 source") {
			t.Fatalf("verify: %d\n%s", code, out)
		}
		clip := filepath.Join(dir, "clip.mp4")
		if code, out := run("get", "--derivative", "media-001.mp4", "-o", clip, id); code != cli.ExitOK {
			t.Fatalf("get --derivative: %d\n%s", code, out)
		}
		if b, err := os.ReadFile(clip); err != nil || !bytes.Equal(b, webtest.Clip) {
			t.Fatalf("the media derivative is not the clip (%v)", err)
		}
		if code, out := run("get", "--derivative", "media-002.mp4", "-o", clip+"2", id); code != cli.ExitNotFound || !strings.Contains(out, "media-001.mp4") {
			t.Fatalf("get --derivative of no such name: %d\n%s", code, out)
		}
	})
}
