package archive

import (
	"context"
	"errors"
)

// KeyRole names which of a home folder's keys a passphrase is for.
type KeyRole int

const (
	// SigningKey is the cosign-format key that signs records and bundles.
	SigningKey KeyRole = iota
	// LogKey is the Ed25519 key that signs the custody log's checkpoints.
	LogKey
	// ProfileKey encrypts the web capture's login profiles (the front
	// end's; the archive itself never asks for it).
	ProfileKey
)

func (r KeyRole) String() string {
	switch r {
	case LogKey:
		return "custody log key"
	case ProfileKey:
		return "login profiles"
	}
	return "signing key"
}

// Credentials supply the passphrases of the key files. The library never
// prompts and never reads the environment: the front end decides where a
// passphrase comes from (a terminal prompt, an environment variable, a
// file, a secrets manager). Keys in a KMS need none.
type Credentials interface {
	// Passphrase returns the passphrase of the key in role. create is true
	// when the key is being made, so that a prompt can ask twice. An
	// implementation that has none returns an error wrapping
	// ErrNoPassphrase. It may be called from several goroutines.
	Passphrase(ctx context.Context, role KeyRole, create bool) ([]byte, error)
}

// ErrNoPassphrase: a key is encrypted and no passphrase was supplied.
var ErrNoPassphrase = errors.New("no passphrase")

// Passphrase is Credentials with one passphrase for every key.
type Passphrase []byte

// Passphrase returns p, or ErrNoPassphrase when p is empty.
func (p Passphrase) Passphrase(context.Context, KeyRole, bool) ([]byte, error) {
	if len(p) == 0 {
		return nil, ErrNoPassphrase
	}
	return p, nil
}

// passphrase asks c, which may be nil.
func passphrase(ctx context.Context, c Credentials, role KeyRole, create bool) ([]byte, error) {
	if c == nil {
		return nil, ErrNoPassphrase
	}
	return c.Passphrase(ctx, role, create)
}
