package stac_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/openexhibit/exhibit/acquire/stac/stactest"
	"github.com/openexhibit/exhibit/internal/testenv"
)

// TestSTACIT: GDAL's STACIT driver, an independent STAC client, pages
// through the test server's search and reads the COGs it serves, so the
// server behaves as a real STAC API does (the mean of the patterned
// pictures' first band is 127.5).
func TestSTACIT(t *testing.T) {
	gdalinfo := testenv.Program(t, "gdal-bin", "gdalinfo")
	testenv.Program(t, "gdal-bin", "gdal_translate")
	srv := stactest.Start(t, stactest.Options{Items: 12, COGs: true})
	cmd := exec.Command(gdalinfo, "-stats", `STACIT:"`+srv.URL+`/search?collections=`+stactest.Collection+`&limit=5"`)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gdalinfo: %v\n%s", err, out)
	}
	if srv.Requests("/search") < 3 {
		t.Errorf("%d search requests: STACIT did not page", srv.Requests("/search"))
	}
	read := 0
	for i := range 12 {
		read += srv.Requests(stactest.AssetPath(i, "visual"))
	}
	if !strings.Contains(string(out), "UTM zone 36N") || !strings.Contains(string(out), "Mean=127.500") || read == 0 {
		t.Errorf("gdalinfo did not read the mosaic (%d asset requests):\n%s", read, out)
	}
}
