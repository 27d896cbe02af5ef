package stac

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// mh builds a hex multihash of code over digest.
func mh(code byte, digest []byte) string {
	return hex.EncodeToString(append([]byte{code, byte(len(digest))}, digest...))
}

func TestVerify(t *testing.T) {
	data := "the provider's bytes"
	s256, s512, s1, m5 := sha256.Sum256([]byte(data)), sha512.Sum512([]byte(data)), sha1.Sum([]byte(data)), md5.Sum([]byte(data))
	n := int64(len(data))
	// md5's code, 0xd5, takes two varint bytes.
	md5mh := hex.EncodeToString(append([]byte{0xd5, 0x01, 16}, m5[:]...))
	for _, tc := range []struct {
		name, stated string
		size         int64
		status       string
	}{
		{"sha2-256", mh(0x12, s256[:]), n, Match},
		{"sha2-512", mh(0x13, s512[:]), -1, Match},
		{"sha1", mh(0x11, s1[:]), n, Match},
		{"md5", md5mh, n, Match},
		{"truncated sha2-256", mh(0x12, s256[:20]), n, Match},
		{"truncated too short", mh(0x12, s256[:8]), n, Unsupported},
		{"wrong digest", mh(0x12, make([]byte, 32)), n, Mismatch},
		{"right digest, wrong size", mh(0x12, s256[:]), n + 1, Mismatch},
		{"no checksum, wrong size", "", n - 1, Mismatch},
		{"no checksum", "", -1, Absent},
		{"no checksum, right size", "", n, Absent},
		{"unknown function (blake3)", hex.EncodeToString(append([]byte{0x1e, 32}, s256[:]...)), n, Unsupported},
		// Malformed, as the file extension's own example is: the length
		// does not match what follows.
		{"length does not match", "1220" + hex.EncodeToString(s256[:31]), n, Unsupported},
		{"digest longer than the function's", mh(0x11, append(s1[:], 0)), n, Unsupported},
		{"empty digest", "1200", n, Unsupported},
		{"not hex", "12zz", n, Unsupported},
		{"empty after code", "12", n, Unsupported},
	} {
		c, err := Verify(tc.stated, tc.size, strings.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if c.Status != tc.status || c.Size != n {
			t.Errorf("%s: %+v, want %s", tc.name, c, tc.status)
		}
		if c.Status != Match && c.Status != Absent && c.Problem == "" {
			t.Errorf("%s: %s without a problem", tc.name, c.Status)
		}
	}
	if _, err := ParseMultihash(hex.EncodeToString([]byte{0x1e, 1, 0})); !errors.Is(err, ErrUnsupportedHash) {
		t.Errorf("blake3: %v", err)
	}
}

func FuzzParseMultihash(f *testing.F) {
	f.Add("1220" + strings.Repeat("ab", 32))
	f.Add("d50110" + strings.Repeat("00", 16))
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMultihash(s)
		if err == nil && (m.Name == "" || len(m.Digest) == 0 || len(m.Digest) > m.New().Size()) {
			t.Fatalf("%q: %+v", s, m)
		}
		c, err := Verify(s, -1, strings.NewReader("x"))
		if err != nil || (s == "") != (c.Status == Absent) {
			t.Fatalf("%q: %+v %v", s, c, err)
		}
	})
}
