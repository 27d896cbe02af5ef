package stac_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/openexhibit/exhibit/acquire/stac"
	"github.com/openexhibit/exhibit/acquire/stac/stactest"
	"github.com/openexhibit/exhibit/internal/testenv"
)

// BenchmarkAsset downloads a 500 MB asset from a loopback server that
// serves it from disk, in the same run: with curl -o (the baseline the
// issue names), with the Downloader alone, and with the Downloader
// checking a sha2-256 file:checksum as the bytes arrive, as stac acquire
// does. Each
// reports peak-heap-MiB, the largest heap in use while it ran (curl's is
// its own process's, not counted).
//
//	go test -run '^$' -bench Asset -benchtime 3x ./acquire/stac
func BenchmarkAsset(b *testing.B) {
	curl := testenv.Program(b, "curl", "curl")
	const size = 500 << 20
	dir := b.TempDir()
	src := filepath.Join(dir, "scene.tif")
	f, err := os.Create(src)
	if err != nil {
		b.Fatal(err)
	}
	h := sha256.New()
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 1<<20)
	for written := 0; written < size; written += len(buf) {
		for i := 0; i < len(buf); i += 8 {
			v := r.Uint64()
			for j := range 8 {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		f.Write(buf)
		h.Write(buf)
	}
	f.Close()
	checksum := "1220" + hex.EncodeToString(h.Sum(nil))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, src) }))
	defer srv.Close()
	u := srv.URL + "/scene.tif"
	out := filepath.Join(dir, "out.tif")
	b.Run("curl", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			os.Remove(out)
			if o, err := exec.Command(curl, "-sS", "-o", out, u).CombinedOutput(); err != nil {
				b.Fatalf("%v %s", err, o)
			}
		}
	})
	for _, check := range []bool{false, true} {
		name := "downloader"
		if check {
			name = "downloader+checksum"
		}
		b.Run(name, func(b *testing.B) {
			d := &stac.Downloader{HTTP: stac.HTTPClient(true, 0)}
			b.SetBytes(size)
			defer testenv.HeapPeak(b)()
			for b.Loop() {
				os.Remove(out)
				var k *stac.Checker
				var tee func() io.Writer
				if check {
					tee = func() io.Writer { k = stac.NewChecker(checksum, size); return k }
				}
				if _, err := d.Get(context.Background(), u, u, out, tee); err != nil {
					b.Fatal(err)
				}
				if check && k.Result().Status != stac.Match {
					b.Fatalf("%+v", k.Result())
				}
			}
		})
	}
}

// BenchmarkSearch pages through 1,000 items of the test server, 100 a
// page, by POST with a merged next body: the time, and the requests made
// (the landing page, its conformance, 10 pages).
//
//	go test -run '^$' -bench Search -benchtime 5x ./acquire/stac
func BenchmarkSearch(b *testing.B) {
	srv := stactest.Start(b, stactest.Options{Items: 1000})
	c := client()
	for b.Loop() {
		ctx := context.Background()
		l, err := c.Landing(ctx, srv.URL+"/")
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		if err := c.Search(ctx, l, stac.Search{Limit: 100}, 0, func(p *stac.Page) error { n += len(p.Items); return nil }); err != nil || n != 1000 {
			b.Fatalf("%d items, %v", n, err)
		}
	}
	b.ReportMetric(float64(srv.Requests("/")+srv.Requests("/conformance")+srv.Requests("/search"))/float64(b.N), "requests/op")
}
