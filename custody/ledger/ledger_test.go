package ledger

import (
	"bytes"
	"errors"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/openexhibit/exhibit/custody"
)

func TestAppendReadProve(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ctx := testCtx(t)
			s := be.open(t).Store
			l := newLog(t, s)
			if c, signed, err := l.Latest(ctx); err != nil || c.Size != 0 || signed != nil {
				t.Fatalf("empty log: %+v %q %v", c, signed, err)
			}
			var all [][]byte
			var cps []custody.Checkpoint
			for i, n := range []int{1, 2, 253, 1, 300, 5, 700} {
				evs := events(0, i, n)
				a := mustAppend(t, l, evs)
				if a.First != int64(len(all)) || a.Count != n || a.Checkpoint.Size != int64(len(all)+n) {
					t.Fatalf("batch %d: appended %+v, want first %d count %d", i, a, len(all), n)
				}
				for _, e := range evs {
					b, _ := e.Marshal()
					all = append(all, b)
				}
				cps = append(cps, a.Checkpoint)
			}
			latest, signed, err := l.Latest(ctx)
			if err != nil || latest != cps[len(cps)-1] {
				t.Fatalf("Latest = %+v, %v; want %+v", latest, err, cps[len(cps)-1])
			}
			if c, err := custody.OpenCheckpoint(signed, testKey.verifiers, testOrigin); err != nil || c != latest {
				t.Fatalf("signed note: %+v %v", c, err)
			}
			// A fresh reader sees the same entries.
			r := newLog(t, s)
			got, err := r.Entries(ctx, latest, 0, latest.Size)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(all) {
				t.Fatalf("%d entries, want %d", len(got), len(all))
			}
			for i := range got {
				if !bytes.Equal(got[i], all[i]) {
					t.Fatalf("entry %d differs", i)
				}
			}
			for _, i := range []int64{0, 1, 255, 256, 257, latest.Size - 1} {
				p, err := r.ProveInclusion(ctx, latest, i)
				if err != nil {
					t.Fatal(err)
				}
				if err := CheckInclusion(latest, i, all[i], p); err != nil {
					t.Fatalf("inclusion of %d: %v", i, err)
				}
				var ie *InclusionError
				if err := CheckInclusion(latest, i, []byte("forged"), p); !errors.As(err, &ie) || ie.Index != i {
					t.Fatalf("forged entry %d: %v", i, err)
				}
			}
			for _, old := range cps {
				p, err := r.ProveConsistency(ctx, old, latest)
				if err != nil {
					t.Fatal(err)
				}
				if err := CheckConsistency(old, latest, p); err != nil {
					t.Fatalf("consistency %d -> %d: %v", old.Size, latest.Size, err)
				}
			}
			forged := cps[2]
			forged.Root = tlog.RecordHash([]byte("other"))
			p, _ := r.ProveConsistency(ctx, cps[2], latest)
			var fe *ForkError
			if err := CheckConsistency(forged, latest, p); !errors.As(err, &fe) || fe.Trusted != forged {
				t.Fatalf("forged old checkpoint: %v", err)
			}
			rep, err := r.Audit(ctx, &cps[0])
			if err != nil {
				t.Fatalf("Audit: %v", err)
			}
			if rep.Checkpoint != latest || rep.Entries != latest.Size {
				t.Fatalf("Audit report %+v", rep)
			}
		})
	}
}
