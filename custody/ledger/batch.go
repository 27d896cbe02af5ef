package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
)

// batchMagic is the first line of a batch object and its format version.
const batchMagic = "exhibit custody batch v1"

// Bounds on one batch. An Append of more events fails; a stored batch
// over them is refused before it is read into memory.
const (
	// MaxBatch is the most events one Append takes.
	MaxBatch = 1 << 17
	// maxBatchBytes bounds an encoded batch (about 512 bytes per event).
	maxBatchBytes = 64 << 20
	nonceSize     = 16
)

// batch is a claim on the log position Start: the entries to be appended
// there, in order. It is written once at log/batch/<Start> before any tile
// of it, and whoever finds it under an unpublished checkpoint completes it;
// the nonce tells the writer that made it from any other writer with the
// same entries.
type batch struct {
	Origin  string
	Start   int64
	Nonce   [nonceSize]byte
	Entries [][]byte
}

// marshal encodes b:
//
//	exhibit custody batch v1\n
//	<origin>\n
//	<start>\n
//	<count>\n
//	<nonce, 32 lowercase hex digits>\n
//	\n
//	<count entries, each a 16-bit big-endian length and the bytes>
func (b *batch) marshal() ([]byte, error) {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%s\n%s\n%d\n%d\n%s\n\n", batchMagic, b.Origin, b.Start, len(b.Entries), hex.EncodeToString(b.Nonce[:]))
	for _, e := range b.Entries {
		if len(e) > 1<<16-1 {
			return nil, fmt.Errorf("entry of %d bytes is over the 65535 byte limit", len(e))
		}
		buf.Write(binary.BigEndian.AppendUint16(nil, uint16(len(e))))
		buf.Write(e)
	}
	if buf.Len() > maxBatchBytes {
		return nil, fmt.Errorf("batch of %d bytes is over the %d byte limit; append fewer events at once", buf.Len(), maxBatchBytes)
	}
	return buf.Bytes(), nil
}

// parseBatch decodes a batch strictly: one encoding per batch, so that a
// batch re-encodes to the same bytes.
func parseBatch(data []byte) (*batch, error) {
	if len(data) > maxBatchBytes {
		return nil, fmt.Errorf("batch is over the %d byte limit", maxBatchBytes)
	}
	var lines [6]string
	rest := data
	for i := range lines {
		j := bytes.IndexByte(rest, '\n')
		if j < 0 {
			return nil, errors.New("truncated header")
		}
		lines[i] = string(rest[:j])
		rest = rest[j+1:]
	}
	if lines[0] != batchMagic {
		return nil, errors.New("not a custody batch (bad first line)")
	}
	b := &batch{Origin: lines[1]}
	if b.Origin == "" || !validOrigin(b.Origin) {
		return nil, errors.New("bad origin line")
	}
	start, err := parseCount(lines[2])
	if err != nil {
		return nil, fmt.Errorf("bad start: %w", err)
	}
	count, err := parseCount(lines[3])
	if err != nil || count == 0 || count > MaxBatch {
		return nil, fmt.Errorf("bad count %q: want 1 to %d", lines[3], MaxBatch)
	}
	nonce, err := hex.DecodeString(lines[4])
	if err != nil || len(nonce) != nonceSize || hex.EncodeToString(nonce) != lines[4] {
		return nil, errors.New("bad nonce")
	}
	if lines[5] != "" {
		return nil, errors.New("missing blank line after the header")
	}
	b.Start = start
	copy(b.Nonce[:], nonce)
	b.Entries = make([][]byte, 0, min(count, int64(len(rest)/2)))
	for len(rest) > 0 {
		if len(rest) < 2 {
			return nil, errors.New("truncated entry length")
		}
		n := int(binary.BigEndian.Uint16(rest))
		if len(rest) < 2+n {
			return nil, errors.New("truncated entry")
		}
		b.Entries = append(b.Entries, rest[2:2+n:2+n])
		rest = rest[2+n:]
	}
	if int64(len(b.Entries)) != count {
		return nil, fmt.Errorf("holds %d entries, header says %d", len(b.Entries), count)
	}
	return b, nil
}

// parseCount parses a canonical non-negative decimal.
func parseCount(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != s {
		return 0, fmt.Errorf("%q is not a canonical non-negative number", s)
	}
	return n, nil
}

// validOrigin is the rule of custody.ParseCheckpointText for origins, plus
// no control characters, so an origin fits on one line of any format.
func validOrigin(s string) bool {
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}
