package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"

	"golang.org/x/term"

	"github.com/openexhibit/exhibit/archive"
	"github.com/openexhibit/exhibit/custody"
)

// archiveOptions are the archive.Options of the configuration.
func archiveOptions(e *env, home string, cfg *Config) (archive.Options, error) {
	loc, err := archive.ParseLocation(cfg.Archive)
	if err != nil {
		return archive.Options{}, err
	}
	return archive.Options{
		Location: loc,
		S3: archive.S3Config{Endpoint: cfg.S3.Endpoint, Region: cfg.S3.Region, InsecureHTTP: cfg.S3.InsecureHTTP,
			AccessKey: cfg.S3.AccessKey, SecretKey: cfg.S3.SecretKey},
		Home: home, Key: cfg.Key, Trust: cfg.Trust, Credentials: &e.creds, Operator: cfg.Operator,
		TSA: cfg.TSA, Retention: cfg.Retention, LegalHold: cfg.LegalHold,
		Note: func(msg string) { fmt.Fprintf(e.stderr, "exhibit: note: %s\n", msg) },
		Warn: func(msg string) { fmt.Fprintf(e.stderr, "warning  %s\n", msg) },
		Tool: custody.Tool{Name: "exhibit", Version: version(), GoVersion: runtime.Version()},
	}, nil
}

// openArchive opens the configured archive.
func openArchive(ctx context.Context, e *env, home string, cfg *Config) (*archive.Archive, error) {
	o, err := archiveOptions(e, home, cfg)
	if err != nil {
		return nil, err
	}
	return archive.Open(ctx, o)
}

// errNoPassphrase: no passphrase was given and none can be asked for.
var errNoPassphrase = fmt.Errorf("%w: set EXHIBIT_PASSWORD (or EXHIBIT_PASSWORD_FILE) or run in a terminal", archive.ErrNoPassphrase)

// credentials are the passphrases of the command line: the signing key's
// from EXHIBIT_PASSWORD, or the file EXHIBIT_PASSWORD_FILE names (a
// service's secret; one trailing newline is not part of it); the log key's
// from EXHIBIT_LOG_PASSWORD or EXHIBIT_LOG_PASSWORD_FILE, and the login
// profiles' from EXHIBIT_PROFILE_PASSWORD or EXHIBIT_PROFILE_PASSWORD_FILE,
// or else the signing key's; without them, on a terminal, one prompt per
// process (all share it).
type credentials struct {
	mu    sync.Mutex
	typed []byte
	// noPrompt: never ask (a service).
	noPrompt bool
}

func (c *credentials) Passphrase(_ context.Context, role archive.KeyRole, create bool) ([]byte, error) {
	own := map[archive.KeyRole]string{archive.LogKey: "EXHIBIT_LOG_PASSWORD", archive.ProfileKey: "EXHIBIT_PROFILE_PASSWORD"}
	if name := own[role]; name != "" {
		if p, ok, err := fromEnv(name); ok || err != nil {
			return p, err
		}
	}
	if p, ok, err := fromEnv("EXHIBIT_PASSWORD"); ok || err != nil {
		return p, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.typed != nil {
		return c.typed, nil
	}
	fd := int(os.Stdin.Fd())
	if c.noPrompt || !term.IsTerminal(fd) {
		return nil, errNoPassphrase
	}
	fmt.Fprint(os.Stderr, "Key passphrase: ")
	p, err := term.ReadPassword(fd)
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return nil, err
	}
	if create {
		fmt.Fprint(os.Stderr, "Repeat passphrase: ")
		q, err := term.ReadPassword(fd)
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return nil, err
		}
		if string(p) != string(q) {
			return nil, errors.New("the passphrases differ")
		}
	}
	c.typed = p
	return p, nil
}

// fromEnv is the passphrase in the variable name, or in the file that
// name+"_FILE" names (without one trailing newline); ok is false when
// neither is set.
func fromEnv(name string) (p []byte, ok bool, err error) {
	if v, ok := os.LookupEnv(name); ok {
		return []byte(v), true, nil
	}
	path, ok := os.LookupEnv(name + "_FILE")
	if !ok {
		return nil, false, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, true, &archive.Error{Kind: archive.KindKey, Err: fmt.Errorf("%s_FILE: %w", name, err),
			Hint: "check the path in " + name + "_FILE and that this user can read it"}
	}
	data = bytes.TrimSuffix(data, []byte("\n"))
	data = bytes.TrimSuffix(data, []byte("\r"))
	return data, true, nil
}
