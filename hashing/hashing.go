// Package hashing computes the digests that identify evidence: SHA-256 (the
// item ID) and SHA-512 together, in one streaming pass, with memory that does
// not grow with the input.
//
// It owns the Digest type and its text forms. It must not import any other
// package of this module.
package hashing

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
)

// Algorithm names as they appear in in-toto digest sets and in item IDs.
const (
	SHA256 = "sha256"
	SHA512 = "sha512"
)

// Digest is one hash value with its algorithm. The zero Digest is invalid.
type Digest struct {
	Algorithm string
	Sum       []byte
}

// Hex returns the lowercase hex of the sum.
func (d Digest) Hex() string { return hex.EncodeToString(d.Sum) }

// String returns "algorithm:hex", the form used for item IDs.
func (d Digest) String() string { return d.Algorithm + ":" + d.Hex() }

// IsZero reports whether d holds no sum.
func (d Digest) IsZero() bool { return len(d.Sum) == 0 }

// Equal reports whether both digests have the same algorithm and sum.
func (d Digest) Equal(o Digest) bool {
	return d.Algorithm == o.Algorithm && len(d.Sum) > 0 && string(d.Sum) == string(o.Sum)
}

var sizes = map[string]int{SHA256: sha256.Size, SHA512: sha512.Size}

// ParseDigest parses "algorithm:hex". A bare 64-character hex string is taken
// as SHA-256, so users may paste an item ID without its prefix.
func ParseDigest(s string) (Digest, error) {
	alg, h, ok := strings.Cut(s, ":")
	if !ok {
		alg, h = SHA256, s
	}
	alg = strings.ToLower(alg)
	n, known := sizes[alg]
	if !known {
		return Digest{}, fmt.Errorf("hashing: unknown digest algorithm %q (want sha256 or sha512)", alg)
	}
	sum, err := hex.DecodeString(h)
	if err != nil || len(sum) != n {
		return Digest{}, fmt.Errorf("hashing: %q is not a %s digest (want %d hex characters)", s, alg, 2*n)
	}
	return Digest{Algorithm: alg, Sum: sum}, nil
}

// FromHex builds a digest from an algorithm and a hex sum, checking its length.
func FromHex(alg, h string) (Digest, error) { return ParseDigest(alg + ":" + h) }

// Set is the digests of one byte stream, keyed by algorithm.
type Set struct {
	SHA256 Digest
	SHA512 Digest
	Size   int64
}

// Map returns the set in in-toto DigestSet form: algorithm -> hex.
func (s Set) Map() map[string]string {
	m := map[string]string{}
	if !s.SHA256.IsZero() {
		m[SHA256] = s.SHA256.Hex()
	}
	if !s.SHA512.IsZero() {
		m[SHA512] = s.SHA512.Hex()
	}
	return m
}

// SetFromMap parses an in-toto DigestSet. SHA-256 is required; SHA-512 is
// optional; other algorithms are ignored.
func SetFromMap(m map[string]string) (Set, error) {
	var s Set
	h, ok := m[SHA256]
	if !ok {
		return s, errors.New("hashing: digest set has no sha256")
	}
	var err error
	if s.SHA256, err = FromHex(SHA256, h); err != nil {
		return s, err
	}
	if h, ok := m[SHA512]; ok {
		if s.SHA512, err = FromHex(SHA512, h); err != nil {
			return s, err
		}
	}
	return s, nil
}

// Hasher is an io.Writer that feeds every byte to SHA-256 and SHA-512.
// It is not safe for concurrent use.
type Hasher struct {
	s256, s512 hash.Hash
	n          int64

	// SHA-512, the slower of the two, may run behind the caller on a
	// goroutine of its own, over a copy of the last write (behind, of at
	// most aheadMax bytes) while spare waits for the next one.
	behind, spare []byte
	done          chan struct{} // closed when behind is hashed; nil when nothing is
}

// New returns a Hasher for SHA-256 and SHA-512.
func New() *Hasher { return &Hasher{s256: sha256.New(), s512: sha512.New()} }

const (
	// parallelMin is the write size from which SHA-512 runs on a second
	// goroutine while SHA-256 runs on the caller's: below it the hand-off
	// costs more than it saves.
	parallelMin = 64 << 10
	// aheadMax is the largest write whose SHA-512 may still be running
	// when Write returns: it costs a copy, and two buffers of this size.
	aheadMax = 1 << 20
)

// Write never fails. Large writes hash on two cores; up to aheadMax bytes,
// Write returns once SHA-256 is done, and SHA-512 catches up meanwhile.
func (h *Hasher) Write(p []byte) (int, error) {
	h.wait()
	switch {
	case len(p) >= parallelMin && len(p) <= aheadMax:
		h.behind, h.spare = append(h.spare[:0], p...), h.behind
		h.done = make(chan struct{})
		go func(b []byte, done chan struct{}) { h.s512.Write(b); close(done) }(h.behind, h.done)
		h.s256.Write(p)
	case len(p) >= parallelMin:
		done := make(chan struct{})
		go func() { h.s512.Write(p); close(done) }()
		h.s256.Write(p)
		<-done
	default:
		h.s256.Write(p)
		h.s512.Write(p)
	}
	h.n += int64(len(p))
	return len(p), nil
}

// wait waits for SHA-512 to catch up.
func (h *Hasher) wait() {
	if h.done != nil {
		<-h.done
		h.done = nil
	}
}

// Sum returns the digests of everything written so far.
func (h *Hasher) Sum() Set {
	h.wait()
	return Set{
		SHA256: Digest{Algorithm: SHA256, Sum: h.s256.Sum(nil)},
		SHA512: Digest{Algorithm: SHA512, Sum: h.s512.Sum(nil)},
		Size:   h.n,
	}
}

// Tee returns a reader of r that hashes with h every byte it reads. It is
// the way to hash content while something else reads it: the bytes hashed
// are exactly the bytes that reader got.
func (h *Hasher) Tee(r io.Reader) *Tee { return &Tee{r: r, h: h} }

// Tee is an io.Reader that feeds what it reads to a Hasher. Its SHA256
// method makes it a storage.SHA256Reader: a store that reads it takes the
// SHA-256 from it instead of hashing the bytes a second time.
type Tee struct {
	r io.Reader
	h *Hasher
}

func (t *Tee) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.h.Write(p[:n])
	}
	return n, err
}

// SHA256 returns the SHA-256 of everything the Hasher has hashed so far.
func (t *Tee) SHA256() []byte { return t.h.s256.Sum(nil) }

// Reader hashes all of r and returns its digests. It reads in 1 MiB blocks.
func Reader(r io.Reader) (Set, error) {
	h := New()
	if _, err := io.CopyBuffer(h, r, make([]byte, 1<<20)); err != nil {
		return Set{}, err
	}
	return h.Sum(), nil
}

// Sum256 returns the SHA-256 of b alone: how small objects (bundles,
// descriptors, result sets) are named by digest elsewhere.
func Sum256(b []byte) Digest {
	sum := sha256.Sum256(b)
	return Digest{Algorithm: SHA256, Sum: sum[:]}
}

// Bytes returns the digests of b.
func Bytes(b []byte) Set {
	h := New()
	h.Write(b)
	return h.Sum()
}

// MismatchError says that bytes did not hash to the expected digest.
type MismatchError struct {
	Object    string
	Want, Got Digest
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s: %s digest mismatch: want %s, got %s", e.Object, e.Want.Algorithm, e.Want.Hex(), e.Got.Hex())
}
