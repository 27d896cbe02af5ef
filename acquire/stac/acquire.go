package stac

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/openexhibit/exhibit/ingest"
)

// Kind is the source kind of a scene; ProvenanceV1 its provenance type.
const (
	Kind         = "stac"
	ProvenanceV1 = "https://github.com/openexhibit/exhibit/provenance/stac/v1"
	// ItemPart is the item as served at its own URL; SearchPart the same
	// item's bytes in the search page or catalog that found it, when they
	// differ.
	ItemPart   = "item.json"
	SearchPart = "item-in-search.json"
)

// Provenance is the provenance of a scene (ProvenanceV1): where it was
// found, what the provider states of it, and each asset as received
// against the provider's statement.
type Provenance struct {
	// API is the STAC API's root, or the static catalog's URL (Catalog).
	API        string `json:"api"`
	Catalog    bool   `json:"staticCatalog,omitempty"`
	Collection string `json:"collection"`
	ItemID     string `json:"itemId"`
	ItemURL    string `json:"url,omitempty"`
	// Datetime is the item's datetime as the provider states it (which
	// moment it names differs between providers: datatake start, tile
	// sensing time).
	Datetime           string          `json:"datetime"`
	Geometry           json.RawMessage `json:"geometry,omitempty"`
	BBox               []float64       `json:"bbox,omitempty"`
	Platform           string          `json:"platform,omitempty"`
	Constellation      string          `json:"constellation,omitempty"`
	CloudCover         *float64        `json:"cloudCover,omitempty"`
	ProcessingLevel    string          `json:"processingLevel,omitempty"`
	ProcessingBaseline string          `json:"processingBaseline,omitempty"`
	EPSG               *int64          `json:"epsg,omitempty"`
	License            string          `json:"license,omitempty"`
	Extensions         []string        `json:"stacExtensions,omitempty"`
	// ItemPart names the part holding the item as served at ItemURL;
	// SearchPart the part holding it as found by the search, when those
	// bytes differ ("" when they are the same, or there is no own URL).
	ItemPart   string `json:"itemPart"`
	SearchPart string `json:"searchPart,omitempty"`
	// Assets are the assets downloaded, NotDownloaded the others, by
	// href and what the provider states of them, so that they can be
	// fetched and checked later; Missing the asset keys asked for that
	// the item does not have.
	Assets        []AssetRecord `json:"assets"`
	NotDownloaded []AssetRef    `json:"notDownloaded,omitempty"`
	Missing       []string      `json:"missing,omitempty"`
	// AlreadyArchived are the assets asked for that were not downloaded
	// again: the provider states a sha2-256 checksum that is the ID of an
	// item already in the archive (the same bytes, acquired before).
	AlreadyArchived []ArchivedRef `json:"alreadyArchived,omitempty"`
}

// ArchivedRef is an asset already in the archive.
type ArchivedRef struct {
	Key      string `json:"key"`
	Href     string `json:"href"`
	Checksum string `json:"checksum"`
	Item     string `json:"item"`
}

// AssetRecord is one asset as received.
type AssetRecord struct {
	Key  string `json:"key"`
	Part string `json:"part"`
	Fetched
	Checksum Checksum `json:"checksum"`
}

// AssetRef is an asset not downloaded.
type AssetRef struct {
	Key      string `json:"key"`
	Href     string `json:"href"`
	Type     string `json:"type,omitempty"`
	Checksum string `json:"checksum,omitempty"`
	Size     *int64 `json:"size,omitempty"`
}

// AcquireOptions say how a scene is acquired.
type AcquireOptions struct {
	Client     *Client
	Downloader *Downloader
	// Dir holds the downloads, each scene in a folder named after it, and
	// must be this user's alone (default: a new temporary folder, for this
	// call only). A scene that fails keeps its partial downloads there,
	// and acquiring it again with the same Dir resumes them; Scene.Remove
	// removes them once it is archived.
	Dir string
	// Assets are the asset keys to download (empty: all).
	Assets []string
	// API is the API root or catalog URL recorded; Catalog says which.
	API     string
	Catalog bool
	// Sign, when set, makes the URL an asset is fetched from (a signed
	// URL); the href is what is recorded.
	Sign func(ctx context.Context, href string) (string, error)
	// Archived, when set, says whether the archive holds the item of this
	// ID ("sha256:…"): an asset whose stated sha2-256 checksum names one
	// is not downloaded again.
	Archived func(ctx context.Context, item string) (bool, error)
	By       string
}

// Scene is an acquired scene, ready for the archive.
type Scene struct {
	Acquisition *ingest.Acquisition
	Provenance  *Provenance
	dir, own    string // the scene's folder; the folder made for it
}

// Remove removes the scene's downloads.
func (s *Scene) Remove() {
	os.RemoveAll(s.dir)
	if s.own != "" {
		os.RemoveAll(s.own)
	}
}

