package stac

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
)

// A provider's statement about an asset's bytes (the STAC file extension's
// file:checksum, a multihash in hex, and file:size) set against what was
// received. Status is one of these; only Match says the bytes are what the
// provider states.
const (
	// Match: the digest the provider states is the digest of the bytes
	// received (and the size, when stated, is theirs).
	Match = "match"
	// Mismatch: the bytes received are not what the provider states. They
	// are archived all the same, as evidence of what was served.
	Mismatch = "MISMATCH"
	// Absent: the provider states no checksum.
	Absent = "absent"
	// Unsupported: the provider states a checksum Exhibit cannot check (an
	// unknown hash function, or a multihash that is malformed). Never
	// reported as verified.
	Unsupported = "unsupported"
)

// Multihash is a parsed multihash: the hash function's code and name, and
// the digest (possibly truncated: shorter than the function's output).
type Multihash struct {
	Code   uint64
	Name   string
	Digest []byte
}

// hashes are the functions a multihash may name that Exhibit checks.
var hashes = map[uint64]struct {
	name string
	new  func() hash.Hash
}{
	0x11: {"sha1", sha1.New},
	0x12: {"sha2-256", sha256.New},
	0x13: {"sha2-512", sha512.New},
	0xd5: {"md5", md5.New},
}

// minDigest is the shortest (truncated) digest that can prove bytes: 16
// bytes, md5's whole length. Shorter ones match by chance too often.
const minDigest = 16

// ErrUnsupportedHash: a well-formed multihash of a function Exhibit does
// not check.
var ErrUnsupportedHash = errors.New("hash function not supported")

// ParseMultihash reads a hex multihash: the function's code and the
// digest's length as unsigned varints, then the digest, exactly that long.
// A digest longer than its function's output, a length that does not match
// what follows, or an unknown function is an error.
func ParseMultihash(s string) (*Multihash, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("not hex: %w", err)
	}
	code, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, errors.New("no function code")
	}
	b = b[n:]
	length, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, errors.New("no digest length")
	}
	b = b[n:]
	if uint64(len(b)) != length {
		return nil, fmt.Errorf("states a %d-byte digest, holds %d bytes", length, len(b))
	}
	h, ok := hashes[code]
	if !ok {
		return &Multihash{Code: code, Digest: b}, fmt.Errorf("%w: code 0x%x", ErrUnsupportedHash, code)
	}
	if length == 0 || int(length) > h.new().Size() {
		return nil, fmt.Errorf("a %d-byte %s digest (the function gives %d)", length, h.name, h.new().Size())
	}
	if length < minDigest {
		return nil, fmt.Errorf("a %d-byte %s digest: too short to prove the bytes (at least %d)", length, h.name, minDigest)
	}
	return &Multihash{Code: code, Name: h.name, Digest: b}, nil
}

// New returns a hash of the multihash's function.
func (m *Multihash) New() hash.Hash { return hashes[m.Code].new() }

// Matches says whether sum, the full output of the multihash's function,
// begins with the stated (possibly truncated) digest.
func (m *Multihash) Matches(sum []byte) bool {
	return len(sum) >= len(m.Digest) && string(sum[:len(m.Digest)]) == string(m.Digest)
}

// Checksum is the outcome of setting a provider's statement about an
// asset against the bytes received.
type Checksum struct {
	// Stated is file:checksum as the provider gives it ("" when absent),
	// Function its hash function, Computed the digest of the bytes
	// received by that function (hex, as long as Stated's digest).
	Stated   string `json:"stated,omitempty"`
	Function string `json:"function,omitempty"`
	Computed string `json:"computed,omitempty"`
	// StatedSize is file:size (-1 when absent); Size the bytes received.
	StatedSize int64 `json:"statedSize"`
	Size       int64 `json:"size"`
	// Status is Match, Mismatch, Absent or Unsupported; Problem says why
	// for the last two, or what did not match.
	Status  string `json:"status"`
	Problem string `json:"problem,omitempty"`
}

// Checker sets the bytes written to it against a provider's statement:
// stated, a file:checksum ("" when there is none), and statedSize, a
// file:size (-1 when there is none).
type Checker struct {
	c  Checksum
	mh *Multihash
	h  hash.Hash
}

// NewChecker starts a check.
func NewChecker(stated string, statedSize int64) *Checker {
	k := &Checker{c: Checksum{Stated: stated, StatedSize: statedSize}}
	if stated != "" {
		mh, err := ParseMultihash(stated)
		if err != nil {
			k.c.Status, k.c.Problem = Unsupported, "file:checksum: "+err.Error()
			if mh != nil {
				k.c.Function = fmt.Sprintf("0x%x", mh.Code)
			}
		} else {
			k.mh, k.h, k.c.Function = mh, mh.New(), mh.Name
		}
	}
	return k
}

// Write hashes and counts p.
func (k *Checker) Write(p []byte) (int, error) {
	if k.h != nil {
		k.h.Write(p)
	}
	k.c.Size += int64(len(p))
	return len(p), nil
}

// Result is the outcome for the bytes written. A size that differs is a
// Mismatch whatever the checksum; an unsupported or malformed checksum is
// Unsupported, never a Match.
func (k *Checker) Result() Checksum {
	c := k.c
	var sum []byte
	if k.h != nil {
		sum = k.h.Sum(nil)
		c.Computed = hex.EncodeToString(sum[:len(k.mh.Digest)])
	}
	switch {
	case c.StatedSize >= 0 && c.StatedSize != c.Size:
		c.Status = Mismatch
		c.Problem = fmt.Sprintf("file:size states %d bytes, %d were received", c.StatedSize, c.Size)
	case k.mh != nil && k.mh.Matches(sum):
		c.Status = Match
	case k.mh != nil:
		c.Status = Mismatch
		c.Problem = fmt.Sprintf("the %s of the bytes received is not the one file:checksum states", k.mh.Name)
	case c.Status == "":
		c.Status = Absent
	}
	return c
}

// Verify reads r to its end and sets what it held against the provider's
// statement (NewChecker). The error is r's only.
func Verify(stated string, statedSize int64, r io.Reader) (Checksum, error) {
	k := NewChecker(stated, statedSize)
	if _, err := io.Copy(k, r); err != nil {
		return k.c, err
	}
	return k.Result(), nil
}
