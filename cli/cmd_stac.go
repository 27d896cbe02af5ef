package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/openexhibit/exhibit/acquire/stac"
	"github.com/openexhibit/exhibit/capture/geo"
	"github.com/openexhibit/exhibit/capture/readers"
	"github.com/openexhibit/exhibit/internal/netguard"
)

// stacFlags select scenes: where (an API or a static catalog) and which.
func stacFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "api", Usage: "STAC API root URL"},
		&cli.StringFlag{Name: "catalog", Usage: "static STAC catalog URL (catalog.json), instead of --api"},
		&cli.StringSliceFlag{Name: "collection", Usage: "collection ID; repeatable"},
		&cli.StringSliceFlag{Name: "id", Usage: "item ID; repeatable"},
		&cli.StringFlag{Name: "bbox", Usage: "west,south,east,north in degrees"},
		&cli.StringFlag{Name: "aoi", Usage: "GeoJSON file (a geometry, a Feature, or a FeatureCollection of one) whose geometry the scenes must intersect"},
		&cli.StringFlag{Name: "datetime", Usage: "RFC 3339 instant or interval: 2026-03-01/2026-03-31, ../2026-03-31"},
		&cli.Float64Flag{Name: "max-cloud", Usage: "at most this eo:cloud_cover (percent); sent as a CQL2 filter or a query when the API offers either"},
		&cli.IntFlag{Name: "max-items", Usage: "stop after this many scenes", Value: 100},
		&cli.BoolFlag{Name: "insecure-allow-private", Usage: "allow loopback, private and link-local addresses (never for searches or catalogs from others)"},
	}
}

func stacCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "stac",
		Usage: "search STAC APIs and catalogs for satellite scenes, and acquire them",
		Subcommands: []*cli.Command{
			{
				Name:      "search",
				Usage:     "list the scenes a search finds (nothing is downloaded)",
				ArgsUsage: " ",
				Flags:     append(commonFlags(), stacFlags()...),
				Action: func(c *cli.Context) error {
					wantJSON(c, e)
					q, err := parseStacSearch(c)
					if err != nil {
						return err
					}
					return runStacSearch(c.Context, e, q)
				},
			},
			{
				Name:      "acquire",
				Usage:     "download the scenes a search finds, check them against the provider's checksums, and archive each as one acquisition",
				ArgsUsage: " ",
				Description: "Each scene is archived whole: the item as served at its own URL (and as the search found it,\n" +
					"when those bytes differ) and the assets asked for, each set against the provider's\n" +
					"file:checksum and file:size (match, MISMATCH, absent, unsupported). A MISMATCH is archived\n" +
					"all the same, as evidence of what was served, and said loudly. Assets not asked for are\n" +
					"recorded by href and stated checksum. Downloads resume after a cut and retry on 429 and 5xx.",
				Flags: append(append(commonFlags(), stacFlags()...),
					&cli.StringFlag{Name: "case", Usage: "case (investigation) the scenes belong to"},
					&cli.StringSliceFlag{Name: "assets", Usage: "asset keys to download (comma-separated or repeated; default: all)"},
					&cli.StringSliceFlag{Name: "encrypt-to", Usage: "encrypt the scenes to this age recipient (age1…); repeatable (config: encrypt_to)"},
					&cli.StringFlag{Name: "sign", Usage: "sign asset URLs before fetching them: planetary-computer (Azure SAS tokens from its token service; never recorded)"},
					&cli.StringFlag{Name: "sas-service", Usage: "the token service for --sign planetary-computer", Value: stac.PlanetaryComputerSAS},
				),
				Action: func(c *cli.Context) error {
					q, err := parseStacSearch(c)
					if err != nil {
						return err
					}
					home, cfg, err := e.config(c)
					if err != nil {
						return err
					}
					if c.IsSet("encrypt-to") {
						cfg.EncryptTo = c.StringSlice("encrypt-to")
					}
					var keys []string
					for _, k := range c.StringSlice("assets") {
						for _, s := range strings.Split(k, ",") {
							if s = strings.TrimSpace(s); s != "" {
								keys = append(keys, s)
							}
						}
					}
					switch c.String("sign") {
					case "":
					case "planetary-computer":
						q.sign = (&stac.SASSigner{Client: q.client, Service: c.String("sas-service")}).Sign
					default:
						return usageErr("stac acquire: --sign %q: the one signing scheme is planetary-computer", c.String("sign"))
					}
					return runStacAcquire(c.Context, e, home, cfg, c.String("case"), keys, q)
				},
			},
		},
	}
}

