package social

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// stream is a JSON decoder whose memory is bounded whatever the input:
// values are walked token by token, and one value read whole may not
// exceed maxValue bytes.
type stream struct {
	*json.Decoder
	c *counter
}

// counter counts what the decoder read and fails a read that would make
// it hold more than maxValue bytes it has not yet consumed: the decoder
// consumes a value (or a token) only once it has all of it.
type counter struct {
	r    io.Reader
	d    *json.Decoder
	read int64
}

func (c *counter) Read(p []byte) (int, error) {
	room := maxValue - (c.read - c.d.InputOffset())
	if room <= 0 {
		return 0, fmt.Errorf("a single entry of more than %d bytes", maxValue)
	}
	if int64(len(p)) > room {
		p = p[:room]
	}
	n, err := c.r.Read(p)
	c.read += int64(n)
	return n, err
}

func newStream(r io.Reader) *stream {
	c := &counter{r: r}
	c.d = json.NewDecoder(c)
	c.d.UseNumber()
	return &stream{Decoder: c.d, c: c}
}

// value decodes the next value whole into v.
func (s *stream) value(v any) error { return s.Decode(v) }

// delim reads the next token and requires it to be d.
func (s *stream) delim(d json.Delim) error {
	t, err := s.Token()
	if err != nil {
		return err
	}
	if t != d {
		return fmt.Errorf("expected %v, found %v", d, t)
	}
	return nil
}

// skip passes over the next value, token by token (nothing is kept).
func (s *stream) skip() error {
	depth := 0
	for {
		t, err := s.Token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
		if depth > 10000 {
			return errors.New("nested too deeply")
		}
	}
}

// object walks the next value, an object, calling field for each key;
// field must consume the key's value.
func (s *stream) object(field func(key string) error) error {
	if err := s.delim('{'); err != nil {
		return err
	}
	for s.More() {
		t, err := s.Token()
		if err != nil {
			return err
		}
		key, ok := t.(string)
		if !ok {
			return fmt.Errorf("expected a key, found %v", t)
		}
		if err := field(key); err != nil {
			return err
		}
	}
	return s.delim('}')
}

// array walks the next value, an array, calling elem for each element;
// elem must consume it.
func (s *stream) array(elem func() error) error {
	if err := s.delim('['); err != nil {
		return err
	}
	for s.More() {
		if err := elem(); err != nil {
			return err
		}
	}
	return s.delim(']')
}

// str is a string or number value as a string.
func str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}
