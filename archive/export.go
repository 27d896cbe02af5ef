package archive

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/custody/ledger"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/sign"
	"github.com/openexhibit/exhibit/storage"
)

// Disclosure is the custody side of a disclosure package: the exported
// events it put on record and, against one signed checkpoint that holds
// them, the inclusion proofs of every event the package carries.
type Disclosure struct {
	Checkpoint custody.Checkpoint
	// Signed is the checkpoint's signed note as stored.
	Signed []byte
	// Timestamp is the RFC 3161 token stored for the checkpoint; nil when
	// there is none (no TSA configured, or none answered).
	Timestamp []byte
	// Exported are the exported events, by item ID.
	Exported map[string]LoggedEvent
	// Entries are the exact bytes of the events asked for and of the
	// exported events, and Proofs their inclusion proofs in Checkpoint, by
	// event index.
	Entries map[int64][]byte
	Proofs  map[int64]tlog.RecordProof
}

// LogExport puts an export on record: one exported event per item,
// naming the package's tag manifest (tagManifest, "sha256:<hex>") and its
// recipient. It then proves every event of entries (the events the
// package carries, by index, as read before) and the new events against
// the checkpoint that published them, checking each proof before
// returning it. It needs the custody log key: an export that cannot be put
// on record is not made. When the trust file lists timestamp authorities,
// that checkpoint must carry a timestamp.
func (a *Archive) LogExport(ctx context.Context, items []hashing.Digest, tagManifest, recipient string, entries map[int64][]byte) (*Disclosure, error) {
	stamped := len(a.trustFile.TimestampAuthorities) > 0
	cl, err := a.openLog(ctx, logWrite, stamped)
	if errors.Is(err, ErrNoLog) {
		return nil, withKind(KindConfig, fmt.Errorf("%w: an export is put on record in the custody log", err), "")
	}
	if err != nil {
		return nil, err
	}
	who, err := a.homeActor()
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	events := make([]*custody.Event, len(items))
	for i, id := range items {
		events[i] = custody.ExportedEvent(id.String(), tagManifest, recipient, now, who)
	}
	app, err := cl.append(ctx, events)
	if err != nil {
		return nil, logFailure(err)
	}
	c, signed := cl.last.Checkpoint, cl.last.Signed
	all := maps.Clone(entries)
	d := &Disclosure{Checkpoint: c, Signed: signed, Exported: map[string]LoggedEvent{}, Entries: all, Proofs: map[int64]tlog.RecordProof{}}
	for _, ap := range app {
		entry, err := ap.Event.Marshal()
		if err != nil {
			return nil, err
		}
		all[ap.Index] = entry
		d.Exported[ap.Event.Item] = LoggedEvent{Index: ap.Index, Event: ap.Event, Entry: entry}
	}
	// In log order: neighbours share tiles, which the tree reads once.
	tree := cl.log.Tree(ctx, c)
	for _, i := range slices.Sorted(maps.Keys(all)) {
		entry := all[i]
		p, err := tree.ProveInclusion(i)
		if err == nil {
			err = ledger.CheckInclusion(c, i, entry, p)
		}
		if err != nil {
			return nil, logFailure(err)
		}
		d.Proofs[i] = p
	}
	tok, err := cl.log.Timestamp(ctx, c.Size)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("custody log: read the checkpoint's timestamp: %w", err)
	case len(tok) > 0:
		d.Timestamp = tok
	}
	if stamped && d.Timestamp == nil {
		return nil, fmt.Errorf("custody log: the checkpoint of size %d that holds the exported events has no timestamp (another writer published it without one): export again", c.Size)
	}
	return d, nil
}

// TrustFile returns the trust file the archive was opened with: what its
// verifier accepts (keys, TSAs, logs).
func (a *Archive) TrustFile() *sign.TrustFile { return a.trustFile }

// Origin returns the origin of the archive's custody log ("" when it has
// none).
func (a *Archive) Origin() string { return a.desc.Log }
