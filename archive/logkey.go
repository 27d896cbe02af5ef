package archive

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"golang.org/x/mod/sumdb/note"

	"github.com/openexhibit/exhibit/internal/files"
	"github.com/openexhibit/exhibit/sign"
)

// Files of the custody log in the home folder.
const (
	// LogKeyFile holds the archive's log key (Ed25519), encrypted like
	// the signing key.
	LogKeyFile = "log.key"
	// logStateDir holds, per log origin, the newest checkpoint this home
	// has verified (as the Go checksum database client remembers its
	// latest tree), so that a rollback or a fork of the archive's log is
	// noticed.
	logStateDir = "logstate"
	// originPrefix starts every origin Create makes.
	originPrefix = "exhibit.archive/"
)

// newOrigin returns a fresh, random log origin for a new archive.
func newOrigin() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return originPrefix + hex.EncodeToString(b[:])
}

// noteKeys returns the signed-note signer and verifier keys of an Ed25519
// key named origin.
func noteKeys(origin string, priv ed25519.PrivateKey) (skey, vkey string, err error) {
	vkey, err = note.NewEd25519VerifierKey(origin, priv.Public().(ed25519.PublicKey))
	if err != nil {
		return "", "", err
	}
	// vkey is name+hash+base64(alg||pub); the signer key has the same name
	// and hash, with the seed.
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return "", "", errors.New("unexpected verifier key format")
	}
	seed := append([]byte{1}, priv.Seed()...) // 1 is note's Ed25519 algorithm
	skey = "PRIVATE+KEY+" + parts[0] + "+" + parts[1] + "+" + base64.StdEncoding.EncodeToString(seed)
	return skey, vkey, nil
}

// newLogKeyFile makes the archive's log key, writes it to the home folder
// (encrypted with pass, or plain when pass is empty) and returns its
// verifier key.
func newLogKeyFile(home, origin string, pass []byte) (string, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	_, vkey, err := noteKeys(origin, priv)
	if err != nil {
		return "", err
	}
	var block *pem.Block
	if len(pass) > 0 {
		der, err := cryptoutils.MarshalPrivateKeyToEncryptedDER(priv, func(bool) ([]byte, error) { return pass, nil })
		if err != nil {
			return "", fmt.Errorf("encrypt log key: %w", err)
		}
		block = &pem.Block{Type: string(cryptoutils.EncryptedSigstorePrivateKeyPEMType), Bytes: der}
	} else {
		der, err := cryptoutils.MarshalPrivateKeyToDER(priv)
		if err != nil {
			return "", err
		}
		block = &pem.Block{Type: string(cryptoutils.PrivateKeyPEMType), Bytes: der}
	}
	data := append([]byte("# custody log key of "+origin+"\n# verifier key "+vkey+"\n"), pem.EncodeToMemory(block)...)
	if err := files.WriteNew(filepath.Join(home, LogKeyFile), data, 0o600); err != nil {
		return "", fmt.Errorf("write log key: %w", err)
	}
	return vkey, nil
}

// logKeyComments returns the origin and verifier key written as comments
// in an existing log key file (a Create that stopped before writing the
// archive descriptor is run again with the same key).
func logKeyComments(home string) (origin, vkey string, ok bool) {
	data, err := os.ReadFile(filepath.Join(home, LogKeyFile))
	if err != nil {
		return "", "", false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if o, found := strings.CutPrefix(line, "# custody log key of "); found {
			origin = o
		}
		if v, found := strings.CutPrefix(line, "# verifier key "); found {
			vkey = v
		}
	}
	if v, err := note.NewVerifier(vkey); err != nil || v.Name() != origin {
		return "", "", false
	}
	return origin, vkey, true
}

// LogPassphraseError: the custody log key does not open with the
// passphrase given. It is a sign.ErrPassphrase, named for the log key.
type LogPassphraseError struct{ Path string }

func (e *LogPassphraseError) Error() string {
	return "wrong passphrase for the custody log key " + e.Path
}
func (e *LogPassphraseError) Is(target error) bool { return target == sign.ErrPassphrase }

// loadLogSigner decrypts the home folder's log key (asking creds for the
// LogKey passphrase) and checks that it is the key of the log named
// origin. Errors wrap os.ErrNotExist when there is no key.
func loadLogSigner(ctx context.Context, home, origin string, creds Credentials) (note.Signer, error) {
	path := filepath.Join(home, LogKeyFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("custody log key %s: %w", path, err)
	}
	rest := data
	for len(rest) > 0 && rest[0] == '#' {
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			rest = rest[i+1:]
		} else {
			rest = nil
		}
	}
	block, _ := pem.Decode(rest)
	if block == nil {
		return nil, withKind(KindKey, fmt.Errorf("custody log key %s: no PEM key in the file", path), "")
	}
	var priv any
	switch block.Type {
	case string(cryptoutils.EncryptedSigstorePrivateKeyPEMType):
		pass, err := passphrase(ctx, creds, LogKey, false)
		if err != nil {
			return nil, withKind(KindKey, fmt.Errorf("custody log key %s: %w", path, err), "")
		}
		der, err := sign.DecryptKey(block.Bytes, pass)
		if errors.Is(err, sign.ErrPassphrase) {
			return nil, withKind(KindKey, &LogPassphraseError{path},
				"the log key is encrypted with the passphrase given at init (set EXHIBIT_LOG_PASSWORD if it differs from the signing key's)")
		}
		if err != nil {
			return nil, withKind(KindKey, fmt.Errorf("custody log key %s: %w", path, err), "")
		}
		priv, err = x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, withKind(KindKey, fmt.Errorf("custody log key %s: %w", path, err), "")
		}
	default:
		priv, err = cryptoutils.UnmarshalPEMToPrivateKey(rest, nil)
		if err != nil {
			return nil, withKind(KindKey, fmt.Errorf("custody log key %s: %w", path, err), "")
		}
	}
	key, ok := priv.(ed25519.PrivateKey)
	if !ok {
		return nil, withKind(KindKey, fmt.Errorf("custody log key %s: not an Ed25519 key", path), "")
	}
	skey, _, err := noteKeys(origin, key)
	if err != nil {
		return nil, err
	}
	return note.NewSigner(skey)
}
