package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/storage"
)

// ErrEncrypted is returned by Fetch for an encrypted object when no
// identity was given.
var ErrEncrypted = errors.New("encrypted")

// MismatchError says that fetched bytes are not the ones the record names.
type MismatchError struct {
	Key             string
	What            string // "ciphertext" or "plaintext"
	Expected, Found string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s %s: expected %s, found %s", e.Key, e.What, e.Expected, e.Found)
}

// Fetch streams the object a verified record names to w, decrypting it with
// identities when it is encrypted, and checks every digest the record holds
// (of the ciphertext and of the plaintext) once the last byte is read. On
// any error, what was written to w is not the object and must be discarded:
// write to a temporary file and keep it only when Fetch returns nil.
func Fetch(ctx context.Context, st storage.Store, o custody.Object, identities []age.Identity, w io.Writer) (hashing.Set, error) {
	key, err := o.StoredKey()
	if err != nil {
		return hashing.Set{}, err
	}
	if o.Encryption != nil && len(identities) == 0 {
		return hashing.Set{}, fmt.Errorf("%s is %w to %s: pass --identity FILE with one of their identities",
			key, ErrEncrypted, strings.Join(o.Encryption.Recipients, ", "))
	}
	rc, err := st.Get(ctx, key)
	if err != nil {
		return hashing.Set{}, err
	}
	defer rc.Close()
	stored := &readErr{r: rc}
	if o.Encryption == nil {
		ph := hashing.New()
		if _, err := io.CopyBuffer(io.MultiWriter(w, ph), stored, make([]byte, 1<<20)); err != nil {
			return hashing.Set{}, fmt.Errorf("%s: %w", key, err)
		}
		got := ph.Sum()
		return got, match(key, "plaintext", digestSet(o.Digest, o.Size), got)
	}

	ch := hashing.New()
	tee := io.TeeReader(stored, ch)
	ph := hashing.New()
	src, decErr := age.Decrypt(tee, identities...)
	if decErr == nil {
		_, decErr = io.CopyBuffer(io.MultiWriter(w, ph), src, make([]byte, 1<<20))
	}
	if stored.err != nil {
		return hashing.Set{}, fmt.Errorf("%s: %w", key, stored.err)
	}
	// Hash what decryption left unread: the ciphertext check covers every
	// stored byte, and a tampered ciphertext is reported as such rather than
	// as a decryption failure.
	if _, err := io.Copy(ch, stored); err != nil {
		return hashing.Set{}, fmt.Errorf("%s: %w", key, err)
	}
	if err := match(key, "ciphertext", digestSet(o.Encryption.Digest, o.Encryption.Size), ch.Sum()); err != nil {
		return hashing.Set{}, err
	}
	var nm *age.NoIdentityMatchError
	switch {
	case errors.As(decErr, &nm):
		return hashing.Set{}, fmt.Errorf("%s: %w", key, decErr)
	case decErr != nil:
		// The signed ciphertext itself does not decrypt.
		return hashing.Set{}, &MismatchError{Key: key, What: "plaintext", Expected: "a ciphertext that decrypts", Found: decErr.Error()}
	}
	got := ph.Sum()
	return got, match(key, "plaintext", digestSet(o.Digest, o.Size), got)
}

// readErr remembers the error of the store's reader, to tell a store
// failure from a decryption failure.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

func match(key, what string, want, got hashing.Set) error {
	switch {
	case want.Size != got.Size:
		return &MismatchError{Key: key, What: what, Expected: fmt.Sprintf("%d bytes", want.Size), Found: fmt.Sprintf("%d bytes", got.Size)}
	case !want.SHA256.Equal(got.SHA256):
		return &MismatchError{Key: key, What: what, Expected: want.SHA256.String(), Found: got.SHA256.String()}
	case !want.SHA512.IsZero() && !want.SHA512.Equal(got.SHA512):
		return &MismatchError{Key: key, What: what, Expected: want.SHA512.String(), Found: got.SHA512.String()}
	}
	return nil
}
