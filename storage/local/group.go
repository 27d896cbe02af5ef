package local

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// Option configures Open and Create.
type Option func(*Store)

// GroupCommit has the store make writes durable in groups, with one
// syncfs(2) of the folder's file system shared by every write waiting at
// that moment, instead of an fsync of each file and of its folder. Put and
// Commit then return before the new key is durable, and the store is a
// storage.Syncer: see there for the order it keeps and for Sync.
//
// It pays off when many small objects are written at once (an ingest of many
// photos). syncfs also writes out what other programs have written to the
// same file system, so keep a busy archive on a file system of its own.
// The option does nothing where syncfs is missing (anything but Linux) or
// may not reach the disk: on file systems other than ext2/3/4, XFS, Btrfs,
// F2FS, ZFS, tmpfs and overlayfs (network and FUSE mounts) every write is fsynced.
func GroupCommit() Option {
	return func(s *Store) {
		if syncFSSupported && groupable(s.dir) {
			g := &syncGroup{}
			g.sync, g.release = newSyncFS(s.dir)
			s.group = g
		}
	}
}

// syncGroup orders and batches durability for GroupCommit. Every temporary
// file finished and every key linked bumps dirty. A goroutine of the
// group's own runs rounds of sync back to back while anyone waits: a round
// records the dirty count when it starts and, once the file system is
// synced, that everything up to it is durable. Writers that arrive during
// a round all wait for the next one, so they share it.
type syncGroup struct {
	sync    func() error // syncfs of the store's file system; only run calls it
	release func()       // called by run when it ends
	dirty   atomic.Uint64

	mu      sync.Mutex
	synced  uint64        // every change counted up to here is durable
	wanted  uint64        // the highest change anyone waits for
	next    chan struct{} // closed when the next round to start ends
	running bool          // run is going
	err     error         // a failed sync: nothing after it can be trusted
	rounds  int64         // syncs done, for tests
}

// mark counts a change (a finished temporary file, a link) and returns its
// number: wait(ctx, mark()) returns once it is durable.
func (g *syncGroup) mark() uint64 { return g.dirty.Add(1) }

// wait returns once every change numbered up to need is durable.
func (g *syncGroup) wait(ctx context.Context, need uint64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for {
		if g.err != nil {
			return g.err
		}
		if g.synced >= need {
			return nil
		}
		g.wanted = max(g.wanted, need)
		if g.next == nil {
			g.next = make(chan struct{})
		}
		if !g.running {
			g.running = true
			go g.run()
		}
		next := g.next
		g.mu.Unlock()
		select {
		case <-next:
			g.mu.Lock()
		case <-ctx.Done():
			g.mu.Lock()
			return ctx.Err()
		}
	}
}

// run syncs while changes are waited for, then ends.
func (g *syncGroup) run() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.err == nil && g.wanted > g.synced {
		// The round covers every change counted so far; whoever arrives
		// from now on waits for the round after.
		target, done := g.dirty.Load(), g.next
		g.next = make(chan struct{})
		g.rounds++
		g.mu.Unlock()
		err := g.sync()
		g.mu.Lock()
		if err != nil {
			g.err = fmt.Errorf("the file system did not confirm that the archive reached the disk, so nothing more is written (check the disk, then run the command again): %w", mapOSError(err))
		} else {
			g.synced = max(g.synced, target)
		}
		close(done)
	}
	// Wake whoever waits for a round that will not come: they are covered
	// already, or find the error, or start the group again.
	if g.next != nil {
		close(g.next)
		g.next = nil
	}
	g.running = false
	g.release()
}

// Sync returns once everything written or committed before the call is
// durable. Without GroupCommit every write already is, and it returns nil.
func (s *Store) Sync(ctx context.Context) error {
	if s.group == nil {
		return nil
	}
	if err := s.group.wait(ctx, s.group.dirty.Load()); err != nil {
		return fmt.Errorf("storage/local: sync %s: %w", s.dir, err)
	}
	return nil
}

// Grouped reports whether the store makes writes durable in groups.
func (s *Store) Grouped() bool { return s.group != nil }
