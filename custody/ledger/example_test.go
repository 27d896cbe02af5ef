package ledger_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/custody/ledger"
	"github.com/openexhibit/exhibit/storage/local"
)

// A writer appends a batch of events under one checkpoint; a verifier
// proves one event against that checkpoint and audits the whole log.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "exhibit-example-")
	defer os.RemoveAll(dir)
	store, err := local.Create(filepath.Join(dir, "archive"))
	if err != nil {
		log.Fatal(err)
	}

	// The archive's log key, made once by init; the origin names the log.
	const origin = "example.org/archive-1"
	skey, vkey, _ := custody.NewLogKey(rand.Reader, origin)
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	keys := note.VerifierList(verifier)

	w, err := ledger.New(store, ledger.Options{Origin: origin, Verifiers: keys, Signer: signer})
	if err != nil {
		log.Fatal(err)
	}
	ev := &custody.Event{
		V: custody.EventVersion, Type: custody.EventIngested,
		Item:  "sha256:52c3935626c104b2cbc9031291a1c4d56614c38f52072a361d658a58a9c48698",
		Time:  time.Date(2026, 11, 2, 8, 30, 0, 0, time.UTC),
		Actor: custody.Actor{KeyFingerprint: "sha256:7c95a06168acce4678faea8b33fa71447ee784ad8fe532bac4b4acc06b8065a4"},
	}
	a, err := w.Append(ctx, []*custody.Event{ev})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("event %d under checkpoint of size %d\n", a.First, a.Checkpoint.Size)

	// A verifier needs only the trusted keys (no signer).
	v, _ := ledger.New(store, ledger.Options{Origin: origin, Verifiers: keys})
	c, _, err := v.Latest(ctx)
	if err != nil {
		log.Fatal(err)
	}
	p, err := v.ProveInclusion(ctx, c, a.First)
	if err != nil {
		log.Fatal(err)
	}
	entry, _ := ev.Marshal()
	fmt.Println("included:", ledger.CheckInclusion(c, a.First, entry, p) == nil)
	rep, err := v.Audit(ctx, &a.Checkpoint)
	fmt.Println("audited entries:", rep.Entries, err)
	// Output:
	// event 0 under checkpoint of size 1
	// included: true
	// audited entries: 1 <nil>
}
