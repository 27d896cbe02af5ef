package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/term"

	"github.com/openexhibit/exhibit/archive"
)

// The command line's passphrases: the log key's from EXHIBIT_LOG_PASSWORD
// when it is set, else the signing key's (EXHIBIT_PASSWORD); with neither
// and no terminal, a key error that says what to set.
func TestCredentials(t *testing.T) {
	ctx := context.Background()
	ask := func(role archive.KeyRole) (string, error) {
		t.Helper()
		p, err := (&credentials{}).Passphrase(ctx, role, false)
		return string(p), err
	}
	t.Setenv("EXHIBIT_PASSWORD", "signing")
	t.Setenv("EXHIBIT_LOG_PASSWORD", "log")
	if p, _ := ask(archive.LogKey); p != "log" {
		t.Errorf("log key with EXHIBIT_LOG_PASSWORD: %q", p)
	}
	if p, _ := ask(archive.SigningKey); p != "signing" {
		t.Errorf("signing key: %q, want EXHIBIT_PASSWORD's", p)
	}
	unsetenv(t, "EXHIBIT_LOG_PASSWORD")
	if p, _ := ask(archive.LogKey); p != "signing" {
		t.Errorf("log key without EXHIBIT_LOG_PASSWORD: %q, want EXHIBIT_PASSWORD's", p)
	}
	unsetenv(t, "EXHIBIT_PASSWORD")
	// From files, as a service's secrets: one trailing newline is not part
	// of the passphrase; a file that cannot be read is a key error.
	dir := t.TempDir()
	for name, content := range map[string]string{"signing": "from file\n", "log": "log from file"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("EXHIBIT_PASSWORD_FILE", filepath.Join(dir, "signing"))
	if p, _ := ask(archive.LogKey); p != "from file" {
		t.Errorf("log key from EXHIBIT_PASSWORD_FILE: %q", p)
	}
	t.Setenv("EXHIBIT_LOG_PASSWORD_FILE", filepath.Join(dir, "log"))
	if p, _ := ask(archive.LogKey); p != "log from file" {
		t.Errorf("log key from EXHIBIT_LOG_PASSWORD_FILE: %q", p)
	}
	t.Setenv("EXHIBIT_PASSWORD_FILE", filepath.Join(dir, "missing"))
	if _, err := ask(archive.SigningKey); err == nil {
		t.Error("a missing passphrase file gave a passphrase")
	} else if code, hint := classify(err); code != ExitKey || !strings.Contains(hint, "EXHIBIT_PASSWORD_FILE") {
		t.Errorf("missing passphrase file: exit %d, hint %q", code, hint)
	}
	unsetenv(t, "EXHIBIT_PASSWORD_FILE")
	unsetenv(t, "EXHIBIT_LOG_PASSWORD_FILE")
	if !isTerminalStdin() {
		_, err := ask(archive.SigningKey)
		if !errors.Is(err, archive.ErrNoPassphrase) {
			t.Fatalf("no passphrase, no terminal: %v", err)
		}
		if code, hint := classify(err); code != ExitKey || hint == "" {
			t.Errorf("no passphrase: exit %d, hint %q; want %d with a hint", code, hint, ExitKey)
		}
	}
}

// unsetenv unsets an environment variable for the rest of the test.
func unsetenv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "") // restores the old value after the test
	os.Unsetenv(name)
}

func isTerminalStdin() bool { return term.IsTerminal(int(os.Stdin.Fd())) }
