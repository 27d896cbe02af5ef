package custody

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/openexhibit/exhibit/hashing"
)

func TestPointer(t *testing.T) {
	set := hashing.Bytes([]byte("large original bytes"))
	o := Object{Digest: set.Map(), Size: set.Size, MediaType: "image/tiff"}
	key := NewUploadKey()
	if !IsUploadKey(key) || NewUploadKey() == key {
		t.Fatalf("NewUploadKey() = %q: not an upload key, or not fresh", key)
	}
	for _, bad := range []string{"objects/upload/", UploadPrefix + strings.Repeat("A", 32), UploadPrefix + strings.Repeat("0", 31),
		UploadPrefix + strings.Repeat("0", 32) + "/x", ObjectKey(set.SHA256), "x" + key} {
		if IsUploadKey(bad) {
			t.Errorf("IsUploadKey(%q) = true", bad)
		}
	}
	data := NewPointer(o, key).Marshal()
	p, err := o.PointerAt(data)
	if err != nil || p.Key != key {
		t.Fatalf("PointerAt(its own pointer) = %+v, %v", p, err)
	}

	// An encrypted object's pointer names the ciphertext.
	ct := hashing.Bytes([]byte("ciphertext"))
	enc := o
	enc.Encryption = &Encryption{Scheme: EncryptionAge, Recipients: []string{"age1x"}, Digest: ct.Map(), Size: ct.Size}
	if p := NewPointer(enc, key); p.Size != ct.Size || p.Digest["sha256"] != ct.SHA256.Hex() {
		t.Fatalf("pointer of an encrypted object: %+v", p)
	}
	if _, err := o.PointerAt(NewPointer(enc, key).Marshal()); err == nil || errors.Is(err, ErrNotPointer) {
		t.Fatalf("a pointer to other bytes: %v, want a mismatch", err)
	}

	for name, data := range map[string][]byte{
		"content":       []byte("large original bytes"),
		"other type":    []byte(strings.Replace(string(data), PointerType, PointerType+"2", 1)),
		"unknown field": []byte(strings.Replace(string(data), `"key"`, `"extra":1,"key"`, 1)),
		"two documents": append(append([]byte{}, data...), data...),
		"huge":          append([]byte(strings.Repeat(" ", MaxPointer)), data...),
		"field case":    []byte(strings.Replace(string(data), `"key"`, `"KEY"`, 1)),
		"field twice":   []byte(strings.Replace(string(data), `"key"`, `"key":"x","key"`, 1)),
		"trailing":      append(bytes.TrimSuffix(bytes.Clone(data), []byte("\n")), []byte("}\n")...),
		"no newline":    bytes.TrimSuffix(bytes.Clone(data), []byte("\n")),
	} {
		if _, err := o.PointerAt(data); !errors.Is(err, ErrNotPointer) {
			t.Errorf("%s: %v, want ErrNotPointer", name, err)
		}
	}
	if _, err := ParsePointer([]byte(strings.Replace(string(data), key, "items/x/record.json", 1))); err == nil || errors.Is(err, ErrNotPointer) {
		t.Errorf("a pointer to a key that is not an upload key: %v", err)
	}

	// Content that looks like a pointer, stored at its own address, is
	// content.
	self := Object{Digest: hashing.Bytes(data).Map(), Size: int64(len(data))}
	if _, err := self.PointerAt(data); !errors.Is(err, ErrNotPointer) {
		t.Errorf("a pointer document stored as content: %v, want ErrNotPointer", err)
	}
}

// FuzzParsePointer: any bytes parse into a pointer to an upload key, with
// a digest set, or fail; never a panic.
func FuzzParsePointer(f *testing.F) {
	set := hashing.Bytes([]byte("x"))
	f.Add(NewPointer(Object{Digest: set.Map(), Size: 1}, NewUploadKey()).Marshal())
	f.Add([]byte(`{"_type":"` + PointerType + `","key":"objects/upload/","size":-1,"digest":{}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePointer(data)
		if err != nil {
			return
		}
		if !IsUploadKey(p.Key) || p.Size < 0 {
			t.Fatalf("accepted %+v", p)
		}
		if _, err := hashing.SetFromMap(p.Digest); err != nil {
			t.Fatalf("accepted a bad digest: %v", err)
		}
	})
}
