// Package ledger keeps the custody log in an archive: an append-only RFC
// 6962 Merkle log of custody events, stored as tiles under log/ in any
// storage.Store that also implements storage.Swapper (a local folder or an
// S3 bucket), with C2SP signed-note checkpoints signed by the archive's log
// key. The layout and the protocol are specified in docs/formats.md, the
// promises in docs/guarantees.md.
//
// Writers append batches: one checkpoint per Append, whatever its size.
// Any number of writers, in any number of processes or machines sharing
// the store, keep one history: a writer claims the next position by
// writing a batch object once (log/batch/<size>), writes the tiles that
// batch determines, proves the new checkpoint consistent with the old and
// publishes it with a compare-and-swap. Whoever finds a claimed batch that
// is not yet published completes it, so a writer that dies after claiming
// leaves nothing half-done: the next Append finishes its batch first.
//
// Readers and auditors check everything against the signed checkpoint:
// Entries verifies each entry's leaf hash, proofs are built from tiles
// that are authenticated against the tree's root, and Audit re-reads the
// whole log and recomputes every hash. A reader that remembers no earlier
// checkpoint still sees a rollback through CheckHistory: batches signed by
// the log key past the checkpoint. Failures are typed errors carrying the
// evidence (both checkpoints, expected and found hashes).
//
// This package must not import capture, ingest, verify or cli.
package ledger

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/storage"
)

// Keys of the log in the store.
const (
	// Prefix is the part of the archive that holds the log.
	Prefix = "log/"
	// CheckpointKey holds the latest signed checkpoint: the one mutable
	// object of the archive.
	CheckpointKey = Prefix + "checkpoint"
	batchPrefix   = Prefix + "batch/"
	stampPrefix   = Prefix + "timestamp/"
	// maxCheckpoint bounds a signed checkpoint (a few signature lines).
	maxCheckpoint = 64 << 10
	// maxTimestamp bounds a timestamp token.
	maxTimestamp = 1 << 20
	// maxEntryTile bounds an entry tile: 256 entries of at most 64 KiB.
	maxEntryTile = (1 << custody.TileHeight) * (2 + 1<<16)
)

// TileKey is the key of a tile in the store: Prefix and the tile's path
// in the Go checksum database layout (tile/8/<L>/<N>[.p/<W>], entry tiles
// at level "data").
func TileKey(t tlog.Tile) string { return Prefix + t.Path() }

// BatchKey is the key of the batch that claims log position start.
func BatchKey(start int64) string { return batchPrefix + pad(start) }

// TimestampKey is the key of the timestamp token of the checkpoint of size
// size, when a Timestamper was configured.
func TimestampKey(size int64) string { return stampPrefix + pad(size) }

// pad writes n with 20 digits, so that keys list in numeric order.
func pad(n int64) string {
	s := strconv.FormatInt(n, 10)
	for len(s) < 20 {
		s = "0" + s
	}
	return s
}

// Store is what the log needs of an archive: write-once objects and one
// mutable object. *local.Store and *s3.Store provide it.
type Store interface {
	Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.Object, error)
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	storage.Swapper
}

// Timestamper obtains a trusted time for a checkpoint, typically an RFC
// 3161 timestamp token from a timestamp authority. It receives the signed
// checkpoint exactly as it will be published (the bytes of
// log/checkpoint) and returns a token over them; the log stores the token,
// unread, at TimestampKey(size) before publishing the checkpoint. If two
// writers complete the same batch, the first token written is kept.
type Timestamper interface {
	Timestamp(ctx context.Context, signedCheckpoint []byte) ([]byte, error)
}

// DefaultHelpAfter is Options.HelpAfter when it is zero.
const DefaultHelpAfter = 250 * time.Millisecond

