package verify

import (
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/sign"
)

func TestCheckDescriptor(t *testing.T) {
	const origin = "exhibit.archive/00112233445566778899aabbccddeeff"
	parse := func(s string) *custody.Archive {
		t.Helper()
		a, err := custody.ParseArchive([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	withLog := parse(`{"mediaType":"application/vnd.exhibit.archive+json;version=1","createdAt":"2026-11-01T10:00:00Z","keys":[],"log":"` + origin + `"}`)
	edited := parse(`{"mediaType":"application/vnd.exhibit.archive+json;version=1","createdAt":"2026-11-01T10:00:00Z","keys":[],"log":"` + origin + `","retentionDays":1}`)
	noLog := parse(`{"mediaType":"application/vnd.exhibit.archive+json;version=1","createdAt":"2026-11-01T10:00:00Z","keys":[]}`)
	nullLog := parse(`{"mediaType":"application/vnd.exhibit.archive+json;version=1","createdAt":"2026-11-01T10:00:00Z","keys":[],"log":null}`)
	otherLog := parse(`{"mediaType":"application/vnd.exhibit.archive+json;version=1","createdAt":"2026-11-01T10:00:00Z","keys":[],"log":"exhibit.archive/ffff"}`)

	_, vkey, err := custody.NewLogKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	none := &sign.TrustFile{}
	unpinned := &sign.TrustFile{}
	if err := unpinned.AddLog(vkey, time.Now()); err != nil {
		t.Fatal(err)
	}
	pinned := &sign.TrustFile{}
	if err := pinned.AddLog(vkey, time.Now()); err != nil {
		t.Fatal(err)
	}
	pinned.PinDescriptor(origin, withLog.Digest())

	for _, tc := range []struct {
		name string
		tf   *sign.TrustFile
		desc *custody.Archive
		bad  bool
	}{
		{"no logs trusted, none named", none, noLog, false},
		{"no logs trusted, one named (opening it fails instead)", none, withLog, false},
		{"log trusted, named", unpinned, withLog, false},
		{"log trusted, field removed", unpinned, noLog, true},
		{"log trusted, null", unpinned, nullLog, true},
		{"another log named (opening it fails instead)", unpinned, otherLog, false},
		{"pinned, as written", pinned, withLog, false},
		{"pinned, another field changed", pinned, edited, true},
		{"pinned, log removed", pinned, noLog, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckDescriptor(tc.tf, tc.desc)
			var de *DescriptorError
			if tc.bad != errors.As(err, &de) || (!tc.bad && err != nil) {
				t.Fatalf("CheckDescriptor = %v, want a *DescriptorError: %v", err, tc.bad)
			}
		})
	}
}

func TestVerdictOf(t *testing.T) {
	for s, want := range map[Status]Verdict{Pass: Intact, Warn: Intact, Fail: Tampered, Untrusted: Unverifiable,
		Missing: MissingItem, NotFound: NotInArchive, Error: NotVerified} {
		if got := VerdictOf(s); got != want {
			t.Errorf("VerdictOf(%s) = %s, want %s", s, got, want)
		}
	}
	// A tampered check outranks an untrusted one in the same item.
	if worse(Untrusted, Fail) != Fail || worse(Fail, Untrusted) != Fail || worse(Error, Untrusted) != Untrusted {
		t.Fatal("worse does not rank fail > untrusted > error")
	}
}
