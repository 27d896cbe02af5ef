package archive

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/custody/ledger"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/sign"
	"github.com/openexhibit/exhibit/storage"
	"github.com/openexhibit/exhibit/verify"
)

// custodyLog is an archive's log as this home sees it.
type custodyLog struct {
	log *ledger.Log
	a   *Archive
	// writable is true when the log key was loaded; keyErr is why a log
	// key this home holds did not open (a wrong passphrase), when it did not.
	writable bool
	keyErr   error
	// remembered is the newest checkpoint this home verified before (nil:
	// none).
	remembered *custody.Checkpoint
	// verifiers are the trusted log keys.
	verifiers note.Verifiers
	// last is where the last batch of append went.
	last ledger.Appended
}

// logMode says what an operation needs of the log key.
type logMode int

const (
	logRead     logMode = iota // never load the key
	logWrite                   // load the key or fail
	logTryWrite                // load the key if it is there and opens
)

// openLog opens the custody log of the archive with the keys the trust
// file lists for its origin. It returns ErrNoLog for an archive without a
// log, when the trust file trusts no log (else a *verify.DescriptorError).
// With logTryWrite a key that is missing or does not open gives a
// read-only log, and a note that says why.
//
// Checkpoints this log publishes are timestamped by the configured TSAs;
// when none answers, the checkpoint is published with an empty token (a
// recorded absence, reported by verify like a missing one) and a warning
// goes to Options.Warn, unless requireStamp makes it an error.
func (a *Archive) openLog(ctx context.Context, mode logMode, requireStamp bool) (*custodyLog, error) {
	// What the descriptor declares is checked against the trust file
	// first: an edited descriptor must not switch the log off.
	if err := verify.CheckDescriptor(a.trustFile, a.desc); err != nil {
		return nil, err
	}
	if a.desc.Log == "" {
		return nil, ErrNoLog
	}
	ls, ok := storage.Swapping(a.store)
	if !ok {
		return nil, fmt.Errorf("archive %s cannot keep a custody log (no compare-and-swap)", a.store.Location())
	}
	vs, err := a.trustFile.LogVerifiers(a.desc.Log)
	if err != nil {
		return nil, withKind(KindConfig, &UntrustedLogError{Origin: a.desc.Log, Err: err}, "")
	}
	opts := ledger.Options{Origin: a.desc.Log, Verifiers: vs}
	writable := false
	var keyErr error
	if mode != logRead {
		s, err := a.logSigner(ctx)
		switch {
		case err == nil:
			opts.Signer, writable = s, true
		case mode == logTryWrite:
			if errors.Is(err, fs.ErrNotExist) {
				a.note("custody log: read-only: this home folder has no custody log key (" + LogKeyFile + "); no event is logged")
			} else {
				a.note("custody log: read-only: the custody log key could not be used (" + err.Error() + "); no event is logged")
				keyErr = err
			}
		default:
			if errors.Is(err, fs.ErrNotExist) {
				return nil, withKind(KindKey, fmt.Errorf("no custody log key in %s: this command logs an event and cannot without it", a.o.Home),
					"use the home folder that created the archive, or copy its "+LogKeyFile+" here")
			}
			return nil, err
		}
		if writable {
			ts, err := a.timestamper(false)
			if err != nil {
				return nil, err
			}
			if ts != nil {
				opts.Timestamper = checkpointStamper{ts: ts, require: requireStamp, warn: a.o.Warn}
			}
			opts.Retention = a.o.Retention.now
		}
	}
	l, err := ledger.New(ls, opts)
	if err != nil {
		return nil, err
	}
	cl := &custodyLog{log: l, a: a, writable: writable, keyErr: keyErr, verifiers: vs}
	if cl.remembered, err = cl.loadRemembered(); err != nil {
		return nil, err
	}
	if cl.remembered != nil {
		l.Trust(*cl.remembered)
	}
	if mode == logWrite {
		// An operation that must log checks the log before it does
		// anything: it will not act on an archive whose log it cannot
		// extend.
		if _, _, err := l.Latest(ctx); err != nil {
			return nil, logFailure(err)
		}
	}
	return cl, nil
}

