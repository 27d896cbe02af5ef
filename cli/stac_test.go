package cli_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openexhibit/exhibit/acquire/stac"
	"github.com/openexhibit/exhibit/acquire/stac/stactest"
	"github.com/openexhibit/exhibit/cli"
	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/internal/testenv"
)

// TestStacCommands searches and acquires from the STAC test server (its
// assets COGs made by GDAL) as a user would: the scene is archived whole
// and verifies, and show reads the asset's georeference; a byte changed in
// an asset, or a part's record removed, fails verify with the check
// named; a MISMATCH is archived and said; loopback needs the insecure
// flag.
func TestStacCommands(t *testing.T) {
	testenv.Program(t, "gdal-bin", "gdal_translate")
	srv := stactest.Start(t, stactest.Options{Items: 12, COGs: true, Checksums: map[string]string{
		stactest.ID(3): stactest.Multihash([]byte("not what is served")),
	}})
	dir := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
	run := initHome(t, dir)
	api := srv.URL + "/"
	code, out := run("stac", "search", "--api", api, "--insecure-allow-private", "--collection", stactest.Collection, "--max-items", "5")
	if code != cli.ExitOK || strings.Count(out, "S2B_36UYA") != 5 || !strings.Contains(out, "2026-03-01T08:46:09.024000Z") {
		t.Fatalf("search: %d\n%s", code, out)
	}
	code, out = run("stac", "search", "--json", "--api", api, "--insecure-allow-private", "--max-cloud", "30")
	var res struct {
		Schema string
		Items  []struct{ ID string }
	}
	if code != cli.ExitOK || json.Unmarshal([]byte(out), &res) != nil || res.Schema != "exhibit.stac-search/v1" || len(res.Items) == 0 || len(res.Items) == 12 {
		t.Fatalf("search --json: %d\n%s", code, out)
	}

	code, out = run("stac", "acquire", "--case", "sat", "--api", api, "--insecure-allow-private", "--id", stactest.ID(2), "--assets", "visual")
	if code != cli.ExitOK || !strings.Contains(out, "3 archived") || !strings.Contains(out, "checksum match") {
		t.Fatalf("acquire: %d\n%s", code, out)
	}
	if code, out := run("verify", "--all"); code != cli.ExitOK || !strings.Contains(out, "3 of 3 items intact") {
		t.Fatalf("verify: %d\n%s", code, out)
	}
	// The asset's item: its record says what the provider stated.
	visual := srv.Asset(2, "visual")
	id := "sha256:" + hexSum(visual)
	code, out = run("show", id)
	out = columns.ReplaceAllString(out, "  ")
	for _, want := range []string{"source  stac (", "itemId  " + stactest.ID(2), "url  " + srv.URL + "/collections/", "assets[0].checksum.status  match", "assets[0].key  visual",
		"datetime  2026-03-03T08:46:09.024000Z", "part 3 of 3", "crs  EPSG:32636", "extent  W 36."} {
		if code != cli.ExitOK || !strings.Contains(out, want) {
			t.Fatalf("show: %d, no %q in\n%s", code, want, out)
		}
	}
	// A byte of the asset changed in the archive: verify names the check.
	rec := record(t, filepath.Join(dir, "archive"), id)
	obj := filepath.Join(dir, "archive", rec.Predicate.Original.Key)
	b, _ := os.ReadFile(obj)
	os.Chmod(obj, 0o644)
	b[len(b)/2] ^= 1
	if err := os.WriteFile(obj, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := run("verify", id); code != cli.ExitVerifyFail || !strings.Contains(out, "original") {
		t.Fatalf("verify after a changed byte: %d\n%s", code, out)
	}
	b[len(b)/2] ^= 1
	os.WriteFile(obj, b, 0o644)

	// A part of the scene gone (its record bundle removed): the other
	// parts fail the acquisition check.
	itemJSON := ""
	for _, p := range rec.Predicate.Acquisition.Parts {
		if p.Name == "item.json" {
			itemJSON = p.Item
		}
	}
	bundle := filepath.Join(dir, "archive", "items", strings.TrimPrefix(itemJSON, "sha256:"), "record.sigstore.json")
	saved, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(bundle, 0o644)
	os.Remove(bundle)
	if code, out := run("verify", id); code != cli.ExitVerifyFail || !strings.Contains(out, "acquisition") {
		t.Fatalf("verify without a part: %d\n%s", code, out)
	}
	os.WriteFile(bundle, saved, 0o444)

	// cosign verifies the asset's record against the asset, offline.
	t.Run("cosign", func(t *testing.T) {
		cosign := testenv.Cosign(t)
		home := filepath.Join(dir, "home")
		vf := filepath.Join(dir, "visual.tif")
		os.WriteFile(vf, visual, 0o644)
		out, err := exec.Command(cosign, "verify-blob-attestation", "--key", filepath.Join(home, "cosign.pub"),
			"--bundle", filepath.Join(dir, "archive", "items", strings.TrimPrefix(id, "sha256:"), "record.sigstore.json"),
			"--new-bundle-format", "--insecure-ignore-tlog=true", "--trusted-root", filepath.Join(home, "trusted_root.json"),
			"--type", "https://github.com/openexhibit/exhibit/custody-record/v2", vf).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Verified OK") {
			t.Fatalf("cosign: %v\n%s", err, out)
		}
	})

	// The same scene again: its asset, whose stated sha2-256 names an
	// archived item, is not downloaded again. Then the provider serves a
	// new version of it: downloaded, archived beside the earlier one.
	assetPath := stactest.AssetPath(2, "visual")
	fetched := srv.Requests(assetPath)
	code, out = run("stac", "acquire", "--case", "sat", "--api", api, "--insecure-allow-private", "--id", stactest.ID(2), "--assets", "visual")
	if code != cli.ExitOK || !strings.Contains(out, "already archived  "+stactest.ID(2)+" visual  "+id) || srv.Requests(assetPath) != fetched {
		t.Fatalf("again: %d (%d asset requests, %d before)\n%s", code, srv.Requests(assetPath), fetched, out)
	}
	srv.SetAsset(assetPath, append([]byte("reprocessed "), visual...))
	code, out = run("stac", "acquire", "--case", "sat", "--api", api, "--insecure-allow-private", "--id", stactest.ID(2), "--assets", "visual")
	if code != cli.ExitOK || !strings.Contains(out, "3 archived") || strings.Contains(out, "already archived  ") {
		t.Fatalf("new version: %d\n%s", code, out)
	}
	if code, out := run("verify", "--all"); code != cli.ExitOK || !strings.Contains(out, "6 of 6 items intact") {
		t.Fatalf("verify both versions: %d\n%s", code, out)
	}

	// A run cut off mid-asset (the connection drops, then the run is
	// interrupted while it waits to retry) archives nothing and keeps the
	// half it has; the next run fetches only the rest.
	cutPath := stactest.AssetPath(5, "visual")
	srv.Cut(cutPath)
	part := filepath.Join(dir, "cache", "exhibit", "stac", stactest.Collection+"-"+stactest.ID(5), "assets", "visual.tif.part")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	go func() { // interrupted once the half is on disk, while it waits to retry
		for ctx.Err() == nil {
			if fi, err := os.Stat(part); err == nil && fi.Size() > 0 {
				cancel()
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	var buf bytes.Buffer
	code = cli.Run(ctx, []string{"exhibit", "stac", "acquire", "--api", api, "--insecure-allow-private", "--id", stactest.ID(5)}, strings.NewReader(""), &buf, &buf)
	cancel()
	if code != cli.ExitInterrupted {
		t.Fatalf("interrupted: %d\n%s", code, buf.String())
	}
	if fi, err := os.Stat(part); err != nil || fi.Size() == 0 || fi.Size() >= int64(len(srv.Asset(5, "visual"))) {
		t.Fatalf("no partial download kept: %v", err)
	}
	code, out = run("stac", "acquire", "--api", api, "--insecure-allow-private", "--id", stactest.ID(5))
	if code != cli.ExitOK || !strings.Contains(out, "3 archived") {
		t.Fatalf("resumed run: %d\n%s", code, out)
	}
	var prov stac.Provenance
	rec = record(t, filepath.Join(dir, "archive"), "sha256:"+hexSum(srv.Asset(5, "visual")))
	if err := json.Unmarshal(rec.Predicate.Acquisition.Provenance, &prov); err != nil || len(prov.Assets) != 1 || !prov.Assets[0].Resumed {
		t.Fatalf("the record does not say the download was resumed (%v):\n%s", err, rec.Predicate.Acquisition.Provenance)
	}

	// A box inside one scene: its asset gets a clip of the tiles that
	// cover the box, which GDAL reads as its own cut of that window, and
	// verify proves it the provider's bytes; and a preview.
	box := "36.401,49.950,36.405,49.955" // pixels 194..226 x 82..138 of item 4: two tiles
	code, out = run("stac", "acquire", "--case", "sat", "--api", api, "--insecure-allow-private", "--id", stactest.ID(4), "--bbox", box, "--assets", "visual")
	if code != cli.ExitOK || !strings.Contains(out, "3 archived") {
		t.Fatalf("acquire with a box: %d\n%s", code, out)
	}
	id4 := "sha256:" + hexSum(srv.Asset(4, "visual"))
	code, out = run("verify", "--verbose", id4)
	if code != cli.ExitOK || !strings.Contains(out, "derivative clip.tif source") || !strings.Contains(out, "its 2 tiles") {
		t.Fatalf("verify the clip: %d\n%s", code, out)
	}
	clipFile, asset := filepath.Join(dir, "clip.tif"), filepath.Join(dir, "asset4.tif")
	os.WriteFile(asset, srv.Asset(4, "visual"), 0o644)
	if code, out := run("get", "--derivative", "clip.tif", "-o", clipFile, id4); code != cli.ExitOK {
		t.Fatalf("get the clip: %d\n%s", code, out)
	}
	if code, out := run("get", "--derivative", "preview.png", "-o", filepath.Join(dir, "preview.png"), id4); code != cli.ExitOK {
		t.Fatalf("get the preview: %d\n%s", code, out)
	}
	cut := filepath.Join(dir, "cut.tif")
	if out, err := exec.Command("gdal_translate", "-q", "-srcwin", "128", "0", "128", "256", asset, cut).CombinedOutput(); err != nil {
		t.Fatalf("gdal_translate: %v\n%s", err, out)
	}
	gdalSum := func(p string) string {
		out, err := exec.Command("gdalinfo", "-checksum", p).CombinedOutput()
		if err != nil {
			t.Fatalf("gdalinfo %s: %v\n%s", p, err, out)
		}
		var keep []string // origin, pixel size, checksums
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "Origin") || strings.HasPrefix(l, "Pixel Size") || strings.Contains(l, "Checksum=") || strings.HasPrefix(l, "Size is") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	if got, want := gdalSum(clipFile), gdalSum(cut); got != want || !strings.Contains(got, "Size is 128, 256") {
		t.Fatalf("GDAL reads the clip as\n%s\nand its own cut as\n%s", got, want)
	}
	code, out = run("show", id4)
	if code != cli.ExitOK || !strings.Contains(out, "clip.tif") || !strings.Contains(out, "window") {
		t.Fatalf("show: %d\n%s", code, out)
	}

	// A MISMATCH is archived, and said.
	code, out = run("stac", "acquire", "--case", "sat", "--api", api, "--insecure-allow-private", "--id", stactest.ID(3))
	if code != cli.ExitOK || !strings.Contains(out, "MISMATCH") || !strings.Contains(out, "archived as served") {
		t.Fatalf("mismatch: %d\n%s", code, out)
	}
	// Loopback without the flag: refused, nothing fetched.
	before := srv.Requests("/")
	if code, out := run("stac", "search", "--api", api); code != cli.ExitInput || !strings.Contains(out, "--insecure-allow-private") || srv.Requests("/") != before {
		t.Fatalf("loopback: %d\n%s", code, out)
	}
	two := filepath.Join(dir, "two.geojson")
	os.WriteFile(two, []byte(`{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": null}, {"type": "Feature", "geometry": null}]}`), 0o644)
	for _, args := range [][]string{
		{"stac", "search"},
		{"stac", "search", "--api", api, "--catalog", api},
		{"stac", "search", "--api", api, "--bbox", "36,50,35"},
		{"stac", "search", "--api", api, "--bbox", "36,91,37,92"},
		{"stac", "search", "--api", api, "--aoi", two},
		{"stac", "search", "--catalog", api + "static/catalog.json", "--bbox", "36,49,37,50"},
		{"stac", "acquire", "--api", api, "--sign", "aws"},
	} {
		if code, out := run(args...); code != cli.ExitUsage {
			t.Errorf("%v: exit %d\n%s", args, code, out)
		}
	}
	// Nothing is left behind in the download folder.
	if left, _ := os.ReadDir(filepath.Join(dir, "cache", "exhibit", "stac")); len(left) != 0 {
		t.Fatalf("left: %v", left)
	}
}

func record(t *testing.T, archive, id string) custody.Statement {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(archive, "items", strings.TrimPrefix(id, "sha256:"), "record.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st custody.Statement
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
