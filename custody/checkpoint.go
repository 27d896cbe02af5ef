package custody

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is a signed statement of the custody log's size and root
// hash, in the C2SP signed-note checkpoint format:
//
//	<origin>\n<size>\n<base64 root hash>\n
//
// followed by a blank line and signature lines. Origin names the log (one
// per archive), so a checkpoint of one archive can never pass for another's.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
}

// Text is the checkpoint body that is signed.
func (c Checkpoint) Text() string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
}

// ValidOrigin reports whether s can name a log: not empty, and without
// spaces or control characters (ASCII), so that an origin fits on one line
// of every format that carries it (checkpoints, batches, key names).
func ValidOrigin(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// ParseDecimal parses a canonical non-negative decimal: digits only,
// without sign or leading zeros, so that each number has one encoding.
func ParseDecimal(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != s {
		return 0, fmt.Errorf("%q is not a canonical non-negative decimal", s)
	}
	return n, nil
}

// ParseCheckpointText parses a checkpoint body strictly: exactly three
// lines, an origin that ValidOrigin accepts, a canonical decimal size
// (ParseDecimal), a 32-byte root.
func ParseCheckpointText(text string) (Checkpoint, error) {
	lines := strings.SplitAfter(text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		return Checkpoint{}, errors.New("custody: checkpoint: want exactly three lines")
	}
	origin := strings.TrimSuffix(lines[0], "\n")
	if !ValidOrigin(origin) {
		return Checkpoint{}, errors.New("custody: checkpoint: bad origin line")
	}
	size, err := ParseDecimal(strings.TrimSuffix(lines[1], "\n"))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("custody: checkpoint: bad size: %w", err)
	}
	root, err := base64.StdEncoding.Strict().DecodeString(strings.TrimSuffix(lines[2], "\n"))
	if err != nil || len(root) != tlog.HashSize {
		return Checkpoint{}, errors.New("custody: checkpoint: bad root hash")
	}
	c := Checkpoint{Origin: origin, Size: size}
	copy(c.Root[:], root)
	return c, nil
}

// SignCheckpoint signs c with the log key.
func SignCheckpoint(c Checkpoint, s note.Signer) ([]byte, error) {
	msg, err := note.Sign(&note.Note{Text: c.Text()}, s)
	if err != nil {
		return nil, fmt.Errorf("custody: sign checkpoint: %w", err)
	}
	return msg, nil
}

// CheckpointError says why a signed checkpoint was rejected.
type CheckpointError struct {
	Reason string
	Err    error
}

func (e *CheckpointError) Error() string {
	if e.Err != nil {
		return "checkpoint rejected: " + e.Reason + ": " + e.Err.Error()
	}
	return "checkpoint rejected: " + e.Reason
}
func (e *CheckpointError) Unwrap() error { return e.Err }

// OpenCheckpoint verifies a signed checkpoint with the trusted log keys and
// checks that it belongs to the log named origin.
func OpenCheckpoint(msg []byte, keys note.Verifiers, origin string) (Checkpoint, error) {
	n, err := note.Open(msg, keys)
	if err != nil {
		var unknown *note.UnknownVerifierError
		var invalid *note.InvalidSignatureError
		var unverified *note.UnverifiedNoteError
		switch {
		case errors.As(err, &unverified):
			return Checkpoint{}, &CheckpointError{Reason: "signed by an unknown key (no signature by a trusted log key)", Err: err}
		case errors.As(err, &unknown):
			return Checkpoint{}, &CheckpointError{Reason: "signed by an unknown key (" + unknown.Name + ")", Err: err}
		case errors.As(err, &invalid):
			return Checkpoint{}, &CheckpointError{Reason: "invalid signature", Err: err}
		}
		return Checkpoint{}, &CheckpointError{Reason: "not verified", Err: err}
	}
	c, err := ParseCheckpointText(n.Text)
	if err != nil {
		return Checkpoint{}, &CheckpointError{Reason: "malformed body", Err: err}
	}
	if c.Origin != origin {
		return Checkpoint{}, &CheckpointError{Reason: fmt.Sprintf("origin %q, want %q", c.Origin, origin)}
	}
	return c, nil
}

// NewLogKey makes a log signing key named name (the log's origin): the
// private key in note format ("PRIVATE+KEY+…") and the verifier key.
func NewLogKey(rand interface{ Read([]byte) (int, error) }, name string) (skey, vkey string, err error) {
	return note.GenerateKey(rand, name)
}