// stacSearch is a search as the flags give it, with the clients that run
// it.
type stacSearch struct {
	api, catalog string
	search       stac.Search
	maxItems     int
	client       *stac.Client
	downloader   *stac.Downloader
	sign         func(context.Context, string) (string, error)
	// aoi is the box of --bbox or --aoi: the clips' area.
	aoi *geo.AOI
}

func parseStacSearch(c *cli.Context) (*stacSearch, error) {
	q := &stacSearch{api: c.String("api"), catalog: c.String("catalog"), maxItems: c.Int("max-items")}
	if (q.api == "") == (q.catalog == "") {
		return nil, usageErr("stac: give --api URL (a STAC API) or --catalog URL (a static catalog), one of them")
	}
	if q.maxItems <= 0 {
		return nil, usageErr("stac: --max-items must be positive")
	}
	q.search = stac.Search{Collections: c.StringSlice("collection"), IDs: c.StringSlice("id"), Datetime: c.String("datetime"), Limit: min(q.maxItems, 100)}
	if b := c.String("bbox"); b != "" {
		for _, f := range strings.Split(b, ",") {
			x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil {
				return nil, usageErr("stac: --bbox %q: give west,south,east,north in degrees", b)
			}
			q.search.BBox = append(q.search.BBox, x)
		}
		if bb := q.search.BBox; len(bb) != 4 || bb[0] < -180 || bb[2] > 180 || bb[1] < -90 || bb[3] > 90 || bb[1] > bb[3] {
			return nil, usageErr("stac: --bbox %q: give west,south,east,north in degrees", b)
		}
		q.aoi = &geo.AOI{West: q.search.BBox[0], South: q.search.BBox[1], East: q.search.BBox[2], North: q.search.BBox[3]}
	}
	if f := c.String("aoi"); f != "" {
		g, err := aoiGeometry(f)
		if err != nil {
			return nil, err
		}
		q.search.Intersects = g
		if q.aoi, err = geometryBox(f, g); err != nil {
			return nil, err
		}
	}
	if c.IsSet("max-cloud") {
		v := c.Float64("max-cloud")
		q.search.MaxCloud = &v
	}
	if q.catalog != "" && (len(q.search.BBox) > 0 || len(q.search.Intersects) > 0 || q.search.Datetime != "" || q.search.MaxCloud != nil || len(q.search.Collections) > 0 || len(q.search.IDs) > 0) {
		return nil, usageErr("stac: a static catalog is read whole (up to --max-items): --bbox, --aoi, --datetime, --max-cloud, --collection and --id go with --api")
	}
	allow := c.Bool("insecure-allow-private")
	q.client = &stac.Client{HTTP: stac.HTTPClient(allow, 2*time.Minute), UserAgent: "exhibit/" + version()}
	q.downloader = &stac.Downloader{HTTP: stac.HTTPClient(allow, 0)}
	return q, nil
}