// logFailure marks the log's evidence of tampering (ledger.IsTampering) as
// KindTampered; other errors keep theirs.
func logFailure(err error) error {
	if ledger.IsTampering(err) {
		return withKind(KindTampered, fmt.Errorf("custody log: %w", err), "the custody log was tampered with: keep the archive and this output as evidence")
	}
	return err
}

// checkpointStamper timestamps checkpoints with the first configured TSA
// that answers.
type checkpointStamper struct {
	ts      *sign.Timestamper
	require bool
	warn    func(string)
}

func (c checkpointStamper) Timestamp(ctx context.Context, signed []byte) ([]byte, error) {
	var errs []error
	for _, u := range c.ts.URLs {
		tok, err := c.ts.Timestamp(ctx, u, signed)
		if err == nil {
			return tok, nil
		}
		errs = append(errs, err)
	}
	err := errors.Join(errs...)
	if c.require || ctx.Err() != nil {
		return nil, err
	}
	if c.warn != nil {
		c.warn(fmt.Sprintf("custody log checkpoint published without a timestamp: %v", err))
	}
	return []byte{}, nil
}

func (cl *custodyLog) statePath() string {
	return filepath.Join(cl.a.o.Home, logStateDir, url.PathEscape(cl.a.desc.Log), "latest")
}

// loadRemembered reads the checkpoint this home verified last.
func (cl *custodyLog) loadRemembered() (*custody.Checkpoint, error) {
	data, err := os.ReadFile(cl.statePath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the remembered checkpoint: %w", err)
	}
	c, err := custody.OpenCheckpoint(data, cl.verifiers, cl.a.desc.Log)
	if err != nil {
		return nil, withKind(KindTampered, fmt.Errorf("the checkpoint remembered in %s does not verify: %w", cl.statePath(), err),
			"it was written by this program after verifying it: check who changed it or the trust file")
	}
	return &c, nil
}

