package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/note"

	"github.com/openexhibit/exhibit/custody"
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
//
// A batch is signed by a log key, like a checkpoint: writers complete only
// batches a log key holder wrote, so write access to the archive alone
// cannot put events into the signed log.
type batch struct {
	Origin  string
	Start   int64
	Nonce   [nonceSize]byte
	Entries [][]byte
	// Sig is the note signature encoding: a 4-byte big-endian key hash and
	// the signature, over signedMessage.
	Sig []byte
}

// maxSig bounds a batch signature (Ed25519: 4 + 64 bytes).
const maxSig = 4 + 512

// signedMessage is what a batch's signature covers. Its six lines cannot be
// mistaken for a checkpoint body (three lines), so a batch signature is
// never a checkpoint signature.
func (b *batch) signedMessage() ([]byte, error) {
	h := sha256.New()
	var enc []byte
	for i := range b.Entries {
		// One entry at a time: the entries section is hashed as
		// marshal writes it, without a second copy of the batch.
		var err error
		if enc, err = custody.AppendEntries(enc[:0], b.Entries[i:i+1]); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		h.Write(enc)
	}
	return fmt.Appendf(nil, "%s signature\n%s\n%d\n%d\n%s\n%x\n", batchMagic, b.Origin, b.Start, len(b.Entries), hex.EncodeToString(b.Nonce[:]), h.Sum(nil)), nil
}

// sign signs b with the log key.
func (b *batch) sign(s note.Signer) error {
	msg, err := b.signedMessage()
	if err != nil {
		return fmt.Errorf("sign batch: %w", err)
	}
	sig, err := s.Sign(msg)
	if err != nil {
		return fmt.Errorf("sign batch: %w", err)
	}
	b.Sig = binary.BigEndian.AppendUint32(nil, s.KeyHash())
	b.Sig = append(b.Sig, sig...)
	return nil
}

// verify checks that a trusted key named after the log signed b.
func (b *batch) verify(vs note.Verifiers) error {
	if len(b.Sig) < 4 {
		return errors.New("no signature")
	}
	v, err := vs.Verifier(b.Origin, binary.BigEndian.Uint32(b.Sig))
	if err != nil {
		return fmt.Errorf("signed by an unknown key: %w", err)
	}
	msg, err := b.signedMessage()
	if err != nil {
		return err
	}
	if !v.Verify(msg, b.Sig[4:]) {
		return errors.New("invalid signature")
	}
	return nil
}

// marshal encodes b:
//
//	exhibit custody batch v1\n
//	<origin>\n
//	<start>\n
//	<count>\n
//	<nonce, 32 lowercase hex digits>\n
//	<signature, standard base64>\n
//	\n
//	<count entries, each a 16-bit big-endian length and the bytes>
func (b *batch) marshal() ([]byte, error) {
	out := fmt.Appendf(nil, "%s\n%s\n%d\n%d\n%s\n%s\n\n", batchMagic, b.Origin, b.Start, len(b.Entries), hex.EncodeToString(b.Nonce[:]), base64.StdEncoding.EncodeToString(b.Sig))
	out, err := custody.AppendEntries(out, b.Entries)
	if err != nil {
		return nil, err
	}
	if len(out) > maxBatchBytes {
		return nil, fmt.Errorf("batch of %d bytes is over the %d byte limit; append fewer events at once", len(out), maxBatchBytes)
	}
	return out, nil
}

// parseBatch decodes a batch strictly: one encoding per batch, so that a
// batch re-encodes to the same bytes.
func parseBatch(data []byte) (*batch, error) {
	if len(data) > maxBatchBytes {
		return nil, fmt.Errorf("batch is over the %d byte limit", maxBatchBytes)
	}
	var lines [7]string
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
	if !custody.ValidOrigin(b.Origin) {
		return nil, errors.New("bad origin line")
	}
	start, err := custody.ParseDecimal(lines[2])
	if err != nil {
		return nil, fmt.Errorf("bad start: %w", err)
	}
	count, err := custody.ParseDecimal(lines[3])
	if err != nil || count == 0 || count > MaxBatch {
		return nil, fmt.Errorf("bad count %q: want 1 to %d", lines[3], MaxBatch)
	}
	nonce, err := hex.DecodeString(lines[4])
	if err != nil || len(nonce) != nonceSize || hex.EncodeToString(nonce) != lines[4] {
		return nil, errors.New("bad nonce")
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(lines[5])
	if err != nil || len(sig) < 5 || len(sig) > maxSig || base64.StdEncoding.EncodeToString(sig) != lines[5] {
		return nil, errors.New("bad signature line")
	}
	b.Sig = sig
	if lines[6] != "" {
		return nil, errors.New("missing blank line after the header")
	}
	b.Start = start
	copy(b.Nonce[:], nonce)
	entries, clean := custody.SplitEntries(rest, int(count))
	switch {
	case !clean && len(entries) == int(count):
		return nil, fmt.Errorf("holds more than the %d entries the header says", count)
	case !clean:
		return nil, errors.New("truncated entry")
	case len(entries) != int(count):
		return nil, fmt.Errorf("holds %d entries, header says %d", len(entries), count)
	}
	b.Entries = entries
	return b, nil
}