// aoiGeometry reads the geometry of a GeoJSON file.
func aoiGeometry(path string) (json.RawMessage, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, withCode(ExitInput, err, "check the path given to --aoi")
	}
	var g struct {
		Type     string          `json:"type"`
		Geometry json.RawMessage `json:"geometry"`
		Features []struct {
			Geometry json.RawMessage `json:"geometry"`
		} `json:"features"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		return nil, usageErr("--aoi %s: not GeoJSON: %v", path, err)
	}
	switch g.Type {
	case "Feature":
		return g.Geometry, nil
	case "FeatureCollection":
		if len(g.Features) != 1 {
			return nil, usageErr("--aoi %s: a FeatureCollection of %d features; give one area", path, len(g.Features))
		}
		return g.Features[0].Geometry, nil
	case "Polygon", "MultiPolygon", "Point", "LineString", "MultiPoint", "MultiLineString":
		return b, nil
	}
	return nil, usageErr("--aoi %s: a GeoJSON %q, not a geometry or feature", path, g.Type)
}

// geometryBox is the box in degrees around a GeoJSON geometry's
// coordinates.
func geometryBox(path string, g json.RawMessage) (*geo.AOI, error) {
	var v struct {
		Coordinates any `json:"coordinates"`
	}
	if err := json.Unmarshal(g, &v); err != nil {
		return nil, usageErr("--aoi %s: not GeoJSON: %v", path, err)
	}
	box := &geo.AOI{West: 180, South: 90, East: -180, North: -90}
	n := 0
	var walk func(x any) bool
	walk = func(x any) bool {
		a, ok := x.([]any)
		if !ok || len(a) == 0 {
			return false
		}
		if lon, ok1 := a[0].(float64); ok1 && len(a) >= 2 {
			lat, ok2 := a[1].(float64)
			if !ok2 || lon < -180 || lon > 180 || lat < -90 || lat > 90 {
				return false
			}
			box.West, box.East, box.South, box.North = min(box.West, lon), max(box.East, lon), min(box.South, lat), max(box.North, lat)
			n++
			return true
		}
		for _, y := range a {
			if !walk(y) {
				return false
			}
		}
		return true
	}
	if !walk(v.Coordinates) || n == 0 {
		return nil, usageErr("--aoi %s: give a geometry with coordinates as longitude, latitude in degrees", path)
	}
	return box, nil
}

// found is a scene found, with where it was found.
type found struct {
	item *stac.Item
	at   string
}

// each calls fn for each scene the query finds.
func (q *stacSearch) each(ctx context.Context, fn func(found) error) error {
	if q.catalog != "" {
		return q.client.Walk(ctx, q.catalog, 16, q.maxItems, func(it *stac.Item, r *stac.Response) error {
			return fn(found{it, r.URL})
		})
	}
	l, err := q.client.Landing(ctx, q.api)
	if err != nil {
		return err
	}
	return q.client.Search(ctx, l, q.search, q.maxItems, func(p *stac.Page) error {
		for _, it := range p.Items {
			if err := fn(found{it, p.Raw.URL}); err != nil {
				return err
			}
		}
		return nil
	})
}

func stacErr(err error) error {
	var st *stac.ErrStatus
	var blocked *netguard.BlockedError
	switch {
	case errors.As(err, &blocked):
		return withCode(ExitInput, err, "a provider on this machine or a private network needs --insecure-allow-private")
	case errors.As(err, &st):
		return withCode(ExitInput, err, "check the URL and the search; the provider refused it")
	case err != nil && !errors.Is(err, context.Canceled):
		return withCode(ExitIO, err, "check the URL and the network, then run it again")
	}
	return err
}

func runStacSearch(ctx context.Context, e *env, q *stacSearch) error {
	var rows []map[string]any
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	if !e.json {
		fmt.Fprintln(tw, "ITEM\tCOLLECTION\tDATETIME (the provider's)\tCLOUD\tASSETS")
	}
	err := q.each(ctx, func(f found) error {
		it := f.item
		var dt string
		json.Unmarshal(it.Properties["datetime"], &dt)
		cloud := ""
		if cc := it.CloudCover(); cc != nil {
			cloud = strconv.FormatFloat(*cc, 'f', -1, 64)
		}
		var keys []string
		for k := range it.Assets {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if e.json {
			rows = append(rows, map[string]any{"id": it.ID, "collection": it.Collection, "datetime": dt, "cloudCover": it.CloudCover(),
				"bbox": it.BBox, "assets": keys, "self": it.SelfURL(f.at)})
			return nil
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", printable(it.ID), printable(it.Collection), printable(dt), cloud, printable(strings.Join(keys, ",")))
		return nil
	})
	if err != nil {
		return stacErr(err)
	}
	if e.json {
		if rows == nil {
			rows = []map[string]any{}
		}
		return writeJSON(e.stdout, schemaStacSearch, map[string]any{"items": rows})
	}
	return tw.Flush()
}

func runStacAcquire(ctx context.Context, e *env, home string, cfg *Config, caseName string, keys []string, q *stacSearch) error {
	a, opts, err := openArchiving(ctx, e, home, cfg, caseName)
	if err != nil {
		return err
	}
	// The scene reader makes each COG's preview, and its clip to the area
	// searched.
	if opts.Readers, err = readers.WithScene(opts.Readers, q.aoi); err != nil {
		return err
	}
	root, catalog := q.api, false
	if q.catalog != "" {
		root, catalog = q.catalog, true
	}
	dl, err := downloadDir()
	if err != nil {
		return err
	}
	var failed []string
	scenes := 0
	err = q.each(ctx, func(f found) error {
		scenes++
		s, err := stac.Acquire(ctx, f.item, f.at, stac.AcquireOptions{Client: q.client, Downloader: q.downloader, Assets: keys,
			Dir: dl, API: root, Catalog: catalog, By: cfg.Operator, Archived: a.Holds, Sign: q.sign})
		id := printable(f.item.ID)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failed = append(failed, fmt.Sprintf("%s: %v", id, err))
			fmt.Fprintf(e.stderr, "scene failed  %s: %s\n", id, printable(err.Error()))
			return nil
		}
		for _, as := range s.Provenance.Assets {
			fmt.Fprintf(e.stderr, "fetched  %s %s  %s, checksum %s\n", id, printable(as.Key), humanBytes(as.Size), as.Checksum.Status)
		}
		for _, r := range s.Provenance.AlreadyArchived {
			fmt.Fprintf(e.stderr, "already archived  %s %s  %s (the checksum the provider states)\n", id, printable(r.Key), r.Item)
		}
		for _, m := range s.Mismatched() {
			fmt.Fprintf(e.stderr, "MISMATCH  %s %s: %s; archived as served\n", id, printable(m.Key), m.Checksum.Problem)
		}
		if err := archiveAcquisition(ctx, e, a, opts, s.Acquisition); err != nil {
			return err // the downloads stay, for the next run
		}
		s.Remove()
		return nil
	})
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			return err
		}
		return stacErr(err)
	}
	if scenes == 0 {
		fmt.Fprintln(e.stderr, "the search found no scene")
	}
	if len(failed) > 0 {
		return withCode(ExitInput, fmt.Errorf("%d of %d scenes failed; first: %s", len(failed), scenes, failed[0]),
			"check the network and the provider, then acquire those again; the others are archived")
	}
	return nil
}

// downloadDir is where scenes are downloaded: exhibit/stac in the user's
// cache folder (it survives a restart, so that a run cut off resumes),
// this user's only.
func downloadDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", withCode(ExitIO, err, "set XDG_CACHE_HOME or HOME")
	}
	dir := filepath.Join(base, "exhibit", "stac")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", withCode(ExitIO, err, "check that "+base+" is writable")
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return "", withCode(ExitIO, err, "")
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && (int(st.Uid) != os.Getuid() || fi.Mode().Perm()&0o077 != 0) {
		return "", withCode(ExitIO, fmt.Errorf("%s is not this user's alone", dir), "remove it, or make it this user's with mode 0700")
	}
	return dir, nil
}
