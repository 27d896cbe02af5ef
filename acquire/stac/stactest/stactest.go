// Package stactest is the STAC API test server of the satellite
// acquisition tests: Sentinel-2 L2A-shaped items over assets it serves
// with Range and ETag, searched by GET or POST with paging, the filter
// (CQL2 JSON) or query extension or neither, a static catalog beside it,
// and faults to inject. No STAC API server installs on these machines;
// GDAL's STACIT driver checks that this one behaves like a real one.
package stactest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options shape the server.
type Options struct {
	// Items is how many items the collection holds (default 25).
	Items int
	// Filter is the extension searches may use: "cql2-json", "query" or
	// "" (none: the client filters).
	Filter string
	// GetOnly serves search by GET only (paging by a token in the URL).
	GetOnly bool
	// AssetSize is the size of each item's visual asset (default 64 KiB).
	AssetSize int
	// Blob, when set ("ACCOUNT.blob.core.windows.net"), gives assets
	// Azure blob hrefs on that host (container "sentinel2-l2"), which the
	// server serves only with the SAS token of its token service at
	// /api/sas/v1/token/ACCOUNT/sentinel2-l2 (as Planetary Computer
	// does), over HTTPS: a client must resolve the host to the server and
	// accept its certificate.
	Blob string
	// COGs makes each visual asset a real cloud-optimized GeoTIFF (GDAL's
	// gdal_translate of a patterned picture, 256 x 256 pixels of 10 m in UTM
	// zone 36N, 128-pixel tiles), with proj:transform and proj:shape on
	// the item; otherwise assets are AssetSize pseudo-random bytes.
	COGs bool
	// IgnoreIfRange serves ranges whatever If-Range says (as some object
	// stores do), so that a changed file is answered with a 206.
	IgnoreIfRange bool
	// Assets maps an asset path to bytes served in place of the generated
	// ones (a changed file); Checksums an item's visual asset to the
	// file:checksum stated for it ("" leaves it out).
	Assets    map[string][]byte
	Checksums map[string]string
}

// Server is a running test server.
type Server struct {
	*httptest.Server
	o Options
	// Requests counts the requests by path.
	mu       sync.Mutex
	requests map[string]int
	// TooMany answers the next n requests for a path with 429 and
	// Retry-After: 1.
	tooMany map[string]int
	// cut drops the connection of the next request for a path after half
	// of the body.
	cut map[string]bool
	// assets in flight now, and at most.
	inflight, maxInflight int
	// slow delays each asset response's body by this much.
	slow time.Duration
	// served counts the body bytes sent by path.
	served map[string]int64
}

// BytesServed is how many body bytes path was sent so far.
func (s *Server) BytesServed(path string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.served[path]
}

// counting counts the body bytes written for a path.
type counting struct {
	http.ResponseWriter
	s    *Server
	path string
}

func (c counting) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.s.mu.Lock()
	c.s.served[c.path] += int64(n)
	c.s.mu.Unlock()
	return n, err
}

func (c counting) Flush() { c.ResponseWriter.(http.Flusher).Flush() }

// SetAsset serves b at path from now on (a file changed at the provider).
func (s *Server) SetAsset(path string, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.o.Assets == nil {
		s.o.Assets = map[string][]byte{}
	}
	s.o.Assets[path] = b
}

// Slow makes each asset response wait d before its body.
func (s *Server) Slow(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slow = d
}

// MaxInflight is the most asset requests served at once so far.
func (s *Server) MaxInflight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInflight
}

// Collection is the test collection's ID.
const Collection = "sentinel-2-l2a"

// BlobContainer is the container of Options.Blob's hrefs; SASToken the
// token the token service gives.
const (
	BlobContainer = "sentinel2-l2"
	SASToken      = "st=2026-03-20T00%3A00%3A00Z&se=2026-03-21T00%3A00%3A00Z&sp=rl&sv=2021-06-08&sr=c&sig=TEST-SIGNATURE%3D"
)