// Options configure a Log.
type Options struct {
	// Origin names the log (the first line of its checkpoints): one per
	// archive, so that a checkpoint of one archive never passes for
	// another's. It is also the log key's name.
	Origin string
	// Verifiers are the trusted log keys. Checkpoints signed by no key of
	// theirs are refused.
	Verifiers note.Verifiers
	// Signer signs new checkpoints; nil makes the Log read-only.
	Signer note.Signer
	// Timestamper, when set, timestamps every checkpoint this Log
	// publishes; nil means none.
	Timestamper Timestamper
	// Retention, when set, gives the S3 Object Lock retention of each
	// object the log writes (tiles, batches, timestamps), as archived
	// objects get, and of each checkpoint it publishes: a bucket with
	// Object Lock keeps every checkpoint as a version of its own, which
	// the retention keeps from deletion. nil writes them without one. Set
	// it only on stores that enforce Object Lock: an S3 bucket without it
	// refuses such writes.
	Retention func() storage.Retention
	// HelpAfter is how long Append waits for another writer to publish a
	// batch it claimed before completing it itself (that writer may have
	// died). Zero means DefaultHelpAfter.
	HelpAfter time.Duration
}

// Log is the custody log of one archive. All methods may be called
// concurrently; several Logs (in several processes) may share a store.
//
// A Log remembers the newest checkpoint it has verified and refuses,
// from then on, any checkpoint that does not extend it (RollbackError,
// ForkError).
type Log struct {
	store Store
	opts  Options

	mu   sync.Mutex
	seen *custody.Checkpoint // newest verified checkpoint
}

// New returns the log kept in store. It does no I/O.
func New(store Store, opts Options) (*Log, error) {
	if store == nil {
		return nil, errors.New("custody/ledger: no store")
	}
	if !custody.ValidOrigin(opts.Origin) {
		return nil, fmt.Errorf("custody/ledger: origin %q: want a non-empty name without spaces or control characters", opts.Origin)
	}
	if opts.Verifiers == nil {
		return nil, errors.New("custody/ledger: no trusted log keys (Verifiers)")
	}
	if opts.Signer != nil {
		if _, err := opts.Verifiers.Verifier(opts.Signer.Name(), opts.Signer.KeyHash()); err != nil {
			return nil, fmt.Errorf("custody/ledger: the signing key %s is not among the trusted log keys: %w", opts.Signer.Name(), err)
		}
	}
	if opts.HelpAfter <= 0 {
		opts.HelpAfter = DefaultHelpAfter
	}
	return &Log{store: store, opts: opts}, nil
}

// Trust makes the Log refuse, from now on, any checkpoint that does not
// extend c: a checkpoint the caller verified earlier (a verifier's last
// known state, kept out of the archive).
func (l *Log) Trust(c custody.Checkpoint) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil || c.Size > l.seen.Size {
		l.seen = &c
	}
}

// head is the checkpoint as read from the store.
type head struct {
	cp      custody.Checkpoint
	signed  []byte
	version storage.Version // storage.NoVersion: no checkpoint yet
}

// readHead reads and verifies the checkpoint, without comparing it with
// what the Log has seen. A missing checkpoint is the empty log.
func (l *Log) readHead(ctx context.Context) (head, error) {
	data, v, err := l.store.Load(ctx, CheckpointKey, maxCheckpoint)
	if errors.Is(err, storage.ErrNotFound) {
		empty, _ := tlog.TreeHash(0, nil)
		return head{cp: custody.Checkpoint{Origin: l.opts.Origin, Root: empty}, version: storage.NoVersion}, nil
	}
	if err != nil {
		return head{}, fmt.Errorf("custody/ledger: read checkpoint: %w", err)
	}
	cp, err := custody.OpenCheckpoint(data, l.opts.Verifiers, l.opts.Origin)
	if err != nil {
		return head{}, fmt.Errorf("custody/ledger: %s: %w", CheckpointKey, err)
	}
	return head{cp: cp, signed: data, version: v}, nil
}

