package proxy

import (
	"bytes"
	"io"
	"testing"
)

// TestSpool: past the in-memory limit a spool moves to a file and reads
// back what was written; once closed it is empty, and reading it neither
// panics nor returns what the file held.
func TestSpool(t *testing.T) {
	s := NewSpool(t.TempDir(), 0)
	data := bytes.Repeat([]byte("0123456789"), memLimit/5) // 2 MiB
	for i := 0; i < len(data); i += 16 << 10 {
		if _, err := s.Write(data[i:min(i+16<<10, len(data))]); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]byte, s.Size())
	if _, err := s.ReadAt(got, 0); (err != nil && err != io.EOF) || !bytes.Equal(got, data) || s.f == nil {
		t.Fatalf("read back %d bytes, equal %v, file %v, %v", len(got), bytes.Equal(got, data), s.f != nil, err)
	}
	rest, err := s.Truncate(10)
	if err != nil || len(rest) != len(data)-10 || s.Size() != 10 {
		t.Fatalf("truncate: %d left, size %d, %v", len(rest), s.Size(), err)
	}
	s.Close()
	if n, err := s.ReadAt(make([]byte, 4), 0); n != 0 || err != io.EOF {
		t.Fatalf("after Close: %d bytes, %v", n, err)
	}
}
