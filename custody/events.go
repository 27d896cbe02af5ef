package custody

import "time"

// The events of each operation are built here and nowhere else, from what
// was signed: a record statement whose bundle verified, never an unsigned
// copy.

// Bound names the two signed bundles of an item by their SHA-256
// ("sha256:<hex>"): the record bundle (RecordBundleKey) and the original's
// message-signature bundle (OriginalBundleKey).
type Bound struct {
	Record, Original string
}

// IngestEvents are the events of one archived item: an ingested event
// that binds both bundles and names the record's case, an archived event
// per stored object (the original, the metadata document, each
// derivative) and a derived event per derivative. rec is the record of a
// verified statement, store the Location of the store that holds it.
func IngestEvents(item string, rec *Record, b Bound, store string, at time.Time, who Actor) []*Event {
	ev := func(t EventType) *Event {
		return &Event{V: EventVersion, Type: t, Item: item, Time: at, Actor: who}
	}
	ing := ev(EventIngested)
	ing.Record, ing.Original, ing.Case = b.Record, b.Original, rec.Case
	out := []*Event{ing}
	archived := func(o Object) {
		a := ev(EventArchived)
		a.Object = &EventObject{Store: store, Key: o.Key, VersionID: o.VersionID, Retention: rec.Storage.Retention}
		out = append(out, a)
	}
	archived(rec.Original)
	if rec.Metadata != nil {
		archived(rec.Metadata.Object)
	}
	for _, d := range rec.Derivatives {
		archived(d.Object)
		dv := ev(EventDerived)
		dv.Object = &EventObject{Store: store, Key: d.Key, VersionID: d.VersionID}
		out = append(out, dv)
	}
	return out
}

// AccessedEvent is the event of a command (show, get, export) that read
// an item.
func AccessedEvent(item, command string, at time.Time, who Actor) *Event {
	return &Event{V: EventVersion, Type: EventAccessed, Item: item, Time: at, Actor: who, Command: command}
}

// VerifiedEvent is the event of one item's verification with its result
// ("pass", "fail", "error"); typ is EventVerified, or EventFixityChecked
// for a scheduled audit's.
func VerifiedEvent(typ EventType, item, result string, at time.Time, who Actor) *Event {
	return &Event{V: EventVersion, Type: typ, Item: item, Time: at, Actor: who, Result: result}
}

// VerificationEvent is the item-less event of a verification run whose
// result set (Verification, stored at VerificationKey(digest)) names each
// item's result; result is the run's overall one; typ as for
// VerifiedEvent.
func VerificationEvent(typ EventType, v *Verification, digest, result string) *Event {
	return &Event{V: EventVersion, Type: typ, Case: v.Case, Time: v.Time, Actor: v.Actor, Record: digest, Result: result}
}

// ExportedEvent is the event of an item put in a disclosure package whose
// tag manifest has the digest tagManifest ("sha256:<hex>"), for recipient.
func ExportedEvent(item, tagManifest, recipient string, at time.Time, who Actor) *Event {
	return &Event{V: EventVersion, Type: EventExported, Item: item, Time: at, Actor: who, Record: tagManifest, Recipient: recipient}
}
