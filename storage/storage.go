// Package storage defines the Store interface through which every byte of
// an archive is written and read, and the errors its implementations share.
//
// Implementations live in sub-packages: storage/local (a folder, the embedded
// default) and storage/s3 (any S3-compatible server, through minio-go).
// storage/storagetest is the conformance suite every implementation runs.
// Cross-cutting behaviour (retries, dry runs) wraps a Store; it is not built
// into an implementation.
//
// This package must not import anything else from this module.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Sentinel errors. Implementations wrap them, so test with errors.Is.
var (
	// ErrNotFound: the key does not exist.
	ErrNotFound = errors.New("object not found")
	// ErrExists: Put or Commit found the key already written; nothing was changed.
	ErrExists = errors.New("object already exists")
	// ErrUnavailable: the store could not be reached (network, server down, timeout).
	ErrUnavailable = errors.New("store unavailable")
	// ErrDenied: the store refused the request (credentials, permissions, WORM protection).
	ErrDenied = errors.New("store refused the request")
	// ErrFull: the store has no space left.
	ErrFull = errors.New("store is full")
	// ErrIntegrity: what the store holds after a write is not what was sent
	// (size or checksum differ). The bad object has been removed when possible.
	ErrIntegrity = errors.New("stored object does not match what was written")
	// ErrConflict: a Swap lost. The mutable object is no longer at the
	// version the caller read (another writer changed it, created it or it
	// never existed); nothing was changed. Read it again and decide anew.
	ErrConflict = errors.New("object changed since it was read")
	// ErrTooLarge: an object holds more bytes than the reader's limit
	// (ReadAll, Swapper.Load). The limits are above anything Exhibit writes
	// at such keys, so to a verifier it means the object was replaced.
	ErrTooLarge = errors.New("object is larger than any written there")
)

// RetentionMode is an S3 Object Lock mode.
type RetentionMode string

const (
	Governance RetentionMode = "GOVERNANCE"
	Compliance RetentionMode = "COMPLIANCE"
)

// Retention is how long an object must stay immutable. The zero value means none.
type Retention struct {
	Mode  RetentionMode `json:"mode"`
	Until time.Time     `json:"until"`
}

// IsZero reports whether no retention is set.
func (r Retention) IsZero() bool { return r.Mode == "" }

// PutOptions describe how an object is written.
type PutOptions struct {
	// Size is the exact length of the content, or -1 when unknown.
	Size int64
	// SHA256 is the expected SHA-256 of the content, when the caller knows it.
	// A store that receives different bytes fails with ErrIntegrity and leaves
	// nothing at the key. The store compares it with the SHA-256 of the bytes
	// it read: one it computed, or, when the content came from a
	// SHA256Reader, the one that reader reports.
	SHA256 []byte
	// ContentType is recorded where the store supports it.
	ContentType string
	// Retention and LegalHold apply S3 Object Lock when the store has it.
	// What a store without object locking does differs: a folder (which can
	// never lock) records nothing and reports a zero Retention in Object; an
	// S3 bucket created without Object Lock refuses the write, since the
	// caller asked for a protection that bucket cannot give. Check
	// Capabilities first.
	Retention Retention
	LegalHold bool
}

// SHA256Reader is content that hashes itself: an io.Reader that computes
// the SHA-256 of the bytes it yields, such as a reader that tees into the
// caller's own hash. Given one, Put and Stage take the content's SHA-256
// from it instead of hashing the bytes a second time, and check
// PutOptions.SHA256 against that; the reader vouches for it. A store reads
// such content only through Read, and asks for SHA256 only after Read has
// returned io.EOF.
type SHA256Reader interface {
	io.Reader
	// SHA256 returns the SHA-256 of all the bytes Read has returned so far.
	SHA256() []byte
}

// Object describes one stored object.
type Object struct {
	Key       string    `json:"key"`
	Size      int64     `json:"size"`
	ModTime   time.Time `json:"modTime"`
	VersionID string    `json:"versionId,omitempty"`
	// Retention and LegalHold are what the store enforces, as far as it reports them.
	Retention Retention `json:"retention"`
	LegalHold bool      `json:"legalHold,omitempty"`
}

