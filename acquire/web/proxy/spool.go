package proxy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync"
)

// memLimit is how much of a message a Spool keeps in memory before it
// moves to a temporary file, so that memory stays flat whatever the size.
const memLimit = 1 << 20

// Spool holds a message's bytes as they crossed the wire: in memory while
// small, in a temporary file beyond memLimit. It is written once, then read
// any number of times (io.ReaderAt).
type Spool struct {
	mu   sync.Mutex
	dir  string
	mem  bytes.Buffer
	f    *os.File
	size int64
	max  int64
	// pending are bytes written past the file's end, not yet in it: a
	// TLS record at a time would otherwise cost a system call each.
	pending []byte
	// err is the first failed file write: every later call returns it,
	// rather than read a hole where the bytes should be.
	err error
}

// NewSpool makes a spool whose file, if it needs one, goes in dir; max
// bounds its size (0: none).
func NewSpool(dir string, max int64) *Spool { return &Spool{dir: dir, max: max} }

// ErrTooLarge is a message over the spool's bound.
var ErrTooLarge = errors.New("message larger than the capture allows")

// Write appends p.
func (s *Spool) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return 0, s.err
	}
	if s.max > 0 && s.size+int64(len(p)) > s.max {
		return 0, ErrTooLarge
	}
	if s.f == nil && s.mem.Len()+len(p) > memLimit {
		f, err := os.CreateTemp(s.dir, "exhibit-spool-*")
		if err != nil {
			return 0, err
		}
		if _, err := f.Write(s.mem.Bytes()); err != nil {
			f.Close()
			os.Remove(f.Name())
			return 0, err
		}
		s.f = f
		s.mem = bytes.Buffer{}
	}
	if s.f != nil {
		s.pending = append(s.pending, p...)
		s.size += int64(len(p))
		if len(s.pending) >= memLimit {
			if err := s.flush(); err != nil {
				return 0, err
			}
		}
		return len(p), nil
	}
	n, err := s.mem.Write(p)
	s.size += int64(n)
	return n, err
}

// flush writes the pending bytes to the file.
func (s *Spool) flush() error {
	if len(s.pending) == 0 {
		return nil
	}
	if s.err != nil {
		return s.err
	}
	_, s.err = s.f.WriteAt(s.pending, s.size-int64(len(s.pending)))
	s.pending = s.pending[:0]
	return s.err
}

// Size is the number of bytes written.
func (s *Spool) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// ReadAt reads the spool's bytes.
func (s *Spool) ReadAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if off >= s.size {
		return 0, io.EOF
	}
	if int64(len(p)) > s.size-off {
		p = p[:s.size-off]
		n, err := s.readAt(p, off)
		if err == nil {
			err = io.EOF
		}
		return n, err
	}
	return s.readAt(p, off)
}

func (s *Spool) readAt(p []byte, off int64) (int, error) {
	if s.f != nil {
		if err := s.flush(); err != nil {
			return 0, err
		}
		return s.f.ReadAt(p, off)
	}
	return copy(p, s.mem.Bytes()[off:]), nil
}

// Truncate drops everything past n and returns it (the start of the next
// message on the same connection).
func (s *Spool) Truncate(n int64) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n > s.size {
		return nil, errors.New("truncate past the end")
	}
	rest := make([]byte, s.size-n)
	if _, err := s.readAt(rest, n); err != nil && err != io.EOF {
		return nil, err
	}
	if s.f != nil {
		if err := s.flush(); err != nil {
			return nil, err
		}
		if err := s.f.Truncate(n); err != nil {
			return nil, err
		}
	} else {
		s.mem.Truncate(int(n))
	}
	s.size = n
	return rest, nil
}

// Close removes the spool's file.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	name := s.f.Name()
	err := s.f.Close()
	os.Remove(name)
	// Closed: empty, so that a late ReadAt reads nothing rather than what
	// the file held.
	s.f, s.size, s.pending, s.mem = nil, 0, nil, bytes.Buffer{}
	return err
}
