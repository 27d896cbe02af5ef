package ledger

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/openexhibit/exhibit/custody"
)

func testBatch() *batch {
	b := &batch{Origin: testOrigin, Start: 300, Nonce: [nonceSize]byte{1, 2, 3}, Entries: [][]byte{[]byte(`{"a":1}`), {}, []byte("x")}}
	if err := b.sign(testKey.signer); err != nil {
		panic(err)
	}
	return b
}

func TestBatchRoundTrip(t *testing.T) {
	data, err := testBatch().marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := "exhibit custody batch v1\n" + testOrigin + "\n300\n3\n01020300000000000000000000000000\n"
	if !strings.HasPrefix(string(data), want) {
		t.Fatalf("header = %q, want %q", data, want)
	}
	b, err := parseBatch(data)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := b.marshal()
	if !bytes.Equal(again, data) {
		t.Fatalf("re-encoded as %q", again)
	}
}

func TestBatchRejects(t *testing.T) {
	good, _ := testBatch().marshal()
	header := func(s string) []byte { return []byte(strings.Replace(string(good), "300\n3\n", s, 1)) }
	cases := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"other magic", bytes.Replace(good, []byte("v1"), []byte("v2"), 1)},
		{"origin with space", bytes.Replace(good, []byte(testOrigin), []byte("a b"), 1)},
		{"leading zero start", header("0300\n3\n")},
		{"negative start", header("-300\n3\n")},
		{"zero count", header("300\n0\n")},
		{"count too high", header("300\n4\n")},
		{"count too low", header("300\n2\n")},
		{"count over the limit", header("300\n999999999\n")},
		{"upper-case nonce", bytes.Replace(good, []byte("0102030000"), []byte("0102030A00"), 1)},
		{"no blank line", bytes.Replace(good, []byte("=\n\n"), []byte("=\nx\n"), 1)},
		{"no signature", bytes.Replace(good, []byte("0000\n"+base64.StdEncoding.EncodeToString(testBatch().Sig)), []byte("0000\n"), 1)},
		{"truncated entry", good[:len(good)-1]},
		{"trailing byte", append(append([]byte(nil), good...), 0)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseBatch(tc.data); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// FuzzParseBatch: any bytes either fail or parse into a batch that
// re-encodes to exactly those bytes (one encoding per batch), with no
// panic and no allocation beyond the input's size.
func FuzzParseBatch(f *testing.F) {
	good, _ := testBatch().marshal()
	f.Add(good)
	f.Add([]byte(batchMagic + "\no\n0\n1\n00000000000000000000000000000000\nAAAAAAA=\n\n\x00\x00"))
	f.Add([]byte(batchMagic + "\no\n0\n131072\n00000000000000000000000000000000\nAAAAAAA=\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := parseBatch(data)
		if err != nil {
			return
		}
		if b.verify(testKey.verifiers) == nil && !bytes.Equal(data, good) {
			t.Fatalf("%q verifies: a forged signature", data)
		}
		again, err := b.marshal()
		if err != nil {
			t.Fatalf("parsed batch does not encode: %v", err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("%q parses but re-encodes as %q", data, again)
		}
	})
}

func TestBatchSignature(t *testing.T) {
	b := testBatch()
	if err := b.verify(testKey.verifiers); err != nil {
		t.Fatal(err)
	}
	otherSkey, _, _ := custody.NewLogKey(rand.Reader, testOrigin)
	other, _ := note.NewSigner(otherSkey)
	cases := []struct {
		name string
		edit func(b *batch)
	}{
		{"entry changed", func(b *batch) { b.Entries[0] = []byte(`{"a":2}`) }},
		{"entry added", func(b *batch) { b.Entries = append(b.Entries, []byte("y")) }},
		{"moved", func(b *batch) { b.Start++ }},
		{"other nonce", func(b *batch) { b.Nonce[0] ^= 1 }},
		{"unknown key", func(b *batch) { _ = b.sign(other) }},
		{"no signature", func(b *batch) { b.Sig = nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := testBatch()
			tc.edit(b)
			if err := b.verify(testKey.verifiers); err == nil {
				t.Fatal("verified")
			}
		})
	}
}