// Store is a flat namespace of write-once objects under slash-separated keys
// ("objects/sha256/ab/abcd…"). All methods may be called concurrently.
//
// Keys are relative to the store's root (a folder or a bucket prefix). They
// are non-empty, use "/" separators, and contain no "." or ".." elements
// (see ValidKey). Keys whose first element is ".tmp" are reserved for the
// stores' temporary objects and are refused.
type Store interface {
	// Location is a URL naming the store: file:///abs/path or s3://bucket/prefix.
	Location() string

	// Put writes the content of r at key. If key already exists it returns an
	// error wrapping ErrExists and changes nothing. Put is atomic: after any
	// failure or cancellation, key holds either nothing or a complete object.
	Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (Object, error)

	// Stage writes the content of r to a temporary object whose final key the
	// caller learns only after reading it (content addressing). The caller must
	// Commit or Discard it.
	Stage(ctx context.Context, r io.Reader, size int64) (Staged, error)

	// Get opens the object at key. Errors wrap ErrNotFound when it is missing.
	Get(ctx context.Context, key string) (io.ReadCloser, error)

	// Stat describes the object at key. Errors wrap ErrNotFound when it is missing.
	Stat(ctx context.Context, key string) (Object, error)

	// List calls fn for every object whose key starts with prefix, in
	// lexical key order. Temporary objects are not listed. An error from fn
	// stops the listing and is returned.
	List(ctx context.Context, prefix string, fn func(Object) error) error

	// Capabilities reports what the store enforces.
	Capabilities(ctx context.Context) (Capabilities, error)
}

// Version identifies one content of a mutable object (see Swapper). It is
// opaque to callers: compare it only with versions of the same key from the
// same store. NoVersion stands for "absent".
type Version string

// NoVersion is the version of a mutable object that does not exist: Swap
// with NoVersion creates the object, and fails if it exists.
const NoVersion Version = ""

// Swapper is implemented by stores that keep mutable objects beside their
// write-once ones: a compare-and-swap register per key, for the few things
// that must change in place (the custody log's checkpoint). Everything
// else stays write-once.
//
// Contract:
//   - A key is either write-once (Put, Commit) or mutable (Swap); callers
//     keep them apart. Get, Stat and List see a mutable object like any
//     other, always complete: old or new content, never a mixture.
//   - Swap is linearizable per key: of any number of concurrent Swaps from
//     the same version (from any process or machine sharing the store),
//     exactly one succeeds and the others fail with ErrConflict, changing
//     nothing.
//   - A version identifies content: a Swap succeeds when the object's
//     current content is the content that was read with that version, so
//     a change to other bytes and back again (A-B-A) is not noticed. Give
//     each new content something that makes it differ from every earlier
//     one (the checkpoint's growing size does).
//   - A Swap whose reply was lost may have happened: a retried request can
//     then report ErrConflict although this caller's content is in place.
//     Callers that must know read the object again.
//   - Swap is durable when it returns: after a crash the key holds the old
//     or the new content, complete.
//
// All methods may be called concurrently.
type Swapper interface {
	// Load reads the mutable object at key, which must hold at most limit
	// bytes, with its version. Errors wrap ErrNotFound when it is missing,
	// ErrTooLarge when it holds more.
	Load(ctx context.Context, key string, limit int64) ([]byte, Version, error)
	// Swap replaces the object at key with data if its version is still
	// old (with NoVersion: creates it if it does not exist), and returns
	// the new version. When the object is at another version, or exists
	// although old is NoVersion, or is missing although old is not, it
	// fails with an error wrapping ErrConflict and changes nothing.
	Swap(ctx context.Context, key string, old Version, data []byte, opts SwapOptions) (Version, error)
}

// SwapOptions are the options of one Swap.
type SwapOptions struct {
	// Retention is the S3 Object Lock retention of the new content, as
	// PutOptions.Retention: on a store that keeps every content of a key
	// as a version of its own (S3 with Object Lock, which requires
	// versioning), the retention keeps that version from deletion while
	// later ones replace it as the current content. A store that cannot
	// enforce it refuses it as Put does; a folder ignores it, as Put does.
	Retention Retention
}

