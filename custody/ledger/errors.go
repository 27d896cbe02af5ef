package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/storage"
)

// The errors below carry the evidence of what was found: a verifier can
// show it to a court as it is. Test for them with errors.As. Checkpoints
// whose signature fails are *custody.CheckpointError.

// IsTampering reports whether err carries evidence that the log was
// tampered with: one of the evidence errors of this package (every type
// below and *TruncatedError), a *custody.CheckpointError, or
// storage.ErrTooLarge from reading the log, however wrapped.
// Callers report such an error as a failed verification, never as a store
// error: a missing or altered part of the log is evidence, not an outage.
func IsTampering(err error) bool {
	var ev evidence
	var ce *custody.CheckpointError
	// An object of the log larger than any writer makes was replaced.
	return errors.As(err, &ev) || errors.As(err, &ce) || errors.Is(err, storage.ErrTooLarge)
}

// evidence marks the error types that are evidence of tampering, so that
// IsTampering need not list them.
type evidence interface {
	error
	evidence()
}

func (*RollbackError) evidence()       {}
func (*ForkError) evidence()           {}
func (*EntryMismatchError) evidence()  {}
func (*ReplacedTileError) evidence()   {}
func (*TileError) evidence()           {}
func (*RootMismatchError) evidence()   {}
func (*MalformedEntryError) evidence() {}
func (*InclusionError) evidence()      {}
func (*BatchError) evidence()          {}

// RollbackError: the log's checkpoint is smaller than one already trusted
// (a previous checkpoint was restored, or the log was cut short and
// re-signed). Found is the zero Checkpoint when the checkpoint is gone.
type RollbackError struct {
	Trusted, Found custody.Checkpoint
}

func (e *RollbackError) Error() string {
	return fmt.Sprintf("custody log rolled back: trusted checkpoint has %d entries (root %s), the log's has %d (root %s); keep both checkpoints as evidence and restore the log from a copy",
		e.Trusted.Size, e.Trusted.Root, e.Found.Size, e.Found.Root)
}

// ForkError: two signed checkpoints that cannot both describe one
// append-only log: the same size with different roots, or a larger one
// whose tree does not contain the trusted one. Err, when set, is why the
// consistency proof failed.
type ForkError struct {
	Trusted, Found custody.Checkpoint
	Err            error
}

func (e *ForkError) Error() string {
	msg := fmt.Sprintf("custody log forked: trusted checkpoint has %d entries (root %s), the log's has %d (root %s) and does not extend it",
		e.Trusted.Size, e.Trusted.Root, e.Found.Size, e.Found.Root)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg + "; keep both checkpoints as evidence"
}

func (e *ForkError) Unwrap() error { return e.Err }

// EntryMismatchError: the entry stored at Index is not the one the signed
// tree commits to: it was modified, moved (reordered) or removed. Want is
// the leaf hash the tree proves for Index; Got the leaf hash of what the
// store holds there (zero when Missing: the entry, or its whole tile, is
// gone).
type EntryMismatchError struct {
	Index   int64
	Want    tlog.Hash
	Got     tlog.Hash
	Missing bool
}

func (e *EntryMismatchError) Error() string {
	if e.Missing {
		return fmt.Sprintf("custody log entry %d is missing: the signed tree has leaf hash %s there", e.Index, e.Want)
	}
	return fmt.Sprintf("custody log entry %d was altered, moved or removed: the signed tree has leaf hash %s there, the stored entry hashes to %s", e.Index, e.Want, e.Got)
}

// ReplacedTileError: a stored tile of the log differs from the one its
// entries determine (replaced or damaged after it was written). Want and
// Got are SHA-256 digests of the expected and the stored tile bytes;
// Got is zero when the tile is missing.
type ReplacedTileError struct {
	Key       string
	Want, Got [sha256.Size]byte
}

func (e *ReplacedTileError) Error() string {
	if e.Got == ([sha256.Size]byte{}) {
		return fmt.Sprintf("custody log tile %s is missing (expected content sha256:%s)", e.Key, hex.EncodeToString(e.Want[:]))
	}
	return fmt.Sprintf("custody log tile %s was replaced: expected content sha256:%s, found sha256:%s", e.Key, hex.EncodeToString(e.Want[:]), hex.EncodeToString(e.Got[:]))
}

// TileError: hash tiles that the tree of a signed checkpoint needs are
// missing, have the wrong size, or do not hash to the checkpoint's root:
// they were deleted, replaced or damaged after the checkpoint was
// published (its tiles are written before it). Keys are the tiles at
// fault: the missing or misshapen one, or all the tiles that were checked
// together against the root, of which at least one differs (with several,
// the hashes cannot say which). Want and Found say what the checkpoint
// needs and what the store holds.
type TileError struct {
	Checkpoint  custody.Checkpoint
	Keys        []string
	Want, Found string
}

func (e *TileError) Error() string {
	return fmt.Sprintf("custody log hash tiles %s do not fit the signed checkpoint of %d entries (root %s): want %s, found %s; keep the archive as evidence and restore the log from a copy",
		strings.Join(e.Keys, ", "), e.Checkpoint.Size, e.Checkpoint.Root, e.Want, e.Found)
}

// RootMismatchError: the entries hash to another root than the signed
// checkpoint's, and the stored hash tiles agree with the entries, not with
// the signature (entries and tiles were rewritten together), so no single
// entry can be singled out.
type RootMismatchError struct {
	Checkpoint custody.Checkpoint
	Computed   tlog.Hash
}

func (e *RootMismatchError) Error() string {
	return fmt.Sprintf("custody log entries hash to root %s, but the signed checkpoint of %d entries says %s: entries and tiles were rewritten",
		e.Computed, e.Checkpoint.Size, e.Checkpoint.Root)
}

// MalformedEntryError: the entry at Index is in the signed tree but is not
// a canonical custody event, which the log never writes.
type MalformedEntryError struct {
	Index int64
	Err   error
}

func (e *MalformedEntryError) Error() string {
	return fmt.Sprintf("custody log entry %d is not a canonical event: %v", e.Index, e.Err)
}

func (e *MalformedEntryError) Unwrap() error { return e.Err }

// BatchError: a batch under log/batch/ that no writer with the log key
// made: malformed, unsigned, of another log, or stored at another position
// than it claims (planted or replayed). At the next position it stops
// appending (fail closed) until someone examines it and moves it away.
type BatchError struct {
	Key string
	Err error
}

func (e *BatchError) Error() string {
	return fmt.Sprintf("custody log batch %s was not written by a holder of the log key: %v; keep it as evidence and move it out of log/batch/, appending is stopped until then", e.Key, e.Err)
}

func (e *BatchError) Unwrap() error { return e.Err }

// InclusionError: an inclusion proof does not show the entry at Index in
// the checkpoint's tree.
type InclusionError struct {
	Index      int64
	Checkpoint custody.Checkpoint
	Err        error
}

func (e *InclusionError) Error() string {
	return fmt.Sprintf("custody log entry %d is not proven in the checkpoint of %d entries (root %s): %v", e.Index, e.Checkpoint.Size, e.Checkpoint.Root, e.Err)
}

func (e *InclusionError) Unwrap() error { return e.Err }