// Start starts the server (plain HTTP on 127.0.0.1); it stops when the
// test ends.
func Start(t testing.TB, o Options) *Server {
	if o.Items <= 0 {
		o.Items = 25
	}
	if o.AssetSize <= 0 {
		o.AssetSize = 64 << 10
	}
	s := &Server{o: o, requests: map[string]int{}, tooMany: map[string]int{}, cut: map[string]bool{}, served: map[string]int64{}}
	if o.COGs {
		s.makeCOGs(t)
	}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	// After s.Server is set: the handlers read its URL.
	if o.Blob != "" {
		s.StartTLS() // SAS tokens go over HTTPS only
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

// utm is the upper-left corner of item i's raster, in metres of UTM zone
// 36N.
func utm(i int) (x, y float64) { return 714000 + float64(i%5)*7000, 5540000 + float64(i/5)*11000 }

// makeCOGs makes each item's visual asset a COG with GDAL.
func (s *Server) makeCOGs(t testing.TB) {
	dir := t.TempDir()
	run := func(args ...string) {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	// Pixels that differ from their neighbours, so that a tile out of
	// place shows.
	img := image.NewRGBA(image.Rect(0, 0, 256, 256))
	for y := range 256 {
		for x := range 256 {
			img.Set(x, y, color.RGBA{uint8(x*7 + y*3), uint8(x ^ y), uint8((x * y) >> 3), 255})
		}
	}
	var pb bytes.Buffer
	png.Encode(&pb, img)
	base := filepath.Join(dir, "base.png")
	if err := os.WriteFile(base, pb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if s.o.Assets == nil {
		s.o.Assets = map[string][]byte{}
	}
	for i := range s.o.Items {
		x, y := utm(i)
		out := filepath.Join(dir, fmt.Sprintf("%d.tif", i))
		run("gdal_translate", "-q", "-of", "COG", "-co", "BLOCKSIZE=128", "-a_srs", "EPSG:32636", "-a_ullr",
			fmt.Sprint(x), fmt.Sprint(y), fmt.Sprint(x+2560), fmt.Sprint(y-2560), base, out)
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		s.o.Assets[AssetPath(i, "visual")] = b
	}
}

// TooMany makes the next n requests for path answer 429 Too Many
// Requests with Retry-After: 1.
func (s *Server) TooMany(path string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tooMany[path] = n
}

// Cut makes the next request for path drop its connection halfway.
func (s *Server) Cut(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cut[path] = true
}

// Requests is how many requests path received.
func (s *Server) Requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[path]
}

// ID is the ID of item i.
func ID(i int) string {
	return fmt.Sprintf("S2B_36UYA_202603%02d_%d_L2A", 1+i%28, i/28)
}

// Asset is the bytes of item i's asset key as served.
func (s *Server) Asset(i int, key string) []byte {
	s.mu.Lock()
	b, ok := s.o.Assets[AssetPath(i, key)]
	s.mu.Unlock()
	if ok {
		return b
	}
	r := rand.New(rand.NewPCG(uint64(i), uint64(len(key))))
	b = make([]byte, s.o.AssetSize)
	for j := range b {
		b[j] = byte(r.Uint32())
	}
	return b
}

// AssetPath is where item i's asset key is served.
func AssetPath(i int, key string) string { return fmt.Sprintf("/assets/%s/%s.tif", ID(i), key) }

// Multihash is the hex sha2-256 multihash of b, as file:checksum gives it.
func Multihash(b []byte) string {
	sum := sha256.Sum256(b)
	return "1220" + hex.EncodeToString(sum[:])
}

// item is item i as a map.
func (s *Server) item(i int) map[string]any {
	id := ID(i)
	visual := s.Asset(i, "visual")
	checksum, stated := Multihash(s.Asset(i, "visual")), true
	if c, ok := s.o.Checksums[id]; ok {
		checksum, stated = c, c != ""
	}
	href := s.URL + AssetPath(i, "visual")
	if s.o.Blob != "" {
		href = "https://" + s.o.Blob + "/" + BlobContainer + AssetPath(i, "visual")
	}
	asset := map[string]any{"href": href, "type": "image/tiff; application=geotiff; profile=cloud-optimized",
		"roles": []string{"visual"}, "file:size": len(visual)}
	if stated {
		asset["file:checksum"] = checksum
	}
	if s.o.COGs {
		x, y := utm(i)
		asset["proj:transform"] = []float64{10, 0, x, 0, -10, y}
		asset["proj:shape"] = []int{256, 256}
	}
	day := 1 + i%28
	lon, lat := 36.0+float64(i%5)*0.1, 49.9+float64(i/5)*0.1
	return map[string]any{
		"type": "Feature", "stac_version": "1.0.0", "id": id, "collection": Collection,
		"stac_extensions": []string{"https://stac-extensions.github.io/eo/v1.1.0/schema.json",
			"https://stac-extensions.github.io/file/v2.1.0/schema.json", "https://stac-extensions.github.io/projection/v1.1.0/schema.json"},
		"bbox":     []float64{lon, lat, lon + 0.1, lat + 0.1},
		"geometry": map[string]any{"type": "Polygon", "coordinates": [][][]float64{{{lon, lat}, {lon + 0.1, lat}, {lon + 0.1, lat + 0.1}, {lon, lat + 0.1}, {lon, lat}}}},
		"properties": map[string]any{
			"datetime": time.Date(2026, 3, day, 8, 46, 9, 24000000, time.UTC).Format("2006-01-02T15:04:05.000000Z"),
			"platform": "sentinel-2b", "constellation": "sentinel-2", "eo:cloud_cover": float64(i*7%100) + 0.25,
			"proj:epsg": 32636, "s2:processing_baseline": "05.11", "processing:level": "L2A",
		},
		"assets": map[string]any{"visual": asset},
		"links": []map[string]string{
			{"rel": "self", "href": s.URL + "/collections/" + Collection + "/items/" + id, "type": "application/geo+json"},
			{"rel": "collection", "href": s.URL + "/collections/" + Collection},
		},
		"license": "proprietary",
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests[r.URL.Path]++
	busy := s.tooMany[r.URL.Path] > 0
	if busy {
		s.tooMany[r.URL.Path]--
	}
	cut := s.cut[r.URL.Path]
	delete(s.cut, r.URL.Path)
	s.mu.Unlock()
	if busy {
		w.Header().Set("Retry-After", "1")
		http.Error(w, `{"code": "TooManyRequests"}`, http.StatusTooManyRequests)
		return
	}
	if s.o.Blob != "" {
		if rest, ok := strings.CutPrefix(r.URL.Path, "/api/sas/v1/token/"); ok {
			if rest != strings.TrimSuffix(s.o.Blob, ".blob.core.windows.net")+"/"+BlobContainer {
				http.NotFound(w, r)
				return
			}
			writeJSON(w, map[string]string{"msft:expiry": time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "token": SASToken})
			return
		}
		if rest, ok := strings.CutPrefix(r.URL.Path, "/"+BlobContainer); ok && r.Host == s.o.Blob {
			if r.URL.Query().Get("sig") != "TEST-SIGNATURE=" {
				http.Error(w, "AuthenticationFailed", http.StatusForbidden)
				return
			}
			r.URL.Path = rest
		}
	}
	switch p := r.URL.Path; {
	case p == "/":
		s.landing(w)
	case p == "/conformance":
		writeJSON(w, map[string]any{"conformsTo": s.conformance()})
	case p == "/search":
		s.search(w, r)
	case strings.HasPrefix(p, "/collections/"+Collection+"/items/"):
		id := strings.TrimPrefix(p, "/collections/"+Collection+"/items/")
		for i := range s.o.Items {
			if ID(i) == id {
				// An item at its own URL is indented, unlike the compact
				// one in a search page: the same item, other bytes.
				b, _ := json.MarshalIndent(s.item(i), "", "  ")
				w.Header().Set("Content-Type", "application/geo+json")
				w.Write(b)
				return
			}
		}
		http.NotFound(w, r)
	case strings.HasPrefix(p, "/assets/"):
		s.asset(w, r, cut)
	case strings.HasPrefix(p, "/static/"):
		s.static(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) conformance() []string {
	c := []string{"https://api.stacspec.org/v1.0.0/core", "https://api.stacspec.org/v1.0.0/item-search",
		"https://api.stacspec.org/v1.0.0/ogcapi-features"}
	switch s.o.Filter {
	case "cql2-json":
		c = append(c, "https://api.stacspec.org/v1.0.0-rc.2/item-search#filter", "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json")
	case "query":
		c = append(c, "https://api.stacspec.org/v1.0.0-rc.1/item-search#query")
	}
	return c
}

func (s *Server) landing(w http.ResponseWriter) {
	search := map[string]string{"rel": "search", "href": s.URL + "/search", "type": "application/geo+json", "method": "POST"}
	if s.o.GetOnly {
		search["method"] = "GET"
	}
	writeJSON(w, map[string]any{
		"type": "Catalog", "id": "test-api", "title": "Exhibit STAC test API", "stac_version": "1.0.0",
		"links": []map[string]string{{"rel": "self", "href": s.URL + "/"}, search,
			{"rel": "conformance", "href": s.URL + "/conformance"}},
	})
}

// query is a search as the server reads it.
type query struct {
	Collections []string                      `json:"collections"`
	IDs         []string                      `json:"ids"`
	BBox        []float64                     `json:"bbox"`
	Datetime    string                        `json:"datetime"`
	Limit       int                           `json:"limit"`
	Token       string                        `json:"token"`
	Filter      json.RawMessage               `json:"filter"`
	Query       map[string]map[string]float64 `json:"query"`
}

func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	var q query
	switch r.Method {
	case http.MethodPost:
		if s.o.GetOnly {
			http.Error(w, "POST not allowed", http.StatusMethodNotAllowed)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	case http.MethodGet:
		v := r.URL.Query()
		split := func(k string) []string {
			if v.Get(k) == "" {
				return nil
			}
			return strings.Split(v.Get(k), ",")
		}
		q.Collections, q.IDs, q.Datetime, q.Token = split("collections"), split("ids"), v.Get("datetime"), v.Get("token")
		for _, f := range split("bbox") {
			x, _ := strconv.ParseFloat(f, 64)
			q.BBox = append(q.BBox, x)
		}
		q.Limit, _ = strconv.Atoi(v.Get("limit"))
	}
	if q.Limit <= 0 || q.Limit > 100 {
		q.Limit = 10
	}
	var maxCloud *float64
	switch {
	case s.o.Filter == "cql2-json" && len(q.Filter) > 0:
		var f struct {
			Op   string `json:"op"`
			Args []json.RawMessage
		}
		var v float64
		if json.Unmarshal(q.Filter, &f) != nil || f.Op != "<=" || len(f.Args) != 2 || json.Unmarshal(f.Args[1], &v) != nil {
			http.Error(w, "unsupported filter", http.StatusBadRequest)
			return
		}
		maxCloud = &v
	case s.o.Filter == "query" && q.Query != nil:
		if v, ok := q.Query["eo:cloud_cover"]["lte"]; ok {
			maxCloud = &v
		}
	}
	var matched []map[string]any
	for i := range s.o.Items {
		it := s.item(i)
		props := it["properties"].(map[string]any)
		if len(q.Collections) > 0 && !contains(q.Collections, Collection) || len(q.IDs) > 0 && !contains(q.IDs, ID(i)) {
			continue
		}
		if maxCloud != nil && props["eo:cloud_cover"].(float64) > *maxCloud {
			continue
		}
		if len(q.BBox) == 4 {
			b := it["bbox"].([]float64)
			if b[2] < q.BBox[0] || b[0] > q.BBox[2] || b[3] < q.BBox[1] || b[1] > q.BBox[3] {
				continue
			}
		}
		if q.Datetime != "" && !inInterval(props["datetime"].(string), q.Datetime) {
			continue
		}
		matched = append(matched, it)
	}
	start, _ := strconv.Atoi(q.Token)
	end := min(start+q.Limit, len(matched))
	start = min(start, end)
	page := map[string]any{"type": "FeatureCollection", "features": matched[start:end], "numberMatched": len(matched), "numberReturned": end - start}
	links := []map[string]any{}
	if end < len(matched) {
		if s.o.GetOnly || r.Method == http.MethodGet {
			u := *r.URL
			v := u.Query()
			v.Set("token", strconv.Itoa(end))
			u.RawQuery = v.Encode()
			links = append(links, map[string]any{"rel": "next", "href": s.URL + u.RequestURI(), "method": "GET"})
		} else {
			links = append(links, map[string]any{"rel": "next", "href": s.URL + "/search", "method": "POST",
				"body": map[string]string{"token": strconv.Itoa(end)}, "merge": true})
		}
	}
	page["links"] = links
	w.Header().Set("Content-Type", "application/geo+json")
	b, _ := json.Marshal(page)
	w.Write(b)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// inInterval says whether an RFC 3339 time is in an interval ("a/b",
// "../b", "a/..") or is the instant given.
func inInterval(t, interval string) bool {
	at, err := time.Parse(time.RFC3339, t)
	if err != nil {
		return false
	}
	a, b, ok := strings.Cut(interval, "/")
	if !ok {
		x, err := time.Parse(time.RFC3339, a)
		return err == nil && x.Equal(at)
	}
	if a != ".." && a != "" {
		x, err := time.Parse(time.RFC3339, a)
		if err != nil || at.Before(x) {
			return false
		}
	}
	if b != ".." && b != "" {
		x, err := time.Parse(time.RFC3339, b)
		if err != nil || at.After(x) {
			return false
		}
	}
	return true
}

func (s *Server) asset(w http.ResponseWriter, r *http.Request, cut bool) {
	s.mu.Lock()
	s.inflight++
	s.maxInflight = max(s.maxInflight, s.inflight)
	slow := s.slow
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inflight--
		s.mu.Unlock()
	}()
	time.Sleep(slow)
	for i := range s.o.Items {
		for _, key := range []string{"visual"} {
			if r.URL.Path != AssetPath(i, key) {
				continue
			}
			b := s.Asset(i, key)
			sum := sha256.Sum256(b)
			w.Header().Set("Content-Type", "image/tiff; application=geotiff; profile=cloud-optimized")
			w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:8])+`"`)
			if cut {
				// Half the body, then the connection drops.
				w.Header().Set("Content-Length", strconv.Itoa(len(b)))
				w.Header().Set("Last-Modified", time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC).Format(http.TimeFormat))
				w.WriteHeader(http.StatusOK)
				w.Write(b[:len(b)/2])
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			}
			if s.o.IgnoreIfRange {
				r.Header.Del("If-Range")
			}
			http.ServeContent(counting{w, s, r.URL.Path}, r, key+".tif", time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC), bytes.NewReader(b))
			return
		}
	}
	http.NotFound(w, r)
}

// static serves a static catalog of the same items: /static/catalog.json
// -> collection.json -> items/ID.json, with relative links.
func (s *Server) static(w http.ResponseWriter, r *http.Request) {
	switch p := strings.TrimPrefix(r.URL.Path, "/static/"); {
	case p == "catalog.json":
		writeJSON(w, map[string]any{"type": "Catalog", "id": "root", "stac_version": "1.0.0", "description": "static test catalog",
			"links": []map[string]string{{"rel": "self", "href": "./catalog.json"}, {"rel": "child", "href": "./" + Collection + "/collection.json"}}})
	case p == Collection+"/collection.json":
		links := []map[string]string{{"rel": "parent", "href": "../catalog.json"}, {"rel": "root", "href": "../catalog.json"}}
		for i := range s.o.Items {
			links = append(links, map[string]string{"rel": "item", "href": "./items/" + ID(i) + ".json"})
		}
		writeJSON(w, map[string]any{"type": "Collection", "id": Collection, "stac_version": "1.0.0", "description": "x",
			"license": "proprietary", "extent": map[string]any{}, "links": links})
	case strings.HasPrefix(p, Collection+"/items/"):
		id := strings.TrimSuffix(strings.TrimPrefix(p, Collection+"/items/"), ".json")
		for i := range s.o.Items {
			if ID(i) == id {
				writeJSON(w, s.item(i))
				return
			}
		}
		http.NotFound(w, r)
	default:
		http.NotFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	b, _ := json.Marshal(v)
	w.Write(b)
}
