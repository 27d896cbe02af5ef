package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/sign"
	"github.com/openexhibit/exhibit/storage"
	"github.com/openexhibit/exhibit/storage/local"
	"github.com/openexhibit/exhibit/storage/s3"
	"golang.org/x/term"
)

// archiveRef is a parsed archive location.
type archiveRef struct {
	dir            string // local folder
	bucket, prefix string // S3
}

func (a archiveRef) isS3() bool { return a.bucket != "" }

func parseArchive(s string) (archiveRef, error) {
	if s == "" {
		return archiveRef{}, usageErr("no archive: pass --archive DIR or s3://BUCKET/PREFIX (or set archive: in the configuration)")
	}
	if strings.HasPrefix(s, "s3://") {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return archiveRef{}, usageErr("archive %q: want s3://BUCKET/PREFIX", s)
		}
		return archiveRef{bucket: u.Host, prefix: strings.Trim(u.Path, "/")}, nil
	}
	if strings.Contains(s, "://") {
		return archiveRef{}, usageErr("archive %q: want a folder path or s3://BUCKET/PREFIX", s)
	}
	dir, err := filepath.Abs(s)
	if err != nil {
		return archiveRef{}, usageErr("archive %q: %v", s, err)
	}
	return archiveRef{dir: dir}, nil
}

func s3Options(cfg *Config, a archiveRef) (s3.Options, error) {
	if cfg.S3.Endpoint == "" {
		return s3.Options{}, usageErr("archive s3://%s needs an endpoint: set s3.endpoint in the configuration or EXHIBIT_S3_ENDPOINT (host:port)", a.bucket)
	}
	if cfg.S3.AccessKey == "" || cfg.S3.SecretKey == "" {
		return s3.Options{}, usageErr("archive s3://%s needs credentials: set EXHIBIT_S3_ACCESS_KEY and EXHIBIT_S3_SECRET_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)", a.bucket)
	}
	return s3.Options{Endpoint: cfg.S3.Endpoint, Secure: !cfg.S3.InsecureHTTP, Region: cfg.S3.Region,
		AccessKey: cfg.S3.AccessKey, SecretKey: cfg.S3.SecretKey, Bucket: a.bucket, Prefix: a.prefix}, nil
}

// openStore opens the configured archive and checks that it is one: it
// returns the archive's descriptor, which the commands need (its log) and
// is read once per command.
func openStore(ctx context.Context, cfg *Config) (storage.Store, *custody.Archive, error) {
	a, err := parseArchive(cfg.Archive)
	if err != nil {
		return nil, nil, err
	}
	var st storage.Store
	if a.isS3() {
		o, err := s3Options(cfg, a)
		if err != nil {
			return nil, nil, err
		}
		s, err := s3.Open(ctx, o)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, nil, usageErr("archive %s: %v (run exhibit init to create it)", cfg.Archive, err)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("archive %s: %w", cfg.Archive, err)
		}
		st = s
	} else {
		// Writes share syncs: many small objects per item, and the
		// commands sync before they report anything durable.
		s, err := local.Open(a.dir, local.GroupCommit())
		if err != nil {
			if errors.Is(err, storage.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
				return nil, nil, usageErr("archive %s does not exist: run `exhibit init --archive %s`", a.dir, a.dir)
			}
			return nil, nil, fmt.Errorf("archive %s: %w", a.dir, err)
		}
		st = s
	}
	data, err := storage.ReadAll(ctx, st, custody.ArchiveKey, 1<<20)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, usageErr("%s is not an Exhibit archive (no %s): run exhibit init", st.Location(), custody.ArchiveKey)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("archive %s: %w", st.Location(), err)
	}
	desc, err := custody.ParseArchive(data)
	if err != nil {
		return nil, nil, usageErr("%s: %v", st.Location(), err)
	}
	return st, desc, nil
}

// prompted is the passphrase typed at the prompt, asked once per process
// (the signing key and the log key share it).
var prompted struct {
	sync.Mutex
	pass []byte
}

// errNoPassphrase: no passphrase was given and none can be asked for.
var errNoPassphrase = errors.New("no passphrase: set EXHIBIT_PASSWORD or run in a terminal")

// passphrase reads the key passphrase from EXHIBIT_PASSWORD or, on a
// terminal, from a prompt (once per process).
func passphrase(confirm bool) ([]byte, error) {
	if p, ok := os.LookupEnv("EXHIBIT_PASSWORD"); ok {
		return []byte(p), nil
	}
	prompted.Lock()
	defer prompted.Unlock()
	if prompted.pass != nil {
		return prompted.pass, nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil, errNoPassphrase
	}
	fmt.Fprint(os.Stderr, "Key passphrase: ")
	p, err := term.ReadPassword(fd)
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return nil, err
	}
	if confirm {
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
	prompted.pass = p
	return p, nil
}

func loadSigner(ctx context.Context, home string, cfg *Config) (*sign.Signer, error) {
	if cfg.Key == "" {
		return nil, withCode(ExitKey, errors.New("no signing key configured"), "run exhibit init, or set key: in the configuration / EXHIBIT_KEY")
	}
	return sign.LoadSigner(ctx, inHome(home, cfg.Key), passphrase)
}

func loadVerifier(home string, cfg *Config) (*sign.Verifier, *sign.TrustFile, error) {
	path := inHome(home, cfg.Trust)
	tf, err := sign.ReadTrustFile(path)
	if err != nil {
		return nil, nil, usageErr("trust file %s: %v (run exhibit init, or pass --trust FILE)", path, err)
	}
	v, err := sign.NewVerifier(tf)
	if err != nil {
		return nil, nil, usageErr("trust file %s: %v", path, err)
	}
	return v, tf, nil
}
