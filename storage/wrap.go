package storage

import (
	"context"
	"time"
)

// Wrapper is implemented by a Store that wraps another: a decorator such
// as a retry or rate-limit layer. Optional capabilities (Syncer, Swapper,
// Cleaner) are found along the chain of Unwrap calls, so that a decorator
// does not switch them off by hiding them. A decorator that must see those
// calls too (to retry a Swap, say) implements the capability itself: the
// outermost implementation in the chain is the one used.
type Wrapper interface {
	Unwrap() Store
}

// As returns the first store in the chain s, s.Unwrap(), … that
// implements T, as errors.As does for errors.
func As[T any](s Store) (T, bool) {
	for s != nil {
		if t, ok := s.(T); ok {
			return t, true
		}
		w, ok := s.(Wrapper)
		if !ok {
			break
		}
		s = w.Unwrap()
	}
	var zero T
	return zero, false
}

// Cleaner is implemented by stores whose interrupted writes can leave
// temporary objects behind that a later run must remove (storage/s3:
// multipart uploads and staged objects).
type Cleaner interface {
	// CleanupStale removes temporary objects older than olderThan.
	CleanupStale(ctx context.Context, olderThan time.Duration) error
}

// CleanupStale calls the store's Cleaner, when it has one.
func CleanupStale(ctx context.Context, s Store, olderThan time.Duration) error {
	if c, ok := As[Cleaner](s); ok {
		return c.CleanupStale(ctx, olderThan)
	}
	return nil
}

// SwapStore is a Store that keeps mutable objects (see Swapper): what the
// custody log needs.
type SwapStore interface {
	Store
	Swapper
}

// Swapping returns s as a SwapStore: s itself when it is one, else s with
// the Swapper of the first store in its chain that has one (reads and
// write-once writes still go through s). It returns false when no store
// in the chain keeps mutable objects.
func Swapping(s Store) (SwapStore, bool) {
	if ss, ok := s.(SwapStore); ok {
		return ss, true
	}
	sw, ok := As[Swapper](s)
	if !ok {
		return nil, false
	}
	return swapStore{s, sw}, true
}

// swapStore is a Store with the Swapper found in its chain. It wraps the
// Store, so that the rest of the chain's capabilities are found through
// it too.
type swapStore struct {
	Store
	Swapper
}

func (s swapStore) Unwrap() Store { return s.Store }