// Mismatched lists the assets whose bytes are not what the provider
// states.
func (s *Scene) Mismatched() []AssetRecord {
	var out []AssetRecord
	for _, a := range s.Provenance.Assets {
		if a.Checksum.Status == Mismatch {
			out = append(out, a)
		}
	}
	return out
}

// Acquire acquires a scene found by a search or a catalog: the item as
// served at its own URL (and, when they differ, as found), and the assets
// asked for, each set against the provider's checksum and size. An asset
// whose bytes do not match is acquired all the same, as evidence of what
// was served, and says so.
func Acquire(ctx context.Context, found *Item, foundAt string, o AcquireOptions) (*Scene, error) {
	started := time.Now().UTC()
	// The scene's folder is named after it, so that a run cut off is
	// resumed by the next: its .part files are kept when it fails.
	own := ""
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "exhibit-stac-*")
		if err != nil {
			return nil, err
		}
		o.Dir, own = d, d
	}
	dir := filepath.Join(o.Dir, safeName(found.Collection+"-"+found.ID))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &Scene{dir: dir, own: own}
	fail := func(err error) (*Scene, error) {
		if own != "" {
			os.RemoveAll(own) // no later call can resume from it
		}
		return nil, err
	}
	p := &Provenance{API: Unsigned(o.API), Catalog: o.Catalog, ItemPart: ItemPart}
	it, parts, err := itemParts(ctx, found, foundAt, o, p, dir)
	if err != nil {
		return fail(err)
	}
	keys := make([]string, 0, len(it.Assets))
	for k := range it.Assets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := map[string]bool{}
	for _, k := range o.Assets {
		want[k] = true
		if _, ok := it.Assets[k]; !ok {
			p.Missing = append(p.Missing, k)
		}
	}
	used := map[string]bool{strings.ToLower(ItemPart): true, strings.ToLower(SearchPart): true}
	for _, k := range keys {
		a := it.Assets[k]
		if len(want) > 0 && !want[k] {
			p.NotDownloaded = append(p.NotDownloaded, AssetRef{Key: k, Href: Unsigned(a.Href), Type: a.Type, Checksum: a.Checksum, Size: a.Size})
			continue
		}
		base := p.ItemURL
		if base == "" {
			base = foundAt
		}
		rec, part, err := fetchAsset(ctx, o, p, k, a, base, dir, used)
		if err != nil {
			return fail(fmt.Errorf("asset %s: %w", k, err))
		}
		if rec != nil {
			p.Assets = append(p.Assets, *rec)
			parts = append(parts, part)
		}
	}
	if len(p.Assets) == 0 && len(p.AlreadyArchived) == 0 && len(o.Assets) > 0 {
		return fail(fmt.Errorf("item %s has none of the assets asked for (%s); it has %s", it.ID, strings.Join(o.Assets, ", "), strings.Join(keys, ", ")))
	}
	s.Provenance = p
	s.Acquisition = &ingest.Acquisition{Kind: Kind, ProvenanceType: ProvenanceV1, Provenance: p, By: o.By,
		Started: started, Ended: time.Now().UTC(), Parts: parts}
	return s, nil
}

// sha256Item is the item ID a file:checksum names when it is a whole
// sha2-256 digest ("" otherwise).
func sha256Item(checksum string) string {
	m, err := ParseMultihash(checksum)
	if err != nil || m.Code != 0x12 || len(m.Digest) != 32 {
		return ""
	}
	return "sha256:" + hex.EncodeToString(m.Digest)
}

// itemParts are the scene's item parts: the item as served at its own
// URL (its self link; a static catalog's item file as it is) and, when
// the search's bytes for it differ, those too. It returns the item as
// served there.
func itemParts(ctx context.Context, found *Item, foundAt string, o AcquireOptions, p *Provenance, dir string) (*Item, []ingest.Part, error) {
	it, itemBytes := found, []byte(found.Raw)
	if self := found.SelfURL(foundAt); self != "" && !o.Catalog {
		served, _, err := o.Client.Fetch(ctx, self)
		if err != nil {
			return nil, nil, fmt.Errorf("item %s at its own URL: %w", found.ID, err)
		}
		if served.ID != found.ID {
			return nil, nil, fmt.Errorf("%s serves item %q, not %q", Unsigned(self), served.ID, found.ID)
		}
		it, itemBytes, p.ItemURL = served, served.Raw, Unsigned(self)
		if !bytes.Equal(served.Raw, found.Raw) {
			p.SearchPart = SearchPart
		}
	} else if o.Catalog {
		p.ItemURL = Unsigned(foundAt)
	}
	describe(p, it)
	part, err := bytesPart(dir, ItemPart, itemBytes)
	if err != nil {
		return nil, nil, err
	}
	parts := []ingest.Part{part}
	if p.SearchPart != "" {
		if part, err = bytesPart(dir, SearchPart, found.Raw); err != nil {
			return nil, nil, err
		}
		parts = append(parts, part)
	}
	return it, parts, nil
}

