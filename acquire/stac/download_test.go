package stac_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openexhibit/exhibit/acquire/stac"
	"github.com/openexhibit/exhibit/acquire/stac/stactest"
)

func downloader() *stac.Downloader {
	return &stac.Downloader{HTTP: stac.HTTPClient(true, 0), MaxWait: 1500 * time.Millisecond}
}

// TestDownload: a whole asset, with what the server said of it.
func TestDownload(t *testing.T) {
	srv := stactest.Start(t, stactest.Options{Items: 2})
	u := srv.URL + stactest.AssetPath(0, "visual")
	path := filepath.Join(t.TempDir(), "visual.tif")
	f, err := downloader().Get(context.Background(), u, u, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, srv.Asset(0, "visual")) || f.Size != int64(len(got)) || f.ETag == "" || f.LastModified == "" ||
		!strings.HasPrefix(f.ContentType, "image/tiff") || f.Resumed || f.Attempts != 1 {
		t.Fatalf("%+v", f)
	}
	if _, err := os.Stat(path + ".part"); !os.IsNotExist(err) {
		t.Fatal("the .part file is left")
	}
}

// TestResume: a connection cut halfway is resumed with a Range request
// for the rest only; a file that changed in between is fetched again
// from the start (If-Range); 429 answers are waited out.
func TestResume(t *testing.T) {
	srv := stactest.Start(t, stactest.Options{Items: 2, AssetSize: 1 << 20})
	p := stactest.AssetPath(1, "visual")
	u := srv.URL + p
	dir := t.TempDir()
	srv.Cut(p)
	f, err := downloader().Get(context.Background(), u, u, filepath.Join(dir, "a.tif"), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "a.tif"))
	if !bytes.Equal(got, srv.Asset(1, "visual")) || !f.Resumed || f.Attempts != 2 || f.Restarted != 0 {
		t.Fatalf("cut: %+v", f)
	}

	// A run cut off halfway leaves the .part file; the file then changes
	// at the provider; the next run asks for the rest of the version it
	// has (If-Range), gets the new file whole, and keeps only that.
	srv.Cut(p)
	once := downloader()
	once.Retries = -1
	if _, err := once.Get(context.Background(), u, u, filepath.Join(dir, "b.tif"), nil); err == nil {
		t.Fatal("a cut with no retry succeeded")
	}
	if fi, err := os.Stat(filepath.Join(dir, "b.tif.part")); err != nil || fi.Size() != 1<<19 {
		t.Fatalf("the .part file after the cut: %v", err)
	}
	changed := append([]byte("a new version "), srv.Asset(1, "visual")...)
	srv.SetAsset(p, changed)
	f, err = downloader().Get(context.Background(), u, u, filepath.Join(dir, "b.tif"), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ = os.ReadFile(filepath.Join(dir, "b.tif"))
	if !bytes.Equal(got, changed) || f.Restarted != 1 || f.Resumed {
		t.Fatalf("changed: %d bytes, want %d; %+v", len(got), len(changed), f)
	}
	// Unchanged, a new run resumes: only the missing half is fetched.
	srv.Cut(p)
	if _, err := once.Get(context.Background(), u, u, filepath.Join(dir, "d.tif"), nil); err == nil {
		t.Fatal("a cut with no retry succeeded")
	}
	if f, err = downloader().Get(context.Background(), u, u, filepath.Join(dir, "d.tif"), nil); err != nil || !f.Resumed || f.Restarted != 0 {
		t.Fatalf("resumed run: %+v %v", f, err)
	}
	if got, _ = os.ReadFile(filepath.Join(dir, "d.tif")); !bytes.Equal(got, changed) {
		t.Fatal("resumed run: not the file")
	}

	// The machine crashed: the last bytes of the .part never reached the
	// disk. The resume compares the last MiB it has with the server's and
	// starts over; a checker fed as the bytes arrive sees the one file.
	srv.Cut(p)
	if _, err := once.Get(context.Background(), u, u, filepath.Join(dir, "e.tif"), nil); err == nil {
		t.Fatal("a cut with no retry succeeded")
	}
	torn, _ := os.ReadFile(filepath.Join(dir, "e.tif.part"))
	for i := len(torn) - 4096; i < len(torn); i++ {
		torn[i] = 0
	}
	os.WriteFile(filepath.Join(dir, "e.tif.part"), torn, 0o600)
	var k *stac.Checker
	f, err = downloader().Get(context.Background(), u, u, filepath.Join(dir, "e.tif"), func() io.Writer {
		k = stac.NewChecker(stactest.Multihash(changed), int64(len(changed)))
		return k
	})
	got, _ = os.ReadFile(filepath.Join(dir, "e.tif"))
	if err != nil || !bytes.Equal(got, changed) || f.Restarted != 1 || k.Result().Status != stac.Match {
		t.Fatalf("torn tail: %v, %+v, %+v", err, f, k.Result())
	}
	// A clean resume feeds the checker what was kept, then the rest.
	srv.Cut(p)
	once.Get(context.Background(), u, u, filepath.Join(dir, "g.tif"), nil)
	f, err = downloader().Get(context.Background(), u, u, filepath.Join(dir, "g.tif"), func() io.Writer {
		k = stac.NewChecker(stactest.Multihash(changed), int64(len(changed)))
		return k
	})
	if err != nil || !f.Resumed || k.Result().Status != stac.Match {
		t.Fatalf("resumed with a checker: %v, %+v, %+v", err, f, k.Result())
	}

	srv.TooMany(p, 2)
	start := time.Now()
	if f, err = downloader().Get(context.Background(), u, u, filepath.Join(dir, "c.tif"), nil); err != nil || f.Attempts != 3 || time.Since(start) < 2*time.Second {
		t.Fatalf("429: %+v, %v, %v", f, err, time.Since(start))
	}
}

