package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

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
	// Checkpoint is the log's latest checkpoint and Signed its signed note;
	// Usable is false when it did not verify (every item then fails).
	Checkpoint custody.Checkpoint
	Signed     []byte
	Usable     bool
	// Head are the checks of the checkpoint, reported with every item.
	Head []Check
}

// PointerPrefix is where an item's event pointers are kept: one object per
// event of the item, named by the event's log index (20 digits), holding
// the event's bytes, so that an item's events are found without reading
// the whole log.
func PointerPrefix(id hashing.Digest) string { return custody.ItemPrefix(id) + "log/" }

// maxPointers bounds the events of one item that are checked.
const maxPointers = 1 << 20

// OpenLog reads the log's latest checkpoint through l, which must already
// trust (ledger.Log.Trust) the checkpoint the verifier saw last, if any:
// a checkpoint that does not extend it is a rollback or a fork, and fails.
// trust checks the checkpoint's RFC 3161 timestamp; requireTimestamp fails
// a checkpoint without a verified one (else it gets a warning).
func OpenLog(ctx context.Context, l *ledger.Log, trust *sign.Verifier, requireTimestamp bool) *LogView {
	v := &LogView{log: l}
	c, signed, err := l.Latest(ctx)
	var re *ledger.RollbackError
	var fe *ledger.ForkError
	var ce *custody.CheckpointError
	switch {
	case errors.As(err, &re):
		v.Head = append(v.Head, Check{Name: "log checkpoint", Object: ledger.CheckpointKey, Status: Fail,
			Expected: fmt.Sprintf("a checkpoint extending the one seen before (%d entries, root %s)", re.Trusted.Size, re.Trusted.Root),
			Found:    fmt.Sprintf("%d entries, root %s", re.Found.Size, re.Found.Root), Detail: err.Error()})
		return v
	case errors.As(err, &fe):
		v.Head = append(v.Head, Check{Name: "log checkpoint", Object: ledger.CheckpointKey, Status: Fail,
			Expected: fmt.Sprintf("a checkpoint extending the one seen before (%d entries, root %s)", fe.Trusted.Size, fe.Trusted.Root),
			Found:    fmt.Sprintf("%d entries, root %s", fe.Found.Size, fe.Found.Root), Detail: err.Error()})
		return v
	case errors.As(err, &ce):
		v.Head = append(v.Head, Check{Name: "log checkpoint", Object: ledger.CheckpointKey, Status: Fail, Detail: err.Error()})
		return v
	case err != nil:
		v.Head = append(v.Head, Check{Name: "log checkpoint", Object: ledger.CheckpointKey, Status: Error, Detail: err.Error()})
		return v
	}
	v.Checkpoint, v.Signed, v.Usable = c, signed, true
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
		return Check{Name: "log timestamp", Object: key, Status: Fail, Detail: r.Err.Error()}
	}
	return Check{Name: "log timestamp", Object: key, Status: Pass, Detail: "checkpoint timestamped " + r.Time.Format("2006-01-02T15:04:05Z") + " by " + r.TSA}
}