// fetchAsset downloads the asset of key k (its href resolved against
// base) into dir, checking it against the provider's statement as the
// bytes arrive. It returns no record when the asset is already archived
// (which it notes in p).
func fetchAsset(ctx context.Context, o AcquireOptions, p *Provenance, k string, a Asset, base, dir string, used map[string]bool) (*AssetRecord, ingest.Part, error) {
	href, err := resolve(base, a.Href)
	if err != nil {
		return nil, ingest.Part{}, err
	}
	if item := sha256Item(a.Checksum); item != "" && o.Archived != nil {
		have, err := o.Archived(ctx, item)
		if err != nil {
			return nil, ingest.Part{}, fmt.Errorf("is %s archived? %w", item, err)
		}
		if have {
			p.AlreadyArchived = append(p.AlreadyArchived, ArchivedRef{Key: k, Href: Unsigned(href), Checksum: a.Checksum, Item: item})
			return nil, ingest.Part{}, nil
		}
	}
	fetchURL := href
	if o.Sign != nil {
		if fetchURL, err = o.Sign(ctx, href); err != nil {
			return nil, ingest.Part{}, fmt.Errorf("signing its URL: %w", err)
		}
	}
	name := partName(k, href, used)
	local := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(local), 0o700); err != nil {
		return nil, ingest.Part{}, err
	}
	size := int64(-1)
	if a.Size != nil {
		size = *a.Size
	}
	// The provider's statement is checked as the bytes arrive.
	var check *Checker
	tee := func() io.Writer {
		check = NewChecker(a.Checksum, size)
		return check
	}
	f, err := o.Downloader.Get(ctx, fetchURL, Unsigned(href), local, tee)
	if err == nil && f.Resumed && check.Result().Status == Mismatch {
		// Not what the provider states, from a resumed download: fetch it
		// whole once, so that a MISMATCH is the provider's bytes, never a
		// splice of two versions.
		os.Remove(local)
		f, err = o.Downloader.Get(ctx, fetchURL, Unsigned(href), local, tee)
	}
	if err != nil {
		return nil, ingest.Part{}, err
	}
	return &AssetRecord{Key: k, Part: name, Fetched: *f, Checksum: check.Result()},
		ingest.Part{Name: name, Path: local, FileName: path.Base(name)}, nil
}

// describe copies what the provider states of the scene.
func describe(p *Provenance, it *Item) {
	str := func(k string) string {
		var s string
		json.Unmarshal(it.Properties[k], &s)
		return s
	}
	p.Collection, p.ItemID, p.Geometry, p.BBox, p.Extensions = it.Collection, it.ID, it.Geometry, it.BBox, it.Extensions
	p.Datetime, p.Platform, p.Constellation = str("datetime"), str("platform"), str("constellation")
	p.ProcessingLevel = str("processing:level")
	p.ProcessingBaseline = str("s2:processing_baseline")
	p.License = str("license")
	p.CloudCover = it.CloudCover()
	var epsg int64
	if json.Unmarshal(it.Properties["proj:epsg"], &epsg) == nil && epsg > 0 {
		p.EPSG = &epsg
	}
	if p.License == "" {
		var top struct {
			License string `json:"license"`
		}
		json.Unmarshal(it.Raw, &top)
		p.License = top.License
	}
}

// bytesPart writes b to dir/name and names it as a part.
func bytesPart(dir, name string, b []byte) (ingest.Part, error) {
	local := filepath.Join(dir, name)
	if err := os.WriteFile(local, b, 0o600); err != nil {
		return ingest.Part{}, err
	}
	return ingest.Part{Name: name, Path: local, FileName: name}, nil
}

// safeName is s with every byte but letters, digits, ".", "_" and "-"
// replaced by "_", without leading or trailing dots, at most 120 bytes.
func safeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	return strings.Trim(string(b[:min(len(b), 120)]), ".")
}

// partName is the part name of an asset: assets/KEY.EXT, its key made
// safe for a part name, unique.
func partName(key, href string, used map[string]bool) string {
	safe := safeName(key)
	ext := ""
	if u, err := url.Parse(href); err == nil {
		ext = strings.ToLower(path.Ext(u.Path))
		if len(ext) > 10 || strings.ContainsAny(ext, "/\\") {
			ext = ""
		}
		for _, c := range ext[min(1, len(ext)):] {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
				ext = ""
				break
			}
		}
	}
	base := "assets/" + safe
	if base == "assets/" {
		base = "assets/asset"
	}
	// Unique in any case: on some file systems B04 and b04 are one file.
	name := base + ext
	for i := 2; used[strings.ToLower(name)]; i++ {
		name = fmt.Sprintf("%s-%d%s", base, i, ext)
	}
	used[strings.ToLower(name)] = true
	return name
}
