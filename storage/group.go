package storage

import (
	"bytes"
	"context"
	"fmt"
)

// Syncer is implemented by stores that can make writes durable in groups
// instead of one object at a time (storage/local with GroupCommit). When
// Grouped, Put and Commit may return before the new key survives a crash. Such a store keeps
// one order all the same: a key becomes visible only once every object that
// was staged, written or committed before its content was written is
// durable, so after a crash any surviving key finds everything that came
// before it. Callers that promise durability (an item is "archived") call
// Sync first.
type Syncer interface {
	// Sync returns once every object written or committed before the call
	// is durable. An error means the store could not confirm that: treat
	// everything since the last successful Sync as possibly lost.
	Sync(ctx context.Context) error
	// Grouped reports whether writes are made durable in groups; when not,
	// each write is durable when it returns and Sync does nothing.
	Grouped() bool
}

// Grouped reports whether s makes writes durable in groups (see Syncer),
// looking through decorators (see Wrapper).
func Grouped(s Store) bool {
	sy, ok := As[Syncer](s)
	return ok && sy.Grouped()
}

// Sync calls the Sync of s, or of the store it wraps, when that is a
// Syncer; on any other store every write is durable when it returns, and
// Sync does nothing.
func Sync(ctx context.Context, s Store) error {
	if sy, ok := As[Syncer](s); ok {
		return sy.Sync(ctx)
	}
	return nil
}

// Deferred is a small write whose key is made visible later, by Commit. It
// lets a caller write several objects that do not depend on each other and
// then make them visible together: on a store that groups its syncs they
// are staged first and share one wait for durability instead of one each.
type Deferred struct {
	key       string
	opts      PutOptions
	staged    Staged // on a Syncer, until Commit or Discard
	obj       Object // the outcome, once known
	err       error
	discarded bool
}

// PutDeferred starts writing data at key (opts.Size is set from data). On a
// store that groups its syncs it stages data, and Commit links it; on any
// other store it puts data at once and Commit reports that result. Either way the caller must
// Commit or Discard it.
func PutDeferred(ctx context.Context, s Store, key string, data []byte, opts PutOptions) *Deferred {
	opts.Size = int64(len(data))
	d := &Deferred{key: key, opts: opts}
	if Grouped(s) {
		d.staged, d.err = s.Stage(ctx, bytes.NewReader(data), opts.Size)
		return d
	}
	d.obj, d.err = s.Put(ctx, key, bytes.NewReader(data), opts)
	return d
}

// Key is the key the write goes to.
func (d *Deferred) Key() string { return d.key }

// Size is the number of bytes written.
func (d *Deferred) Size() int64 { return d.opts.Size }

// Commit makes the write visible at its key and returns the object, or the
// error of the write (wrapping ErrExists when the key was taken). A second
// Commit returns the same.
func (d *Deferred) Commit(ctx context.Context) (Object, error) {
	if d.discarded {
		return Object{}, fmt.Errorf("storage: commit %s: the write was discarded", d.key)
	}
	if st := d.staged; st != nil {
		d.staged = nil
		d.obj, d.err = st.Commit(ctx, d.key, d.opts)
	}
	return d.obj, d.err
}

// Discard drops a staged write that was not committed. On a store that does
// not group its syncs the write has already happened and stays. It is safe to call
// after Commit and more than once.
func (d *Deferred) Discard(ctx context.Context) {
	if d.staged != nil {
		_ = d.staged.Discard(ctx)
		d.staged = nil
		d.discarded = true
	}
}
