package cli_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openexhibit/exhibit/cli"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/internal/testenv"
)

func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), append([]string{"exhibit"}, args...), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// TestFullDisk fills a real (tmpfs) file system: the item that does not fit
// fails with exit 4 and a hint, leaves nothing behind, and the rerun after
// space is freed completes it.
func TestFullDisk(t *testing.T) {
	dir := t.TempDir()
	fs := filepath.Join(dir, "fs")
	os.Mkdir(fs, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", fs).CombinedOutput(); err != nil {
		msg := "cannot mount a small tmpfs (needs root): " + strings.TrimSpace(string(out))
		if testenv.InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { exec.Command("umount", fs).Run() })
	t.Setenv("EXHIBIT_HOME", filepath.Join(dir, "home"))
	archive := filepath.Join(fs, "archive")
	if code, _, stderr := run(t, "init", "--archive", archive, "--insecure-no-password"); code != 0 {
		t.Fatalf("init: %d %s", code, stderr)
	}
	small, big := filepath.Join(dir, "small.bin"), filepath.Join(dir, "big.bin")
	write := func(p string, n int) hashing.Digest {
		b := make([]byte, n)
		rand.Read(b)
		os.WriteFile(p, b, 0o644)
		return hashing.Bytes(b).SHA256
	}
	write(small, 1<<20)
	bigID := write(big, 5<<20)

	// One job: the small file is complete before the big one fills the disk.
	code, stdout, stderr := run(t, "ingest", "--jobs", "1", small, big)
	if code != cli.ExitIO {
		t.Fatalf("exit %d, want %d\n%s%s", code, cli.ExitIO, stdout, stderr)
	}
	t.Logf("stderr on a full disk:\n%s", stderr)
	if !strings.Contains(stderr, "free space in the store") {
		t.Errorf("no hint to free space:\n%s", stderr)
	}
	if !strings.Contains(stdout, "1 archived") {
		t.Errorf("the file that fit was not archived:\n%s", stdout)
	}
	for _, p := range []string{filepath.Join(archive, "items", bigID.Hex()), filepath.Join(archive, "objects", "sha256", bigID.Hex()[:2], bigID.Hex())} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s exists after a failed ingest", p)
		}
	}
	// The custody log's compare-and-swap lock file stays; it holds no data.
	tmp, _ := os.ReadDir(filepath.Join(archive, ".tmp"))
	left := 0
	for _, e := range tmp {
		if !(strings.HasPrefix(e.Name(), "swap-") && strings.HasSuffix(e.Name(), ".lock")) {
			left++
		}
	}
	if left != 0 {
		t.Errorf("%d temporary files left on the full disk", left)
	}

	if out, err := exec.Command("mount", "-o", "remount,size=32m", fs).CombinedOutput(); err != nil {
		t.Fatalf("grow tmpfs: %v %s", err, out)
	}
	if code, stdout, stderr := run(t, "ingest", small, big); code != 0 || !strings.Contains(stdout, "1 archived, 1 already archived") {
		t.Fatalf("rerun: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, stdout, _ := run(t, "verify", "--all"); code != 0 || !strings.Contains(stdout, "2 of 2 items intact") {
		t.Fatalf("verify after rerun: exit %d\n%s", code, stdout)
	}
}
