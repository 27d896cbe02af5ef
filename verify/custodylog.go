package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/custody/ledger"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/sign"
	"github.com/openexhibit/exhibit/storage"
)

// LogView is an archive's custody log as one verification run sees it: the
// latest checkpoint, checked once (signature, consistency with the
// checkpoint the verifier saw last, timestamp), against which every item's
// events are then proven.
type LogView struct {
	log *ledger.Log
	// tree reads Checkpoint's tree for every item, each tile once.
	tree *ledger.Tree
	// newest is the newest checkpoint read since (see newer): pointers to
	// events past Checkpoint are proven against it.
	mu     sync.Mutex
	newest custody.Checkpoint
	// Checkpoint is the log's latest checkpoint and Signed its signed note;
	// Usable is false when it did not verify (every item then fails).
	Checkpoint custody.Checkpoint
	Signed     []byte
	Usable     bool
	// Head are the checks of the checkpoint, reported with every item.
	Head []Check
}

// PointerPrefix is where an item's event pointers are kept, so that an
// item's events are found without reading the whole log. A pointer,
// PointerKey(id, first), holds a run of the item's consecutive events
// (one per line, their exact log entries) starting at log index first:
// one object per item per append, however many events it logged.
func PointerPrefix(id hashing.Digest) string { return custody.ItemPrefix(id) + "log/" }

// PointerKey is the key of the pointer whose first event has index first.
func PointerKey(id hashing.Digest, first int64) string {
	return PointerPrefix(id) + fmt.Sprintf("%020d", first)
}

// EncodePointer is the content of a pointer to consecutive log entries.
// Canonical events hold no raw newline, so lines separate them.
func EncodePointer(entries [][]byte) []byte { return bytes.Join(entries, []byte("\n")) }

// RecordDigest is how an ingested event names the item's record bundle
// (its Record field): "sha256:" and the hex SHA-256 of the bundle's bytes.
// Ingest writes it (from this function, or for an item it has just
// archived from ingest.Result.RecordBundle, the same hashing.Digest form)
// and verify compares it.
func RecordDigest(bundle []byte) string { return hashing.Sum256(bundle).String() }

// Pointer is one pointer object: the item's events at indexes First,
// First+1, … as the pointer claims them (each is checked against the log
// before use).
type Pointer struct {
	Key     string
	First   int64
	Entries [][]byte
}

// maxPointers bounds the pointers of one item, maxPointerBytes one pointer.
const (
	maxPointers     = 1 << 16
	maxPointerBytes = 16 << 20
)

// PointerError: an object under an item's pointer prefix that no writer
// makes (a name that is not a log index, too many of them): planted.
type PointerError struct {
	Key string
	Err error
}

func (e *PointerError) Error() string { return fmt.Sprintf("%s: %v", e.Key, e.Err) }

// ReadPointers lists and reads an item's pointers, in log order. Objects
// that cannot be pointers are a *PointerError; a pointer over the size
// limit wraps storage.ErrTooLarge.
func ReadPointers(ctx context.Context, st storage.Store, id hashing.Digest) ([]Pointer, error) {
	prefix := PointerPrefix(id)
	var ps []Pointer
	err := st.List(ctx, prefix, func(o storage.Object) error {
		name := strings.TrimPrefix(o.Key, prefix)
		n, err := strconv.ParseInt(name, 10, 64)
		if err != nil || n < 0 || len(name) != 20 {
			return &PointerError{Key: o.Key, Err: errors.New("not a pointer: its name is no log index")}
		}
		if len(ps) >= maxPointers {
			return &PointerError{Key: prefix, Err: fmt.Errorf("more than %d pointers", maxPointers)}
		}
		ps = append(ps, Pointer{Key: o.Key, First: n})
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].First < ps[j].First })
	for i := range ps {
		data, err := storage.ReadAll(ctx, st, ps[i].Key, maxPointerBytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ps[i].Key, err)
		}
		ps[i].Entries = bytes.Split(data, []byte("\n"))
	}
	return ps, nil
}