// checkItem proves the item's events in the checkpoint: each pointed-to
// entry is the one the signed tree holds at its index, names the item, and
// the ingested event names the stored record bundle.
func (v *LogView) checkItem(ctx context.Context, c itemCheck, st storage.Store, id hashing.Digest) {
	for _, h := range v.Head {
		c.add(h)
	}
	if !v.Usable {
		return
	}
	prefix := PointerPrefix(id)
	var idx []int64
	err := st.List(ctx, prefix, func(o storage.Object) error {
		name := strings.TrimPrefix(o.Key, prefix)
		n, err := strconv.ParseInt(name, 10, 64)
		if err != nil || n < 0 || len(name) != 20 {
			return fmt.Errorf("unexpected object %s", o.Key)
		}
		if len(idx) >= maxPointers {
			return fmt.Errorf("more than %d events", maxPointers)
		}
		idx = append(idx, n)
		return nil
	})
	if err != nil {
		c.add(Check{Name: "log events", Object: prefix, Status: Error, Detail: err.Error()})
		return
	}
	sort.Slice(idx, func(i, j int) bool { return idx[i] < idx[j] })
	bundleKey := custody.RecordBundleKey(id)
	rb, err := storage.ReadAll(ctx, st, bundleKey, maxSmall)
	if err != nil {
		c.add(storeErr("log ingested", bundleKey, err))
		return
	}
	sum := sha256.Sum256(rb)
	record := "sha256:" + hex.EncodeToString(sum[:])
	counts := map[custody.EventType]int{}
	included, later, ingested := 0, 0, 0
	for _, i := range idx {
		key := prefix + fmt.Sprintf("%020d", i)
		if i >= v.Checkpoint.Size {
			later++ // appended after the checkpoint this run read
			continue
		}
		ptr, err := storage.ReadAll(ctx, st, key, 1<<16)
		if err != nil {
			c.add(storeErr("log events", key, err))
			return
		}
		entries, err := v.log.Entries(ctx, v.Checkpoint, i, 1)
		if err != nil {
			status := Error
			var me *ledger.EntryMismatchError
			var ie *ledger.InclusionError
			var rt *ledger.ReplacedTileError
			if errors.As(err, &me) || errors.As(err, &ie) || errors.As(err, &rt) {
				status = Fail
			}
			c.add(Check{Name: "log events", Object: key, Status: status, Detail: fmt.Sprintf("event %d: %v", i, err)})
			return
		}
		if !bytes.Equal(entries[0], ptr) {
			c.add(Check{Name: "log events", Object: key, Status: Fail, Expected: "the event the log holds at index " + strconv.FormatInt(i, 10),
				Found: "other bytes in the pointer (sha256:" + hex.EncodeToString(sha(ptr)) + ")"})
			return
		}
		ev, err := custody.ParseEvent(entries[0])
		if err != nil {
			c.add(Check{Name: "log events", Object: key, Status: Fail, Detail: fmt.Sprintf("event %d: %v", i, err)})
			return
		}
		if ev.Item != id.String() {
			c.add(Check{Name: "log events", Object: key, Status: Fail, Expected: id.String(), Found: ev.Item,
				Detail: fmt.Sprintf("event %d is about another item", i)})
			return
		}
		counts[ev.Type]++
		included++
		if ev.Type == custody.EventIngested {
			ingested++
			if ev.Record != record {
				c.add(Check{Name: "log ingested", Object: bundleKey, Status: Fail, Expected: ev.Record, Found: record,
					Detail: fmt.Sprintf("the ingested event %d names another record bundle than the one stored", i)})
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
	detail := fmt.Sprintf("%d events proven in the checkpoint of %d entries", included, v.Checkpoint.Size)
	if len(parts) > 0 {
		detail += " (" + strings.Join(parts, ", ") + ")"
	}
	if later > 0 {
		detail += fmt.Sprintf("; %d newer than it, not checked", later)
	}
	c.add(Check{Name: "log events", Object: prefix, Status: Pass, Detail: detail})
	if ingested == 0 {
		c.add(Check{Name: "log ingested", Object: prefix, Status: Fail, Expected: "an ingested event naming the record bundle", Found: "none",
			Detail: "the item's ingest is not in the custody log (removed, or an ingest that stopped before logging: exhibit ingest of the same file logs it)"})
		return
	}
	c.add(Check{Name: "log ingested", Object: bundleKey, Status: Pass, Detail: "names the stored record bundle " + record})
}

func sha(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// LoggedItems reads every event under the checkpoint (each proven against
// it) and returns the items the log says were ingested, with the index of
// the first ingested event of each: verify --all checks that the archive
// still holds every one of them, so that deleting a whole item, pointers
// included, is caught.
func (v *LogView) LoggedItems(ctx context.Context) (map[string]int64, error) {
	if v == nil || !v.Usable {
		return nil, nil
	}
	items := map[string]int64{}
	for start := int64(0); start < v.Checkpoint.Size; {
		n := min(v.Checkpoint.Size-start, ledger.MaxBatch)
		entries, err := v.log.Entries(ctx, v.Checkpoint, start, n)
		if err != nil {
			return nil, err
		}
		for i, e := range entries {
			ev, err := custody.ParseEvent(e)
			if err != nil {
				return nil, fmt.Errorf("custody log entry %d: %w", start+int64(i), err)
			}
			if _, seen := items[ev.Item]; ev.Type == custody.EventIngested && ev.Item != "" && !seen {
				items[ev.Item] = start + int64(i)
			}
		}
		start += n
	}
	return items, nil
}

// DeletedItem is the report of an item the custody log records as ingested
// but the archive no longer holds.
func DeletedItem(id string, index int64) ItemReport {
	return ItemReport{Item: id, Status: Fail, Checks: []Check{{Name: "item", Object: custody.ItemPrefix(mustDigest(id)), Status: Fail,
		Expected: fmt.Sprintf("the item the custody log records as ingested (event %d)", index),
		Found:    "nothing in the archive: the item was deleted"}}}
}

func mustDigest(s string) hashing.Digest {
	d, _ := hashing.ParseDigest(s)
	return d
}
