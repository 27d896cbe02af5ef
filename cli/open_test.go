package cli

import (
	"context"
	"errors"
	"os"
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