// OpenLog reads the log's latest checkpoint through l, which must already
// trust (ledger.Log.Trust) the checkpoint the verifier saw last, if any:
// a checkpoint that does not extend it is a rollback or a fork, and fails.
// trust checks the checkpoint's RFC 3161 timestamp; requireTimestamp fails
// a checkpoint without a verified one (else it gets a warning).
//
// The store (ls lists it) must show no sign that the log was once larger
// than its checkpoint (ledger.Log.CheckHistory): that is how a verifier
// that remembers no checkpoint sees a rollback.
func OpenLog(ctx context.Context, l *ledger.Log, ls ledger.Lister, trust *sign.Verifier, requireTimestamp bool) *LogView {
	v := &LogView{log: l}
	c, signed, err := l.Latest(ctx)
	if err == nil {
		err = l.CheckHistory(ctx, ls, c)
	}
	var be *ledger.BatchError
	switch {
	case errors.As(err, &be):
		v.Head = append(v.Head, Check{Name: "log checkpoint", Object: be.Key, Status: Fail, Detail: err.Error()})
		return v
	case ledger.IsTampering(err):
		ck := Check{Name: "log checkpoint", Object: ledger.CheckpointKey, Status: Fail, Detail: err.Error()}
		// A rollback or fork shows both checkpoints.
		both := func(trusted, found custody.Checkpoint) {
			ck.Expected = fmt.Sprintf("a checkpoint extending the one seen before (%d entries, root %s)", trusted.Size, trusted.Root)
			ck.Found = fmt.Sprintf("%d entries, root %s", found.Size, found.Root)
		}
		var re *ledger.RollbackError
		var fe *ledger.ForkError
		var te *ledger.TruncatedError
		switch {
		case errors.As(err, &te):
			ck.Object = te.Batch
			ck.Expected = fmt.Sprintf("a checkpoint of at least %d entries (%s claims that position)", te.Start, te.Batch)
			ck.Found = fmt.Sprintf("%d entries, root %s", te.Found.Size, te.Found.Root)
		case errors.As(err, &re):
			both(re.Trusted, re.Found)
		case errors.As(err, &fe):
			both(fe.Trusted, fe.Found)
		}
		v.Head = append(v.Head, ck)
		return v
	case err != nil:
		v.Head = append(v.Head, Check{Name: "log checkpoint", Object: ledger.CheckpointKey, Status: Error, Detail: err.Error()})
		return v
	}
	v.Checkpoint, v.Signed, v.Usable, v.newest = c, signed, true, c
	v.tree = l.Tree(ctx, c)
	if c.Size == 0 {
		v.Head = append(v.Head, Check{Name: "log checkpoint", Object: ledger.CheckpointKey, Status: Pass, Detail: "the log holds no events yet"})
		return v
	}
	v.Head = append(v.Head, Check{Name: "log checkpoint", Object: ledger.CheckpointKey, Status: Pass,
		Detail: fmt.Sprintf("%d entries, root %s, signed by the trusted log key of %s", c.Size, c.Root, c.Origin)})
	v.Head = append(v.Head, CheckpointTimestamp(ctx, l, c, signed, trust, requireTimestamp))
	return v
}

// UnusableLog is a LogView whose log could not be opened: every item gets
// the check that says why.
func UnusableLog(c Check) *LogView { return &LogView{Head: []Check{c}} }

// CheckpointTimestamp checks the RFC 3161 timestamp stored for checkpoint c
// (signed is its signed note) against the trusted TSAs.
func CheckpointTimestamp(ctx context.Context, l *ledger.Log, c custody.Checkpoint, signed []byte, trust *sign.Verifier, require bool) Check {
	key := ledger.TimestampKey(c.Size)
	missing := Warn
	if require {
		missing = Fail
	}
	tok, err := l.Timestamp(ctx, c.Size)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return Check{Name: "log timestamp", Object: key, Status: missing, Expected: "a timestamp token for the checkpoint", Found: "none",
			Detail: "no trusted time for the checkpoint (no timestamp authority was configured, or the token was removed)"}
	case err != nil:
		return Check{Name: "log timestamp", Object: key, Status: Error, Detail: err.Error()}
	case len(tok) == 0:
		return Check{Name: "log timestamp", Object: key, Status: missing, Expected: "a timestamp token for the checkpoint", Found: "none",
			Detail: "the writer got no timestamp from its timestamp authority when it published the checkpoint (an empty token records that)"}
	}
	r := trust.VerifyTimestamp(tok, signed)
	if !r.OK() {
		return Check{Name: "log timestamp", Object: key, Status: failed(r.Err), Detail: r.Err.Error()}
	}
	return Check{Name: "log timestamp", Object: key, Status: Pass, Detail: "checkpoint timestamped " + r.Time.Format("2006-01-02T15:04:05Z") + " by " + r.TSA}
}

