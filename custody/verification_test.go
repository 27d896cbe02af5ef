package custody

import (
	"strings"
	"testing"
	"time"
)

func TestVerificationRoundTrip(t *testing.T) {
	a := "sha256:" + strings.Repeat("a", 64)
	b := "sha256:" + strings.Repeat("b", 64)
	v := Verification{MediaType: VerificationMediaType, Time: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC),
		Actor: Actor{KeyFingerprint: b}, Scope: "case", Case: "c1", Checkpoint: VerifiedCheckpoint{Size: 12, Root: "AAAA"},
		Items: []VerifiedItem{{a, "pass"}, {b, "fail"}}}
	data, digest, err := v.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(digest, "sha256:") || VerificationKey(digest) != "verifications/"+digest[7:]+".json" {
		t.Fatalf("digest %q, key %q", digest, VerificationKey(digest))
	}
	back, err := ParseVerification(data)
	if err != nil || len(back.Items) != 2 || back.Case != "c1" {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	for name, edit := range map[string]func(*Verification){
		"unsorted":     func(v *Verification) { v.Items = []VerifiedItem{{b, "pass"}, {a, "pass"}} },
		"twice":        func(v *Verification) { v.Items = []VerifiedItem{{a, "pass"}, {a, "fail"}} },
		"bad result":   func(v *Verification) { v.Items = []VerifiedItem{{a, "ok"}} },
		"bad item":     func(v *Verification) { v.Items = []VerifiedItem{{"sha256:ab", "pass"}} },
		"case, no one": func(v *Verification) { v.Case = "" },
		"all, a case":  func(v *Verification) { v.Scope = "all" },
		"media type":   func(v *Verification) { v.MediaType = "x" },
	} {
		c := v
		edit(&c)
		if _, _, err := c.Marshal(); err == nil {
			t.Errorf("%s: Marshal accepted it", name)
		}
	}
	// A run's event: verified, no item, naming the result set.
	ev := Event{V: EventVersion, Type: EventVerified, Case: "c1", Time: v.Time, Actor: v.Actor, Record: digest, Result: "fail"}
	if _, err := ev.Marshal(); err != nil {
		t.Fatalf("run event: %v", err)
	}
	ev.Record = ""
	if _, err := ev.Marshal(); err == nil {
		t.Fatal("a verified event with neither item nor result set was accepted")
	}
	ing := Event{V: EventVersion, Type: EventAccessed, Item: a, Case: "c1", Time: v.Time, Actor: v.Actor}
	if _, err := ing.Marshal(); err == nil {
		t.Fatal("an accessed event naming a case was accepted")
	}
}
