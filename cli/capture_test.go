package cli_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openexhibit/exhibit/acquire/web/browser"
	"github.com/openexhibit/exhibit/acquire/web/webtest"
	"github.com/openexhibit/exhibit/cli"
	"github.com/openexhibit/exhibit/internal/testenv"
)

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
	t.Setenv("EXHIBIT_HOME", filepath.Join(dir, "home"))
	run := func(args ...string) (int, string) {
		var out bytes.Buffer
		code := cli.Run(context.Background(), append([]string{"exhibit"}, args...), strings.NewReader(""), &out, &out)
		return code, out.String()
	}
	if code, out := run("init", "--archive", filepath.Join(dir, "archive"), "--insecure-no-password"); code != cli.ExitOK {
		t.Fatalf("init: %d\n%s", code, out)
	}
	url := srv.URL + "/post/123"
	code, out := run("capture", "--case", "bridge", "--insecure-allow-private", "--ca", ca, url)
	// 11 events: ingested, archived (WACZ, metadata, 4 attachments),
	// derived (4 attachments).
	if code != cli.ExitOK || !strings.Contains(out, "1 archived") || !strings.Contains(out, "custody log: 11 events logged") {
		t.Fatalf("capture: %d\n%s", code, out)
	}
	id := strings.Fields(out[strings.Index(out, "archived  sha256:")+len("archived  "):])[0]
	code, out = run("show", id)
	for _, want := range []string{"web archive     WACZ, valid", "screenshot.png (screenshot, image/png", "page.pdf", "text.txt", "finalUrl        " + url} {
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
	} {
		if code, out := run(tc.args...); code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, want %d with %q\n%s", tc.args, code, tc.code, tc.want, out)
		}
	}
	if code, out := run("ls"); code != cli.ExitOK || strings.Count(out, "sha256:") != 1 {
		t.Fatalf("after the refused captures: %d\n%s", code, out)
	}
}
