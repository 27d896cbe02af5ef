package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/openexhibit/exhibit/custody"
)

const testOrigin = "exhibit.test/archive-1"

// logKey is the log key of the tests: always the same (from a fixed
// seed), so that a log kept between runs ($EXHIBIT_BENCH_LOG) verifies.
type logKey struct {
	signer    note.Signer
	verifiers note.Verifiers
}

var testKey = func() logKey {
	seed := [32]byte{'e', 'x', 'h', 'i', 'b', 'i', 't'}
	skey, vkey, err := custody.NewLogKey(mrand.NewChaCha8(seed), testOrigin)
	if err != nil {
		panic(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		panic(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		panic(err)
	}
	return logKey{signer: s, verifiers: note.VerifierList(v)}
}()

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newLog opens a writable log on s with a short help delay.
func newLog(t testing.TB, s Store) *Log {
	t.Helper()
	l, err := New(s, Options{Origin: testOrigin, Verifiers: testKey.verifiers, Signer: testKey.signer, HelpAfter: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// events returns n distinct canonical events; writer and seq make them
// unique across writers.
func events(writer, seq, n int) []*custody.Event {
	out := make([]*custody.Event, n)
	for i := range out {
		sum := sha256.Sum256([]byte(fmt.Sprintf("item %d/%d/%d", writer, seq, i)))
		out[i] = &custody.Event{
			V:    custody.EventVersion,
			Type: custody.EventIngested,
			Item: "sha256:" + hex.EncodeToString(sum[:]),
			Time: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC).Add(time.Duration(seq*1000+i) * time.Millisecond),
			Actor: custody.Actor{
				KeyFingerprint: "sha256:7c95a06168acce4678faea8b33fa71447ee784ad8fe532bac4b4acc06b8065a4",
				Operator:       fmt.Sprintf("writer %d", writer),
			},
		}
	}
	return out
}

func mustAppend(t testing.TB, l *Log, evs []*custody.Event) Appended {
	t.Helper()
	a, err := l.Append(testCtx(t), evs)
	if err != nil {
		t.Fatalf("Append(%d events): %v", len(evs), err)
	}
	return a
}
