package custody

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/openexhibit/exhibit/hashing"
)

// Where stored bytes lie. Most objects lie at their content address
// (ObjectKey of the SHA-256 of the stored bytes). Large ones written to a
// store that would copy them to get there (S3) lie where they were
// uploaded, at an upload key chosen before they were read
// (objects/upload/<32 hex>), and their content address holds a Pointer to
// it. Either way the signed record names the key (Object.Key), so what it
// names is where the bytes are; the pointer keeps the content address a
// way to find them by digest, and is checked against the record.
const (
	// UploadPrefix begins every upload key.
	UploadPrefix = "objects/upload/"
	// PointerType is the type of a pointer document.
	PointerType = "https://github.com/openexhibit/exhibit/object-pointer/v1"
	// MaxPointer bounds a pointer document: readers read at most this
	// much at a content address to tell a pointer from content.
	MaxPointer = 4 << 10
)

// NewUploadKey returns a fresh upload key: 128 random bits.
func NewUploadKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return UploadPrefix + hex.EncodeToString(b[:])
}

// IsUploadKey reports whether key has the form of an upload key.
func IsUploadKey(key string) bool {
	id, ok := strings.CutPrefix(key, UploadPrefix)
	if !ok || len(id) != 32 {
		return false
	}
	for _, c := range []byte(id) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Pointer is the document at the content address of bytes that lie at an
// upload key.
type Pointer struct {
	Type string `json:"_type"`
	// Key is the upload key the bytes lie at.
	Key string `json:"key"`
	// Size and Digest (sha256, and sha512 when the record has it, hex)
	// are those of the stored bytes: the ciphertext, when encrypted.
	Size   int64             `json:"size"`
	Digest map[string]string `json:"digest"`
}

// NewPointer returns the pointer to o's stored bytes at key.
func NewPointer(o Object, key string) Pointer {
	size, digest := o.Size, o.Digest
	if o.Encryption != nil {
		size, digest = o.Encryption.Size, o.Encryption.Digest
	}
	return Pointer{Type: PointerType, Key: key, Size: size, Digest: digest}
}

// Marshal encodes the pointer, one line.
func (p Pointer) Marshal() []byte {
	data, _ := json.Marshal(p) // a struct of strings and a map: cannot fail
	return append(data, '\n')
}

// ErrNotPointer: the bytes are not a pointer document.
var ErrNotPointer = errors.New("not an object pointer")

// ParsePointer decodes a pointer document strictly. Content that is not one
// (any object stored at its own content address) gives ErrNotPointer.
func ParsePointer(data []byte) (Pointer, error) {
	var p Pointer
	if len(data) > MaxPointer {
		return p, ErrNotPointer
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil || p.Type != PointerType || dec.More() {
		return Pointer{}, ErrNotPointer
	}
	if !bytes.Equal(data, p.Marshal()) {
		// Only the form Marshal writes: no other spelling, order or
		// duplicate of a field, nothing after it.
		return Pointer{}, ErrNotPointer
	}
	if !IsUploadKey(p.Key) {
		return Pointer{}, fmt.Errorf("custody: pointer names %q, which is not an upload key", p.Key)
	}
	if _, err := hashing.SetFromMap(p.Digest); err != nil || p.Size < 0 {
		return Pointer{}, fmt.Errorf("custody: pointer to %s: bad digest or size", p.Key)
	}
	return p, nil
}

// PointerAt reads data found at o's content address as o's pointer. It
// returns ErrNotPointer when data is the content itself (bytes whose
// SHA-256 is their address), and an error when it is a pointer to bytes
// of another size or digest. The caller compares the key it names.
func (o *Object) PointerAt(data []byte) (Pointer, error) {
	p, err := ParsePointer(data)
	if err != nil {
		return p, err
	}
	addr, err := o.StoredKey()
	if err != nil {
		return Pointer{}, err
	}
	if hashing.Bytes(data).SHA256.Hex() == addr[strings.LastIndexByte(addr, '/')+1:] {
		// Content that merely looks like a pointer, at its own address.
		return Pointer{}, ErrNotPointer
	}
	want := NewPointer(*o, p.Key)
	if p.Size != want.Size || !sameDigests(p.Digest, want.Digest) {
		return Pointer{}, fmt.Errorf("custody: the pointer at %s names other bytes (%d bytes, sha256 %s) than the record (%d bytes, sha256 %s)",
			addr, p.Size, p.Digest["sha256"], want.Size, want.Digest["sha256"])
	}
	return p, nil
}