// checkItem proves the item's events in the checkpoint: each pointed-to
// entry is the one the signed tree holds at its index, names the item, and
// the ingested event names the stored record bundle rb, as the item's
// checks read it (rbErr: why they could not).
func (v *LogView) checkItem(ctx context.Context, c itemCheck, st storage.Store, id hashing.Digest, rb []byte, rbErr error) {
	for _, h := range v.Head {
		c.add(h)
	}
	if !v.Usable {
		return
	}
	prefix := PointerPrefix(id)
	ptrs, err := ReadPointers(ctx, st, id)
	var pe *PointerError
	switch {
	case errors.As(err, &pe):
		c.add(Check{Name: "log events", Object: pe.Key, Status: Fail, Detail: "an object that no writer makes: " + pe.Err.Error()})
		return
	case err != nil:
		c.add(storeErr("log events", prefix, err))
		return
	}
	bundleKey := custody.RecordBundleKey(id)
	if rbErr != nil {
		c.add(storeErr("log ingested", bundleKey, rbErr))
		return
	}
	bind := &binding{st: st, id: id, record: RecordDigest(rb)}
	counts := map[custody.EventType]int{}
	included, ingested, unbound := 0, 0, 0
	proven := v.Checkpoint
	for _, p := range ptrs {
		n := int64(len(p.Entries))
		cp := v.Checkpoint
		if p.First+n > cp.Size {
			// Logged after the checkpoint this run read, or past the log.
			newest, err := v.newer(ctx)
			if err != nil {
				c.add(logErr("log events", p.Key, err))
				return
			}
			if p.First+n > newest.Size {
				c.add(Check{Name: "log events", Object: p.Key, Status: Fail,
					Expected: fmt.Sprintf("events within the log's signed checkpoint of %d entries", newest.Size),
					Found:    fmt.Sprintf("a pointer to events %d to %d", p.First, p.First+n-1),
					Detail:   "the log once held these events: its checkpoint was rolled back or deleted (or the pointer was forged)"})
				return
			}
			cp = newest
			if cp.Size > proven.Size {
				proven = cp
			}
		}
		tree := v.tree
		if cp != v.Checkpoint {
			tree = v.log.Tree(ctx, cp)
		}
		entries, err := tree.Entries(p.First, n)
		if err != nil {
			c.add(logErr("log events", p.Key, fmt.Errorf("events %d to %d: %w", p.First, p.First+n-1, err)))
			return
		}
		for j, entry := range entries {
			i := p.First + int64(j)
			if !bytes.Equal(entry, p.Entries[j]) {
				c.add(Check{Name: "log events", Object: p.Key, Status: Fail, Expected: "the event the log holds at index " + strconv.FormatInt(i, 10),
					Found: "other bytes in the pointer (" + RecordDigest(p.Entries[j]) + ")"}) // same digest form as a record's
				return
			}
			ev, err := custody.ParseEvent(entry)
			if err != nil {
				c.add(Check{Name: "log events", Object: p.Key, Status: Fail, Detail: fmt.Sprintf("event %d: %v", i, err)})
				return
			}
			if ev.Item != id.String() {
				c.add(Check{Name: "log events", Object: p.Key, Status: Fail, Expected: id.String(), Found: ev.Item,
					Detail: fmt.Sprintf("event %d is about another item", i)})
				return
			}
			counts[ev.Type]++
			included++
			if ev.Type != custody.EventIngested {
				continue
			}
			ingested++
			if ev.Original == "" {
				unbound++
			}
			if bad := bind.check(ctx, ev, i); bad != nil {
				c.add(*bad)
				return
			}
		}
	}
	var parts []string
	for _, t := range []custody.EventType{custody.EventIngested, custody.EventArchived, custody.EventDerived, custody.EventAccessed,
		custody.EventVerified, custody.EventFixityChecked, custody.EventRetentionChanged} {
		if counts[t] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[t], t))
		}
	}
	detail := fmt.Sprintf("%d events proven in the checkpoint of %d entries", included, proven.Size)
	if len(parts) > 0 {
		detail += " (" + strings.Join(parts, ", ") + ")"
	}
	c.add(Check{Name: "log events", Object: prefix, Status: Pass, Detail: detail})
	if ingested == 0 {
		c.add(Check{Name: "log ingested", Object: prefix, Status: Fail, Expected: "an ingested event naming the record bundle", Found: "none",
			Detail: "the item's ingest is not in the custody log (removed, or an ingest that stopped before logging: exhibit ingest of the same file logs it)"})
		return
	}
	if unbound == ingested {
		// Logged before ingested events named the original bundle: its
		// signature is checked, but the log does not pin its bytes.
		c.add(Check{Name: "log ingested", Object: bundleKey, Status: Warn,
			Detail: "names the stored record bundle " + bind.record + "; the original bundle is not named (logged by an older version), so its timestamps are not bound to the log"})
		return
	}
	c.add(Check{Name: "log ingested", Object: bundleKey, Status: Pass, Detail: "names the stored record bundle " + bind.record + " and original bundle " + bind.original})
}

// binding checks that an item's ingested events name its bundles as stored:
// the record bundle (record, its digest as read by the item's checks) and
// the original bundle (read once, when an event names it).
type binding struct {
	st       storage.Store
	id       hashing.Digest
	record   string
	original string
}

