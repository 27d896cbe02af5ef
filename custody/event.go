package custody

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/openexhibit/exhibit/hashing"
)

// EventType names what happened to an item (or to the archive).
type EventType string

// The event types, specified in docs/formats.md.
const (
	EventIngested         EventType = "ingested"          // an item was acquired and its record signed
	EventDerived          EventType = "derived"           // a derivative was made from an item
	EventArchived         EventType = "archived"          // an object of an item was written to a store
	EventAccessed         EventType = "accessed"          // an item was read (show, get, export)
	EventVerified         EventType = "verified"          // an item was verified (with the result)
	EventFixityChecked    EventType = "fixity-checked"    // a scheduled audit re-hashed an item
	EventRetentionChanged EventType = "retention-changed" // retention or legal hold changed
	EventKeyAdded         EventType = "key-added"         // a signing key was added or rotated in
	EventExported         EventType = "exported"          // an item was put in a disclosure package
)

var eventTypes = map[EventType]bool{
	EventIngested: true, EventDerived: true, EventArchived: true, EventAccessed: true,
	EventVerified: true, EventFixityChecked: true, EventRetentionChanged: true, EventKeyAdded: true,
	EventExported: true,
}

// isRun says whether events of type t may name a verification run's
// result set instead of an item.
func isRun(t EventType) bool { return t == EventVerified || t == EventFixityChecked }

// EventVersion is the version of the event encoding.
const EventVersion = 1

// Event is one leaf of the custody log. Its encoding (Marshal) is the leaf:
// the log stores those exact bytes, and the Merkle leaf hash is computed over
// them, so verifiers never re-encode an event.
type Event struct {
	V    int       `json:"v"`
	Type EventType `json:"type"`
	// Item is the item ID ("sha256:<hex>"); empty for archive-wide events.
	Item string `json:"item,omitempty"`
	// Case is the case an ingested event's record names, so that the
	// signed log tells which items a case holds even when one of them is
	// deleted from the archive (empty in events written before it
	// existed), or the case a verification run covered.
	Case string `json:"case,omitempty"`
	// Time is when the actor says the event happened (its clock, UTC).
	// Trusted time comes from the timestamps on the log's checkpoints.
	Time  time.Time `json:"time"`
	Actor Actor     `json:"actor"`
	// Record is the SHA-256 ("sha256:<hex>") of the signed record bundle the
	// event refers to, when there is one; for a verified event without an
	// item (a verification run), of its result set (Verification); for an
	// exported event, of the package's tag manifest (tagmanifest-sha256.txt).
	Record string `json:"record,omitempty"`
	// Original is the SHA-256 ("sha256:<hex>") of the original's
	// message-signature bundle (OriginalBundleKey) that an ingested event
	// refers to: with Record it binds both bundles' bytes, timestamps
	// included, to the signed log. Empty in events written before it existed.
	Original string `json:"original,omitempty"`
	// Object describes the stored object of an archived event.
	Object *EventObject `json:"object,omitempty"`
	// Command names the command of an accessed event (show, get, export).
	Command string `json:"command,omitempty"`
	// Result is the outcome of a verified or fixity-checked event: "pass",
	// "fail", "not-found" or "error".
	Result string `json:"result,omitempty"`
	// Retention is the new retention of a retention-changed event.
	Retention *Retention `json:"retention,omitempty"`
	LegalHold *bool      `json:"legalHold,omitempty"`
	// Key is the fingerprint of a key-added event's key.
	Key string `json:"key,omitempty"`
	// Recipient is the label of whom an exported event's package is for.
	Recipient string `json:"recipient,omitempty"`
}

// Actor is who caused an event.
type Actor struct {
	KeyFingerprint string `json:"keyFingerprint"`
	Operator       string `json:"operator,omitempty"`
	Host           string `json:"host,omitempty"`
}

// EventObject is where an archived event's bytes went.
type EventObject struct {
	Store     string     `json:"store"`
	Key       string     `json:"key"`
	VersionID string     `json:"versionId,omitempty"`
	Retention *Retention `json:"retention,omitempty"`
}

// maxEvent bounds one encoded event.
const maxEvent = 1<<16 - 1 // entries are length-prefixed with 16 bits in entry tiles

// Marshal encodes the event in its one canonical form: compact JSON, fields
// in declaration order, absent optional fields omitted, times in UTC with
// nanoseconds trimmed of trailing zeros, no HTML escaping, no trailing newline.
func (e *Event) Marshal() ([]byte, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	c := *e
	c.Time = c.Time.UTC()
	if c.Retention != nil {
		r := *c.Retention
		r.Until = r.Until.UTC()
		c.Retention = &r
	}
	out, err := compactJSON(&c)
	if err != nil {
		return nil, fmt.Errorf("custody: encode event: %w", err)
	}
	if len(out) > maxEvent {
		return nil, fmt.Errorf("custody: event is %d bytes, over the %d limit", len(out), maxEvent)
	}
	return out, nil
}

// compactJSON encodes v as compact JSON in field order, without HTML
// escaping or a trailing newline: the one encoding of events and
// verification result sets.
func compactJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// ParseEvent decodes a log entry. It accepts only the canonical encoding:
// re-encoding the parsed event must give the same bytes, so an entry has
// exactly one meaning.
func ParseEvent(data []byte) (*Event, error) {
	if len(data) > maxEvent {
		return nil, fmt.Errorf("custody: event is %d bytes, over the %d limit", len(data), maxEvent)
	}
	var e Event
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("custody: decode event: %w", err)
	}
	if dec.More() {
		return nil, errors.New("custody: event: trailing data")
	}
	again, err := e.Marshal()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(again, data) {
		return nil, errors.New("custody: event is not in canonical form")
	}
	return &e, nil
}

func (e *Event) check() error {
	if e.V != EventVersion {
		return fmt.Errorf("custody: event version %d, want %d", e.V, EventVersion)
	}
	if !eventTypes[e.Type] {
		return fmt.Errorf("custody: unknown event type %q", e.Type)
	}
	if e.Time.IsZero() {
		return errors.New("custody: event has no time")
	}
	if e.Actor.KeyFingerprint == "" {
		return errors.New("custody: event has no actor key")
	}
	if e.Item != "" {
		if d, err := hashing.ParseDigest(e.Item); err != nil || d.Algorithm != hashing.SHA256 || d.String() != e.Item {
			return fmt.Errorf("custody: event item %q is not an item ID", e.Item)
		}
	} else if e.Type != EventKeyAdded && (!isRun(e.Type) || e.Record == "") {
		// A verified or fixity-checked event without an item is a run's:
		// it names the result set (Verification) in Record.
		return fmt.Errorf("custody: %s event names no item", e.Type)
	}
	for name, v := range map[string]string{"record": e.Record, "original": e.Original} {
		if v == "" {
			continue
		}
		if d, err := hashing.ParseDigest(v); err != nil || d.String() != v {
			return fmt.Errorf("custody: event %s %q is not a digest", name, v)
		}
	}
	if e.Type == EventExported && (e.Record == "" || e.Recipient == "") {
		return errors.New("custody: an exported event names the package's tag manifest and its recipient")
	}
	if e.Recipient != "" && e.Type != EventExported {
		return fmt.Errorf("custody: %s event names a recipient (only exported events do)", e.Type)
	}
	if e.Case != "" && e.Type != EventIngested && (!isRun(e.Type) || e.Item != "") {
		return fmt.Errorf("custody: %s event names a case (only ingested events and verification runs do)", e.Type)
	}
	return nil
}