// remember stores a verified checkpoint as the newest this home knows, if
// it is newer than the one stored. Two processes racing may leave the
// smaller of two checkpoints that both extend the previous one; never an
// older one than was there.
func (cl *custodyLog) remember(c custody.Checkpoint, signed []byte) error {
	if len(signed) == 0 || (cl.remembered != nil && c.Size <= cl.remembered.Size) {
		return nil
	}
	if cur, err := cl.loadRemembered(); err == nil && cur != nil && cur.Size >= c.Size {
		return nil
	}
	path := cl.statePath()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("remember checkpoint: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".latest-*")
	if err != nil {
		return fmt.Errorf("remember checkpoint: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(signed)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("remember checkpoint: %w", err)
	}
	cl.remembered = &c
	return nil
}

// appended is one event the log holds, with its index.
type appended struct {
	Index int64
	Event *custody.Event
}

// append adds events in batches of at most ledger.MaxBatch (one
// checkpoint each), writes each item event's pointer, and remembers the
// newest checkpoint.
func (cl *custodyLog) append(ctx context.Context, events []*custody.Event) ([]appended, error) {
	var out []appended
	for start := 0; start < len(events); start += ledger.MaxBatch {
		end := min(start+ledger.MaxBatch, len(events))
		a, err := cl.log.Append(ctx, events[start:end])
		if err != nil {
			return out, fmt.Errorf("custody log: append %d events: %w", end-start, err)
		}
		for i, ev := range events[start:end] {
			out = append(out, appended{Index: a.First + int64(i), Event: ev})
		}
		cl.last = a
		if err := cl.remember(a.Checkpoint, a.Signed); err != nil {
			return out, err
		}
	}
	if err := cl.putPointers(ctx, out); err != nil {
		return out, err
	}
	if err := storage.Sync(ctx, cl.a.store); err != nil {
		return out, fmt.Errorf("custody log: %w", err)
	}
	return out, nil
}

// putPointers writes one pointer per run of an item's consecutive events
// (verify.PointerKey): write-once, holding the events' bytes. All are
// started before any is committed (see putDeferred).
func (cl *custodyLog) putPointers(ctx context.Context, events []appended) error {
	type pointer struct {
		w           *storage.Deferred
		data        []byte
		first, last int64
	}
	var ps []pointer
	defer func() {
		for _, p := range ps {
			p.w.Discard(context.WithoutCancel(ctx))
		}
	}()
	for start := 0; start < len(events); {
		item := events[start].Event.Item
		end := start + 1
		for end < len(events) && events[end].Event.Item == item && events[end].Index == events[end-1].Index+1 {
			end++
		}
		if item != "" {
			id, err := hashing.ParseDigest(item)
			if err != nil {
				return err
			}
			var entries [][]byte
			for _, a := range events[start:end] {
				data, err := a.Event.Marshal()
				if err != nil {
					return err
				}
				entries = append(entries, data)
			}
			first := events[start].Index
			data := verify.EncodePointer(entries)
			// Pointers get the archive's retention, like the log's own objects.
			ps = append(ps, pointer{putDeferred(ctx, cl.a.store, verify.PointerKey(id, first), data, cl.a.o.Retention.now()), data, first, events[end-1].Index})
		}
		start = end
	}
	for _, p := range ps {
		if err := commitIfAbsent(ctx, cl.a.store, p.w, p.data); err != nil {
			return fmt.Errorf("custody log: write the pointer to events %d to %d (they are logged; verify will not find them): %w", p.first, p.last, err)
		}
	}
	return nil
}

// loggedWithoutPointers reads the whole log for the ingested events of
// items that have no pointer to one (pending: the events their ingest
// would log), writes the pointer of each one's ingest events it finds
// (the run of as many consecutive events as its ingest logs, starting at
// its ingested event, as the append that was cut short would have), and
// says which items were logged. It is the recovery of a run killed
// between its append and its pointers, and reads the log only then.
func (cl *custodyLog) loggedWithoutPointers(ctx context.Context, pending map[string][]*custody.Event) (map[string]bool, error) {
	c, _, err := cl.log.Latest(ctx)
	if err != nil {
		return nil, logFailure(err)
	}
	runs := map[string][]appended{} // from the ingested event on, while consecutive
	complete := map[string]bool{}
	err = allEvents(ctx, cl, c, func(i int64, entry []byte) error {
		ev, err := custody.ParseEvent(entry)
		if err != nil || pending[ev.Item] == nil || complete[ev.Item] {
			return nil
		}
		run := runs[ev.Item]
		switch {
		case ev.Type == custody.EventIngested:
			run = []appended{{Index: i, Event: ev}}
		case len(run) > 0 && run[len(run)-1].Index == i-1:
			run = append(run, appended{Index: i, Event: ev})
		default:
			run = nil
		}
		runs[ev.Item] = run
		if len(run) == len(pending[ev.Item]) {
			complete[ev.Item] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for item := range complete {
		if err := cl.putPointers(ctx, runs[item]); err != nil {
			return nil, err
		}
	}
	return complete, nil
}

// hasIngested reports whether the item has a pointer to an ingested event.
func hasIngested(ctx context.Context, st storage.Store, id hashing.Digest) (bool, error) {
	ps, err := verify.ReadPointers(ctx, st, id)
	if err != nil {
		return false, err
	}
	for _, p := range ps {
		for _, e := range p.Entries {
			if ev, err := custody.ParseEvent(e); err == nil && ev.Type == custody.EventIngested {
				return true, nil
			}
		}
	}
	return false, nil
}

// logSigner opens the custody log key of the home folder, once.
func (a *Archive) logSigner(ctx context.Context) (note.Signer, error) {
	a.keys.Lock()
	defer a.keys.Unlock()
	if a.keys.log != nil {
		return a.keys.log, nil
	}
	s, err := loadLogSigner(ctx, a.o.Home, a.desc.Log, a.o.Credentials)
	if err == nil {
		a.keys.log = s
	}
	return s, err
}

// OpenKeys opens the signing key and the custody log key now, so that a
// service fails at its start, not at its first job, when one does not
// open (a wrong passphrase, a missing file, an unreachable KMS).
func (a *Archive) OpenKeys(ctx context.Context) error {
	if _, err := a.signer(ctx); err != nil {
		return err
	}
	if a.desc.Log == "" {
		return nil
	}
	_, err := a.logSigner(ctx)
	if errors.Is(err, fs.ErrNotExist) {
		return withKind(KindKey, fmt.Errorf("no custody log key in %s", a.o.Home),
			"use the home folder that created the archive, or copy its "+LogKeyFile+" here")
	}
	return err
}
