package custody

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openexhibit/exhibit/hashing"
	"golang.org/x/mod/sumdb/tlog"
)

// eventVector is one entry of testdata/events.json: an event's canonical
// encoding and its RFC 6962 leaf hash, for independent implementations.
type eventVector struct {
	Name     string `json:"name"`
	Entry    string `json:"entry"`
	LeafHash string `json:"leafHash"`
}

func vectorEvents() map[string]*Event {
	at := time.Date(2026, 11, 2, 9, 30, 0, 123000000, time.FixedZone("CET", 3600))
	item := "sha256:52c3935626c104b2cbc9031291a1c4d56614c38f52072a361d658a58a9c48698"
	rec := "sha256:87797284efd1dfff524ae59072c131fdcbc62c55471fe4c1b2e330c4dfb574f4"
	actor := Actor{KeyFingerprint: "sha256:7c95a06168acce4678faea8b33fa71447ee784ad8fe532bac4b4acc06b8065a4", Operator: "Field Team 3", Host: "laptop-7"}
	hold := true
	until := time.Date(2027, 11, 2, 0, 0, 0, 0, time.UTC)
	return map[string]*Event{
		"ingested": {V: 1, Type: EventIngested, Item: item, Time: at, Actor: actor, Record: rec},
		"archived": {V: 1, Type: EventArchived, Item: item, Time: at, Actor: actor, Record: rec,
			Object: &EventObject{Store: "s3://evidence/ngo", Key: ObjectKey(mustDigest(item)), VersionID: "v1",
				Retention: &Retention{Mode: "COMPLIANCE", Until: until}}},
		"accessed":          {V: 1, Type: EventAccessed, Item: item, Time: at, Actor: actor, Command: "show"},
		"verified":          {V: 1, Type: EventVerified, Item: item, Time: at, Actor: actor, Record: rec, Result: "pass"},
		"fixity-checked":    {V: 1, Type: EventFixityChecked, Item: item, Time: at, Actor: actor, Result: "fail"},
		"fixity run":        {V: 1, Type: EventFixityChecked, Time: at, Actor: actor, Record: rec, Result: "pass"},
		"retention-changed": {V: 1, Type: EventRetentionChanged, Item: item, Time: at, Actor: actor, Retention: &Retention{Mode: "COMPLIANCE", Until: until}, LegalHold: &hold},
		"key-added":         {V: 1, Type: EventKeyAdded, Time: at, Actor: actor, Key: "sha256:" + strings.Repeat("ab", 32)},
		"exported":          {V: 1, Type: EventExported, Item: item, Time: at, Actor: actor, Record: rec, Recipient: "Defence counsel, case 12 (محامي الدفاع)"},
		"odd characters":    {V: 1, Type: EventAccessed, Item: item, Time: at, Actor: Actor{KeyFingerprint: actor.KeyFingerprint, Operator: "Ana <ana@example.org> & \"B\" é\u2028"}, Command: "export"},
	}
}

func mustDigest(s string) hashing.Digest { d, _ := hashing.ParseDigest(s); return d }

func TestEventVectors(t *testing.T) {
	path := filepath.Join("testdata", "events.json")
	events := vectorEvents()
	if *update {
		var vs []eventVector
		for _, name := range []string{"ingested", "archived", "accessed", "verified", "fixity-checked", "fixity run", "retention-changed", "key-added", "exported", "odd characters"} {
			b, err := events[name].Marshal()
			if err != nil {
				t.Fatal(err)
			}
			h := tlog.RecordHash(b)
			vs = append(vs, eventVector{Name: name, Entry: string(b), LeafHash: hex.EncodeToString(h[:])})
		}
		data, _ := json.MarshalIndent(vs, "", "  ")
		os.WriteFile(path, append(data, '\n'), 0o644)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var vs []eventVector
	if err := json.Unmarshal(data, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) != len(events) {
		t.Fatalf("%d vectors, %d events", len(vs), len(events))
	}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			got, err := events[v.Name].Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != v.Entry {
				t.Fatalf("encoding changed (rerun with -update if intended):\ngot  %s\nwant %s", got, v.Entry)
			}
			h := tlog.RecordHash([]byte(v.Entry))
			if hex.EncodeToString(h[:]) != v.LeafHash {
				t.Fatalf("leaf hash %x, want %s", h, v.LeafHash)
			}
			if _, err := ParseEvent([]byte(v.Entry)); err != nil {
				t.Fatalf("vector does not parse: %v", err)
			}
		})
	}
}

func TestParseEventRejects(t *testing.T) {
	good, _ := vectorEvents()["ingested"].Marshal()
	s := string(good)
	tests := []struct{ name, entry string }{
		{"whitespace", strings.Replace(s, `"type":`, `"type": `, 1)},
		{"field order", `{"type":"ingested","v":1` + s[len(`{"v":1,"type":"ingested"`):]},
		{"unknown field", strings.Replace(s, `"v":1,`, `"v":1,"x":1,`, 1)},
		{"unknown type", strings.Replace(s, `"ingested"`, `"deleted"`, 1)},
		{"version", strings.Replace(s, `"v":1`, `"v":2`, 1)},
		{"local time", strings.Replace(s, `08:30:00.123Z`, `09:30:00.123+01:00`, 1)},
		{"trailing newline", s + "\n"},
		{"two objects", s + s},
		{"no item", strings.Replace(s, `"item":"sha256:52c3935626c104b2cbc9031291a1c4d56614c38f52072a361d658a58a9c48698",`, ``, 1)},
		{"bad item", strings.Replace(s, `"item":"sha256:52`, `"item":"sha256:zz`, 1)},
		{"empty", ``},
		{"recipient on another event", s[:len(s)-1] + `,"recipient":"x"}`},
		{"exported without recipient", strings.Replace(s, `"type":"ingested"`, `"type":"exported"`, 1)},
		{"exported without package", `{"v":1,"type":"exported","item":"sha256:52c3935626c104b2cbc9031291a1c4d56614c38f52072a361d658a58a9c48698","time":"2026-11-02T08:30:00.123Z","actor":{"keyFingerprint":"sha256:7c95a06168acce4678faea8b33fa71447ee784ad8fe532bac4b4acc06b8065a4"},"recipient":"x"}`},
		{"fixity-checked of nothing", `{"v":1,"type":"fixity-checked","time":"2026-11-02T08:30:00.123Z","actor":{"keyFingerprint":"sha256:7c95a06168acce4678faea8b33fa71447ee784ad8fe532bac4b4acc06b8065a4"},"result":"pass"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.entry == s {
				t.Fatal("test did not change the entry")
			}
			if _, err := ParseEvent([]byte(tc.entry)); err == nil {
				t.Fatalf("accepted %s", tc.entry)
			}
		})
	}
}

func FuzzParseEvent(f *testing.F) {
	for _, e := range vectorEvents() {
		b, _ := e.Marshal()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseEvent(data)
		if err != nil {
			return
		}
		again, err := e.Marshal()
		if err != nil || string(again) != string(data) {
			t.Fatalf("parsed event does not re-encode to its entry: %v", err)
		}
	})
}
