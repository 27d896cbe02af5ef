package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

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
func Fetch(ctx context.Context, st storage.Getter, o custody.Object, identities []age.Identity, w io.Writer) (hashing.Set, error) {
	key, err := o.StoredKey()
	if err != nil {
		return hashing.Set{}, err
	}
	if custody.IsUploadKey(o.Key) {
		key = o.Key // placed: the record names where the bytes lie
	}
	enc := o.Encryption
	if enc != nil && len(identities) == 0 {
		return hashing.Set{}, fmt.Errorf("%s is %w to %s: pass --identity FILE with one of their identities",
			key, ErrEncrypted, strings.Join(enc.Recipients, ", "))
	}
	s, err := stream(ctx, st, key, enc != nil, identities, w)
	if err != nil {
		return hashing.Set{}, fmt.Errorf("%s: %w", key, err)
	}
	if enc != nil {
		if err := match(key, "ciphertext", digestSet(enc.Digest, enc.Size), s.stored); err != nil {
			return hashing.Set{}, err
		}
		var nm *age.NoIdentityMatchError
		switch {
		case errors.As(s.decErr, &nm):
			return hashing.Set{}, fmt.Errorf("%s: %w", key, s.decErr)
		case s.decErr != nil:
			// The signed ciphertext itself does not decrypt.
			return hashing.Set{}, &MismatchError{Key: key, What: "plaintext", Expected: "a ciphertext that decrypts", Found: s.decErr.Error()}
		}
	}
	return s.plain, match(key, "plaintext", digestSet(o.Digest, o.Size), s.plain)
}

// streamed is what one read of a stored object found.
type streamed struct {
	// stored are the digests of every stored byte.
	stored hashing.Set
	// plain are the plaintext's digests: stored's when the object is not
	// encrypted, else valid only when decrypted.
	plain     hashing.Set
	decrypted bool
	// decErr is why an encrypted object did not decrypt (nil when no
	// identity was tried).
	decErr error
}

// stream reads the stored object at key once: it hashes every stored byte
// and writes the plaintext to w, hashing it too; for an encrypted object the
// plaintext is the decryption with identities, and without identities
// nothing is written. The error is the store's or w's; a ciphertext that
// does not decrypt is reported in decErr, with the stored bytes still all
// hashed, so that a tampered ciphertext shows as such.
func stream(ctx context.Context, st storage.Getter, key string, encrypted bool, identities []age.Identity, w io.Writer) (streamed, error) {
	var s streamed
	rc, err := st.Get(ctx, key)
	if err != nil {
		return s, err
	}
	defer rc.Close()
	src := &readErr{r: rc}
	sh := hashing.New()
	tee := io.TeeReader(src, sh)
	out := &writeErr{w: w}
	bp := streamBuffers.Get().(*[]byte)
	defer streamBuffers.Put(bp)
	buf := *bp
	switch {
	case !encrypted:
		if _, err := io.CopyBuffer(out, tee, buf); err != nil {
			return s, err
		}
		s.stored = sh.Sum()
		s.plain, s.decrypted = s.stored, true
		return s, nil
	case len(identities) > 0:
		ph := hashing.New()
		r, err := age.Decrypt(tee, identities...)
		if err == nil {
			_, err = io.CopyBuffer(io.MultiWriter(out, ph), r, buf)
		}
		if src.err != nil || out.err != nil {
			return s, errors.Join(src.err, out.err)
		}
		if s.decErr = err; err == nil {
			s.plain, s.decrypted = ph.Sum(), true
		}
	}
	// Hash what decryption left unread (all of it without an identity).
	if _, err := io.CopyBuffer(io.Discard, tee, buf); err != nil {
		return s, err
	}
	s.stored = sh.Sum()
	return s, nil
}

// streamBuffers are stream's 1 MiB copy buffers: allocating one per
// object costs more than small objects take to copy.
var streamBuffers = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

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

// writeErr remembers the error of the caller's writer, for the same reason.
type writeErr struct {
	w   io.Writer
	err error
}

func (w *writeErr) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if err != nil {
		w.err = err
	}
	return n, err
}

// LimitedWriter is an io.Writer into W that fails once more than N bytes
// are written: for reading a small object whose size a record claims.
type LimitedWriter struct {
	W io.Writer
	N int64
}

func (l *LimitedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.N {
		return 0, errors.New("larger than expected")
	}
	l.N -= int64(len(p))
	return l.W.Write(p)
}
