package archive

import (
	"context"
	"errors"
	"fmt"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/custody/ledger"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/storage"
	"github.com/openexhibit/exhibit/verify"
)

// LoggedEvent is one event of the custody log, with its index and its
// exact entry (the bytes the log holds and its leaf hash covers).
type LoggedEvent struct {
	Index int64          `json:"index"`
	Event *custody.Event `json:"event"`
	Entry []byte         `json:"-"`
}

// Events are events proven against one checkpoint.
type Events struct {
	Checkpoint custody.Checkpoint
	Events     []LoggedEvent
}

// openLogRead opens the log read-only; an archive without one is
// KindNotFound.
func (a *Archive) openLogRead(ctx context.Context) (*custodyLog, error) {
	cl, err := a.openLog(ctx, logRead, false)
	if errors.Is(err, ErrNoLog) {
		return nil, withKind(KindNotFound, err, "")
	}
	return cl, err
}

// Events returns the custody events of item id (nil: every event),
// oldest first, each proven against the log's signed checkpoint, which
// must extend the one this home remembers (it then remembers this one).
func (a *Archive) Events(ctx context.Context, id *hashing.Digest) (*Events, error) {
	cl, err := a.openLogRead(ctx)
	if err != nil {
		return nil, err
	}
	c, signed, err := cl.log.Latest(ctx)
	if err != nil {
		return nil, logFailure(err)
	}
	out := &Events{Checkpoint: c}
	add := func(i int64, entry []byte) error {
		ev, err := custody.ParseEvent(entry)
		if err != nil {
			return logFailure(&ledger.MalformedEntryError{Index: i, Err: err})
		}
		out.Events = append(out.Events, LoggedEvent{Index: i, Event: ev, Entry: entry})
		return nil
	}
	if id != nil {
		err = a.itemEvents(ctx, cl.log.Tree(ctx, c), *id, add)
	} else {
		err = allEvents(ctx, cl, c, add)
	}
	if err != nil {
		return nil, err
	}
	if err := cl.remember(c, signed); err != nil {
		return nil, err
	}
	return out, nil
}

// ItemsEvents hands each item's custody events, oldest first, to each, in
// the order of ids, all proven against one checkpoint (returned), which
// must extend the one this home remembers. It reads each tile of the log
// once however many items share it: what Events does for one item, for
// thousands (an export).
func (a *Archive) ItemsEvents(ctx context.Context, ids []hashing.Digest, each func(hashing.Digest, []LoggedEvent) error) (custody.Checkpoint, error) {
	cl, err := a.openLogRead(ctx)
	if err != nil {
		return custody.Checkpoint{}, err
	}
	c, signed, err := cl.log.Latest(ctx)
	if err != nil {
		return c, logFailure(err)
	}
	tree := cl.log.Tree(ctx, c)
	for _, id := range ids {
		var evs []LoggedEvent
		err := a.itemEvents(ctx, tree, id, func(i int64, entry []byte) error {
			ev, err := custody.ParseEvent(entry)
			if err != nil {
				return logFailure(&ledger.MalformedEntryError{Index: i, Err: err})
			}
			evs = append(evs, LoggedEvent{Index: i, Event: ev, Entry: entry})
			return nil
		})
		if err == nil {
			err = each(id, evs)
		}
		if err != nil {
			return c, err
		}
	}
	return c, cl.remember(c, signed)
}

// allEvents adds every event the checkpoint c covers, read 256 at a time.
func allEvents(ctx context.Context, cl *custodyLog, c custody.Checkpoint, add func(int64, []byte) error) error {
	for start := int64(0); start < c.Size; start += 256 {
		entries, err := cl.log.Entries(ctx, c, start, min(256, c.Size-start))
		if err != nil {
			return logFailure(err)
		}
		for j, en := range entries {
			if err := add(start+int64(j), en); err != nil {
				return err
			}
		}
	}
	return nil
}

// itemEvents adds the events of item id that its pointers name and the
// checkpoint c covers, each checked against the log.
func (a *Archive) itemEvents(ctx context.Context, tree *ledger.Tree, id hashing.Digest, add func(int64, []byte) error) error {
	c := tree.Checkpoint()
	ps, err := verify.ReadPointers(ctx, a.store, id)
	if err != nil {
		return fmt.Errorf("custody log: %w", err)
	}
	found := false
	for _, p := range ps {
		n := int64(len(p.Entries))
		if p.First+n > c.Size {
			continue // appended after the checkpoint read
		}
		entries, err := tree.Entries(p.First, n)
		if err != nil {
			return logFailure(err)
		}
		for j, entry := range entries {
			if string(p.Entries[j]) != string(entry) {
				return withKind(KindTampered, fmt.Errorf("custody log: the pointer %s does not hold the event the log holds at %d", p.Key, p.First+int64(j)), "run exhibit verify "+id.String())
			}
			if ev, err := custody.ParseEvent(entry); err == nil && ev.Item != id.String() {
				return withKind(KindTampered, fmt.Errorf("custody log: the pointer %s names event %d, which is not of %s", p.Key, p.First+int64(j), id), "run exhibit verify "+id.String())
			}
			if err := add(p.First+int64(j), entry); err != nil {
				return err
			}
			found = true
		}
	}
	if !found {
		if _, err := a.store.Stat(ctx, custody.RecordBundleKey(id)); errors.Is(err, storage.ErrNotFound) {
			return withKind(KindNotFound, fmt.Errorf("%s is not in the archive", id), "check the item ID (exhibit ls lists them)")
		}
	}
	return nil
}

// LogAudit is the outcome of AuditLog.
type LogAudit struct {
	// Trusted is the checkpoint this home remembered before the audit
	// (nil: none).
	Trusted *custody.Checkpoint
	// Report is what the audit read and recomputed.
	Report *ledger.AuditReport
	// Timestamp is the check of the checkpoint's RFC 3161 timestamp (zero
	// for an empty log).
	Timestamp verify.Check
}

// AuditLog re-reads the whole custody log from its first entry,
// recomputes every hash against the signed checkpoint, checks that the
// checkpoint extends the one this home remembers and that no batch signed
// by the log key lies past it (a rollback), and checks its timestamp. The
// checkpoint is remembered when the timestamp check does not fail. On
// failure the returned LogAudit still says what was trusted.
func (a *Archive) AuditLog(ctx context.Context, requireTimestamp bool) (*LogAudit, error) {
	cl, err := a.openLogRead(ctx)
	if err != nil {
		return nil, err
	}
	res := &LogAudit{Trusted: cl.remembered}
	rep, err := cl.log.Audit(ctx, cl.remembered)
	if err == nil {
		// A fresh verifier's only defence against a rollback.
		err = cl.log.CheckHistory(ctx, a.store, rep.Checkpoint)
	}
	if err != nil {
		return res, logFailure(err)
	}
	res.Report = &rep
	// The signed note is the one Audit verified: reading the checkpoint
	// again could pair it with a newer one another writer published since.
	c, signed := rep.Checkpoint, rep.Signed
	if c.Size > 0 {
		res.Timestamp = verify.CheckpointTimestamp(ctx, cl.log, c, signed, a.trust, requireTimestamp)
	}
	switch res.Timestamp.Status {
	case verify.Fail, verify.Error, verify.Untrusted:
	default:
		if err := cl.remember(c, signed); err != nil {
			return res, err
		}
		res.Trusted = cl.remembered
	}
	return res, nil
}