// Staged is content written by Store.Stage and not yet visible under a key.
type Staged interface {
	// Size is the number of bytes staged.
	Size() int64
	// Commit makes the staged content visible at key with opts, like Put.
	// If key already exists it returns an error wrapping ErrExists and the
	// staged content is discarded. After Commit, whatever its outcome, the
	// Staged is spent: a second Commit fails.
	Commit(ctx context.Context, key string, opts PutOptions) (Object, error)
	// Discard removes the staged content. It is safe to call after Commit.
	Discard(ctx context.Context) error
}

// Capabilities says which preservation features a store enforces.
type Capabilities struct {
	// ObjectLock: retention and legal hold are enforced by the store.
	ObjectLock bool `json:"objectLock"`
	// Versioning: the store keeps object versions.
	Versioning bool `json:"versioning"`
}

// ValidKey reports an error when key is not a clean relative key.
func ValidKey(key string) error {
	if key == "" || key[0] == '/' || key[len(key)-1] == '/' {
		return fmt.Errorf("storage: invalid key %q", key)
	}
	start := 0
	for i := 0; i <= len(key); i++ {
		if i == len(key) || key[i] == '/' {
			el := key[start:i]
			if el == "" || el == "." || el == ".." {
				return fmt.Errorf("storage: invalid key %q", key)
			}
			start = i + 1
		} else if key[i] == '\\' || key[i] == 0 {
			return fmt.Errorf("storage: invalid key %q", key)
		}
	}
	return nil
}

// Placer is implemented by stores for which Commit of large staged content
// would copy every byte again (S3, where an object cannot be renamed: the
// server copies it). StageAt writes large content at key, a key the caller
// chose before reading it and never reuses, where it then stays: nothing is
// copied once its digest is known.
//
// Content that the store would keep in memory anyway (storage/s3:
// Options.SmallObjectMax) is staged as Stage does, and the Staged returned
// is not a Placed: commit it to its content address as usual. Otherwise it
// is a Placed, whose content already lies at key.
type Placer interface {
	StageAt(ctx context.Context, key string, r io.Reader, size int64) (Staged, error)
}

// Placed is staged content that lies at its final key (see Placer). Until
// Keep it has no retention of its own, so Discard can remove it.
//
// Crash safety: the store notes each placement before the upload starts,
// and the link Keep writes before it sets retention. CleanupStale resolves
// a placement left unfinished: when the link it noted holds the bytes Keep
// gave it, the content is adopted (given the link's retention and legal
// hold); otherwise it is removed.
type Placed interface {
	Staged
	// Key is where the content lies.
	Key() string
	// Keep makes the content permanent at Key. It checks the content
	// against opts.Size and opts.SHA256, writes link at linkKey as Put
	// does (write-once, with opts' retention and legal hold and
	// ContentType "application/json"), and then applies opts.Retention
	// and opts.LegalHold to the content in place. When linkKey exists it
	// removes the content, which has no retention yet, and returns an
	// error wrapping ErrExists: the same bytes are kept already, and the
	// caller reads the link that is there (a link there that holds link
	// itself, written by a retry of this very write, counts as written). On other errors the content
	// stays, for the link may have been written: CleanupStale, or a later
	// Keep that meets the link and adopts it with Retain, settles it.
	// Like Commit, Keep spends the Staged.
	Keep(ctx context.Context, linkKey string, link []byte, opts PutOptions) (Object, error)
}

// Retainer is implemented by stores that can lock an existing object in
// place (S3 Object Lock set by a metadata request, no copy).
type Retainer interface {
	// Retain gives the object at key (at versionID, when not empty) at
	// least opts.Retention and, when opts.LegalHold, a legal hold. A
	// retention already in force that ends later, or a stronger mode, is
	// left as it is. It returns the object as it is then.
	Retain(ctx context.Context, key, versionID string, opts PutOptions) (Object, error)
}