// TestResumeLarge: a 4 MiB asset cut halfway is resumed by asking for the
// rest and the last MiB it has (to compare), not the whole file; a server
// that ignores If-Range and answers a changed file with a 206 is caught by
// its validators, and the download starts over.
func TestResumeLarge(t *testing.T) {
	for _, ignore := range []bool{false, true} {
		srv := stactest.Start(t, stactest.Options{Items: 1, AssetSize: 4 << 20, IgnoreIfRange: ignore})
		p := stactest.AssetPath(0, "visual")
		u := srv.URL + p
		dir := t.TempDir()
		once := downloader()
		once.Retries = -1
		srv.Cut(p)
		once.Get(context.Background(), u, u, filepath.Join(dir, "a.tif"), nil)
		before := srv.BytesServed(p)
		if ignore {
			srv.SetAsset(p, append([]byte("changed "), srv.Asset(0, "visual")[8:]...))
		}
		f, err := downloader().Get(context.Background(), u, u, filepath.Join(dir, "a.tif"), nil)
		got, _ := os.ReadFile(filepath.Join(dir, "a.tif"))
		if err != nil || !bytes.Equal(got, srv.Asset(0, "visual")) {
			t.Fatalf("ignore If-Range %v: %v, %d bytes", ignore, err, len(got))
		}
		resent := srv.BytesServed(p) - before
		if !ignore && (!f.Resumed || f.Restarted != 0 || resent != 3<<20) {
			t.Fatalf("resume: %+v, %d bytes sent again (want 3 MiB: the second half and the MiB before it)", f, resent)
		}
		if ignore && (f.Restarted != 1 || resent < 4<<20) {
			t.Fatalf("changed file behind a 206: %+v, %d bytes", f, resent)
		}
	}
}

// TestSignedURL: the signature in a URL is used, never recorded or shown.
func TestSignedURL(t *testing.T) {
	srv := stactest.Start(t, stactest.Options{Items: 1})
	href := srv.URL + stactest.AssetPath(0, "visual")
	signed := href + "?st=2026-03-20&se=2026-03-21&sp=r&sig=SECRET-SIGNATURE"
	if stac.Unsigned(signed) != href || stac.Unsigned(href+"?x=1") != href+"?x=1" {
		t.Fatalf("Unsigned: %s", stac.Unsigned(signed))
	}
	dir := t.TempDir()
	f, err := downloader().Get(context.Background(), signed, stac.Unsigned(signed), filepath.Join(dir, "a.tif"), nil)
	if err != nil || f.Href != href {
		t.Fatalf("%+v %v", f, err)
	}
	// A failure names the unsigned URL only.
	d := downloader()
	d.Retries = 1
	_, err = d.Get(context.Background(), srv.URL+"/assets/none.tif?sig=SECRET-SIGNATURE", srv.URL+"/assets/none.tif", filepath.Join(dir, "b.tif"), nil)
	if err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("%v", err)
	}
	closed := "http://127.0.0.1:1/x.tif"
	_, err = d.Get(context.Background(), closed+"?sig=SECRET-SIGNATURE", closed, filepath.Join(dir, "c.tif"), nil)
	if err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("%v", err)
	}
}

// TestPerHost: downloads from one host run at most PerHost at once.
func TestPerHost(t *testing.T) {
	srv := stactest.Start(t, stactest.Options{Items: 6})
	srv.Slow(100 * time.Millisecond)
	d := &stac.Downloader{HTTP: stac.HTTPClient(true, 0), PerHost: 2}
	dir := t.TempDir()
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			u := srv.URL + stactest.AssetPath(i, "visual")
			if _, err := d.Get(context.Background(), u, u, filepath.Join(dir, stactest.ID(i)), nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := srv.MaxInflight(); n != 2 {
		t.Fatalf("%d at once", n)
	}
}