// check returns the failed check when the ingested event ev (at index i)
// names other bundles than those stored, else nil.
func (b *binding) check(ctx context.Context, ev *custody.Event, i int64) *Check {
	if ev.Record != b.record {
		return &Check{Name: "log ingested", Object: custody.RecordBundleKey(b.id), Status: Fail, Expected: ev.Record, Found: b.record,
			Detail: fmt.Sprintf("the ingested event %d names another record bundle than the one stored", i)}
	}
	if ev.Original == "" {
		return nil // logged before events named the original bundle
	}
	obKey := custody.OriginalBundleKey(b.id)
	if b.original == "" {
		ob, err := storage.ReadAll(ctx, b.st, obKey, maxSmall)
		if err != nil {
			c := storeErr("log ingested", obKey, err)
			return &c
		}
		b.original = hashing.Sum256(ob).String()
	}
	if ev.Original != b.original {
		return &Check{Name: "log ingested", Object: obKey, Status: Fail, Expected: ev.Original, Found: b.original,
			Detail: fmt.Sprintf("the ingested event %d names another original bundle than the one stored (its signature or timestamps were changed)", i)}
	}
	return nil
}

// newer reads the log's newest checkpoint, checked to extend every
// checkpoint read before, and returns it.
func (v *LogView) newer(ctx context.Context) (custody.Checkpoint, error) {
	c, _, err := v.log.Latest(ctx)
	if err != nil {
		return custody.Checkpoint{}, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if c.Size > v.newest.Size {
		v.newest = c
	}
	return v.newest, nil
}

// logErr is the check of an error reading the log: evidence of tampering
// fails, anything else is a store error.
func logErr(name, key string, err error) Check {
	if ledger.IsTampering(err) {
		return Check{Name: name, Object: key, Status: Fail, Detail: err.Error()}
	}
	return Check{Name: name, Object: key, Status: Error, Detail: err.Error()}
}

// Logged is what the custody log says of an ingested item: the index of its
// first ingested event and the case that event names (empty in events
// written before events named cases).
type Logged struct {
	Index int64
	Case  string
	// Pending: the event is in the batch claimed after the checkpoint, not
	// yet published (ledger.Log.Pending).
	Pending bool
}

// LoggedItems reads every event under the checkpoint (each proven against
// it) and returns the items the log says were ingested: verify --all
// checks that the archive still holds every one of them, and verify --case
// every one of the case, so that deleting a whole item, pointers included,
// is caught.
func (v *LogView) LoggedItems(ctx context.Context) (map[string]Logged, error) {
	if v == nil || !v.Usable {
		return nil, nil
	}
	items := map[string]Logged{}
	for start := int64(0); start < v.Checkpoint.Size; {
		n := min(v.Checkpoint.Size-start, ledger.MaxBatch)
		entries, err := v.log.Entries(ctx, v.Checkpoint, start, n)
		if err != nil {
			return nil, err
		}
		for i, e := range entries {
			ev, err := custody.ParseEvent(e)
			if err != nil {
				return nil, &ledger.MalformedEntryError{Index: start + int64(i), Err: err}
			}
			if _, seen := items[ev.Item]; ev.Type == custody.EventIngested && ev.Item != "" && !seen {
				items[ev.Item] = Logged{Index: start + int64(i), Case: ev.Case}
			}
		}
		start += n
	}
	// The batch claimed after the checkpoint: its items were archived
	// before it was claimed, so they must be there too. (A log rolled back
	// by exactly one batch looks like one whose writer died.)
	pending, err := v.log.Pending(ctx, v.Checkpoint)
	if err != nil {
		return nil, err
	}
	for i, e := range pending {
		ev, err := custody.ParseEvent(e)
		if err != nil {
			return nil, &ledger.MalformedEntryError{Index: v.Checkpoint.Size + int64(i), Err: err}
		}
		if _, seen := items[ev.Item]; ev.Type == custody.EventIngested && ev.Item != "" && !seen {
			items[ev.Item] = Logged{Index: v.Checkpoint.Size + int64(i), Case: ev.Case, Pending: true}
		}
	}
	return items, nil
}

// DeletedItem is the report of an item the custody log records as ingested
// but the archive no longer holds.
func DeletedItem(id string, l Logged) ItemReport {
	return ItemReport{Item: id, Status: Missing, Case: l.Case, Checks: []Check{{ID: "item", Name: "item", Object: custody.ItemPrefix(mustDigest(id)), Status: Missing,
		Expected: expectedLogged(l),
		Found:    "nothing in the archive: the item was deleted"}}}
}

func expectedLogged(l Logged) string {
	if l.Pending {
		return fmt.Sprintf("the item the custody log's pending batch records as ingested (event %d, signed by the log key, not yet published)", l.Index)
	}
	return fmt.Sprintf("the item the custody log records as ingested (event %d)", l.Index)
}

func mustDigest(s string) hashing.Digest {
	d, _ := hashing.ParseDigest(s)
	return d
}
