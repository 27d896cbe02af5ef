package verify_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/openexhibit/exhibit/capture"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/ingest"
	"github.com/openexhibit/exhibit/storage/local"
	"github.com/openexhibit/exhibit/verify"
)

// spanning makes derivatives that claim to be spans of the original:
// "part.txt" truly bytes 2+7, "liar.txt" bytes 2+7 of another content.
type spanning struct{}

func (spanning) ID() string           { return "test-span/1" }
func (spanning) MediaTypes() []string { return []string{"text/*"} }
func (spanning) Read(_ context.Context, src capture.Source) (*capture.Result, error) {
	part := make([]byte, 7)
	if _, err := src.ReadAt(part, 2); err != nil && err != io.EOF {
		return nil, err
	}
	span := map[string]string{"original-offset": "2", "original-length": "7"}
	d := func(name string, b []byte) capture.Derivative {
		return capture.Derivative{Name: name, Kind: "test", MediaType: "text/plain",
			Transform: capture.Transform{Name: "span", Version: "1", Params: span},
			Write:     func(_ context.Context, w io.Writer) error { _, err := w.Write(b); return err }}
	}
	return &capture.Result{Derivatives: []capture.Derivative{d("part.txt", part), d("liar.txt", []byte("forged!"))}}, nil
}

// TestDerivedSpans: a derivative whose record says it is a span of the
// original is compared with those bytes of the original, in the same read:
// the true one passes, the other fails, naming the span.
func TestDerivedSpans(t *testing.T) {
	ctx := context.Background()
	st, err := local.Create(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := newSigner(t)
	trust := trustOnly(t, s)
	reg, err := capture.NewRegistry(spanning{})
	if err != nil {
		t.Fatal(err)
	}
	in, err := ingest.New(ctx, ingest.Options{Store: st, Signer: s, Verifier: trust, Readers: reg})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "note.txt")
	os.WriteFile(p, []byte("a witness statement\n"), 0o644)
	res := in.File(ctx, p)
	if res.Status != ingest.Archived {
		t.Fatalf("ingest: %+v", res)
	}
	id, _ := hashing.ParseDigest(res.Item)
	ir := (&verify.Verifier{Store: st, Trust: trust}).Item(ctx, id)
	got := map[string]verify.Status{}
	for _, c := range ir.Checks {
		if c.Name == "derivative part.txt source" || c.Name == "derivative liar.txt source" {
			got[c.Name] = c.Status
		}
	}
	if got["derivative part.txt source"] != verify.Pass || got["derivative liar.txt source"] != verify.Fail || ir.Status != verify.Fail {
		t.Fatalf("span checks %v, item %s", got, ir.Status)
	}
}