// load reads the checkpoint and checks that it extends the newest one
// this Log has verified.
func (l *Log) load(ctx context.Context) (head, error) {
	h, err := l.readHead(ctx)
	if err != nil {
		return head{}, err
	}
	err = l.observe(ctx, h)
	var re *RollbackError
	if errors.As(err, &re) {
		// Another call of this Log may have published or seen a newer
		// checkpoint after this one was read: read again. A store that
		// still serves an older checkpoint than one it served before
		// has been rolled back.
		if h, err = l.readHead(ctx); err != nil {
			return head{}, err
		}
		err = l.observe(ctx, h)
	}
	if err != nil {
		return head{}, err
	}
	return h, nil
}

// observe checks h against the newest checkpoint seen and remembers it.
func (l *Log) observe(ctx context.Context, h head) error {
	l.mu.Lock()
	seen := l.seen
	l.mu.Unlock()
	if seen != nil {
		if err := l.headExtends(ctx, *seen, h); err != nil {
			return err
		}
	}
	l.Trust(h.cp)
	return nil
}

// headExtends checks that the checkpoint read, h, extends trusted. A
// missing checkpoint, when trusted is not empty, is a rollback.
func (l *Log) headExtends(ctx context.Context, trusted custody.Checkpoint, h head) error {
	if h.version == storage.NoVersion && trusted.Size > 0 {
		return &RollbackError{Trusted: trusted}
	}
	return l.extends(ctx, trusted, h.cp)
}

// extends checks that found extends trusted (*RollbackError, *ForkError),
// proving it from the tiles of found's tree when it is larger; tiles that
// cannot prove it are a *TileError.
func (l *Log) extends(ctx context.Context, trusted, found custody.Checkpoint) error {
	p, err := l.ProveConsistency(ctx, trusted, found)
	if err != nil {
		return err
	}
	return CheckConsistency(trusted, found, p)
}

// Latest returns the log's newest checkpoint, verified, with its signed
// note as stored. An empty log has a checkpoint of size 0 and no note.
func (l *Log) Latest(ctx context.Context) (custody.Checkpoint, []byte, error) {
	h, err := l.load(ctx)
	if err != nil {
		return custody.Checkpoint{}, nil, err
	}
	return h.cp, h.signed, nil
}

// Timestamp returns the timestamp token stored for the checkpoint of the
// given size. Errors wrap storage.ErrNotFound when there is none.
func (l *Log) Timestamp(ctx context.Context, size int64) ([]byte, error) {
	return storage.ReadAll(ctx, l.store, TimestampKey(size), maxTimestamp)
}

// CheckConsistency checks a consistency proof that checkpoint newer
// extends checkpoint older, and returns a *ForkError (or a
// *RollbackError, when newer is smaller) if it does not.
func CheckConsistency(older, newer custody.Checkpoint, p tlog.TreeProof) error {
	switch {
	case newer.Size < older.Size:
		return &RollbackError{Trusted: older, Found: newer}
	case older.Size == 0:
		return nil
	}
	if err := tlog.CheckTree(p, newer.Size, newer.Root, older.Size, older.Root); err != nil {
		return &ForkError{Trusted: older, Found: newer, Err: err}
	}
	return nil
}

// CheckInclusion checks an inclusion proof that entry is the entry at
// index in the checkpoint's tree, and returns an *InclusionError if not.
func CheckInclusion(c custody.Checkpoint, index int64, entry []byte, p tlog.RecordProof) error {
	if index < 0 || index >= c.Size {
		return &InclusionError{Index: index, Checkpoint: c, Err: errors.New("index outside the tree")}
	}
	if err := tlog.CheckRecord(p, c.Size, c.Root, index, tlog.RecordHash(entry)); err != nil {
		return &InclusionError{Index: index, Checkpoint: c, Err: err}
	}
	return nil
}

// putOptions are the options of a write-once object of the log.
func (l *Log) putOptions(size int64) storage.PutOptions {
	o := storage.PutOptions{Size: size}
	if l.opts.Retention != nil {
		o.Retention = l.opts.Retention()
	}
	return o
}

// newNonce returns a random batch nonce.
func newNonce() (n [nonceSize]byte) {
	_, _ = rand.Read(n[:]) // crypto/rand.Read never fails
	return n
}
