package hashing

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
)

func TestHasherMatchesStdlib(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, parallelMin - 1, parallelMin, parallelMin + 1, 3 << 20} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		h := New()
		// Uneven writes exercise both the serial and the parallel path.
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 1+r.IntN(2*parallelMin))
			h.Write(rest[:n])
			rest = rest[n:]
		}
		got := h.Sum()
		want256, want512 := sha256.Sum256(data), sha512.Sum512(data)
		if !bytes.Equal(got.SHA256.Sum, want256[:]) || !bytes.Equal(got.SHA512.Sum, want512[:]) || got.Size != int64(size) {
			t.Fatalf("size %d: digests differ from crypto/sha256 and crypto/sha512", size)
		}
	}
}

// TestHasherReusedBuffer writes through one buffer that the caller refills
// at once, as readers do: SHA-512, which may still be running when Write
// returns, must hash what was written, not what the buffer holds later.
func TestHasherReusedBuffer(t *testing.T) {
	for _, size := range []int{parallelMin, aheadMax, aheadMax + 1} {
		data := make([]byte, 4*size)
		rand.NewChaCha8([32]byte{5}).Read(data)
		h := New()
		buf := make([]byte, size)
		for off := 0; off < len(data); off += size {
			copy(buf, data[off:])
			h.Write(buf)
		}
		clear(buf)
		got := h.Sum()
		want256, want512 := sha256.Sum256(data), sha512.Sum512(data)
		if !bytes.Equal(got.SHA256.Sum, want256[:]) || !bytes.Equal(got.SHA512.Sum, want512[:]) {
			t.Fatalf("writes of %d bytes from a reused buffer: digests differ from crypto/sha256 and crypto/sha512", size)
		}
	}
}

// TestTee checks that a Tee passes its source through unchanged and that
// its SHA-256 is the Hasher's, over exactly the bytes read.
func TestTee(t *testing.T) {
	data := make([]byte, 3<<20+5)
	rand.NewChaCha8([32]byte{3}).Read(data)
	h := New()
	var tee interface {
		io.Reader
		SHA256() []byte // what storage.SHA256Reader asks for
	} = h.Tee(iotest.HalfReader(bytes.NewReader(data)))
	got, err := io.ReadAll(tee)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("Tee changed the bytes")
	}
	want := sha256.Sum256(data)
	if sum := h.Sum(); !bytes.Equal(tee.SHA256(), want[:]) || !bytes.Equal(sum.SHA256.Sum, want[:]) || sum.Size != int64(len(data)) {
		t.Fatalf("Tee's SHA-256 %x, Hasher's %x over %d bytes; want %x over %d", tee.SHA256(), sum.SHA256.Sum, sum.Size, want, len(data))
	}
}

func TestParseDigest(t *testing.T) {
	h := strings.Repeat("ab", 32)
	tests := []struct {
		in string
		ok bool
	}{
		{"sha256:" + h, true},
		{h, true},
		{"SHA256:" + h, true},
		{"sha512:" + strings.Repeat("cd", 64), true},
		{"sha256:" + h[:62], false},
		{"sha256:" + strings.Repeat("zz", 32), false},
		{"md5:" + h, false},
		{"", false},
	}
	for _, tc := range tests {
		d, err := ParseDigest(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseDigest(%q) err = %v, want ok=%v", tc.in, err, tc.ok)
		}
		if err == nil {
			if again, err := ParseDigest(d.String()); err != nil || !again.Equal(d) {
				t.Errorf("%q does not round-trip", tc.in)
			}
		}
	}
}

func FuzzParseDigest(f *testing.F) {
	f.Add("sha256:" + strings.Repeat("0", 64))
	f.Add("sha512:" + strings.Repeat("f", 128))
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDigest(s)
		if err != nil {
			return
		}
		if len(d.Sum) != sizes[d.Algorithm] {
			t.Fatalf("%q parsed to %d bytes", s, len(d.Sum))
		}
		if again, err := ParseDigest(d.String()); err != nil || !again.Equal(d) {
			t.Fatalf("%q does not round-trip", s)
		}
	})
}

// BenchmarkHasher compares the two-digest pass with SHA-256 alone, the
// floor set by the item ID.
func BenchmarkHasher(b *testing.B) {
	buf := make([]byte, 1<<20)
	b.Run("sha256-only", func(b *testing.B) {
		b.SetBytes(int64(len(buf)))
		h := sha256.New()
		for b.Loop() {
			h.Write(buf)
		}
	})
	b.Run("sha256+sha512", func(b *testing.B) {
		b.SetBytes(int64(len(buf)))
		h := New()
		for b.Loop() {
			h.Write(buf)
		}
	})
}

func TestSum256(t *testing.T) {
	data := []byte("a bundle")
	want := sha256.Sum256(data)
	got := Sum256(data)
	if got.Algorithm != SHA256 || !bytes.Equal(got.Sum, want[:]) || got.String() != "sha256:"+hex.EncodeToString(want[:]) || !got.Equal(Bytes(data).SHA256) {
		t.Fatalf("Sum256 = %v", got)
	}
}
