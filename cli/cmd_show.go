package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"filippo.io/age"

	"github.com/openexhibit/exhibit/capture/geo"
	"github.com/openexhibit/exhibit/capture/photo"
	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/custody/ledger"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/sign"
	"github.com/openexhibit/exhibit/storage"
	"github.com/openexhibit/exhibit/verify"
	"github.com/urfave/cli/v2"
)

func showCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "show an item's custody record (its signature is checked; use verify to check the bytes)",
		ArgsUsage: "ITEM_ID",
		Flags:     []cli.Flag{identityFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErr("show: give exactly one ITEM_ID")
			}
			id, err := hashing.ParseDigest(c.Args().First())
			if err != nil || id.Algorithm != hashing.SHA256 {
				return usageErr("show: %q is not an item ID (sha256:<64 hex>)", c.Args().First())
			}
			home, cfg, err := e.config(c)
			if err != nil {
				return err
			}
			return runShow(c.Context, e, home, cfg, id, c.StringSlice("identity"))
		},
	}
}

// loadRecord reads an item's record bundle and verifies it against the
// trust file: a record is only shown or followed once its signature holds.
func loadRecord(ctx context.Context, trust *sign.Verifier, st storage.Store, id hashing.Digest) (*sign.Verified, *custody.Statement, error) {
	data, err := storage.ReadAll(ctx, st, custody.RecordBundleKey(id), 64<<20)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, withCode(ExitNotFound, fmt.Errorf("%s is not in the archive", id), "check the item ID (exhibit ls lists them)")
	}
	if err != nil {
		return nil, nil, err
	}
	vf, err := trust.VerifyStatement(data, nil)
	if err != nil {
		return nil, nil, withCode(ExitVerifyFail, fmt.Errorf("the record of %s does not verify: %w", id, err), "run exhibit verify "+id.String())
	}
	stmt, err := custody.ParseStatement(vf.Payload)
	if err != nil {
		return nil, nil, withCode(ExitVerifyFail, err, "run exhibit verify "+id.String())
	}
	return vf, stmt, nil
}

func runShow(ctx context.Context, e *env, home string, cfg *Config, id hashing.Digest, identityFiles []string) error {
	st, desc, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	ids, err := loadIdentities(identityFiles)
	if err != nil {
		return err
	}
	trust, tf, err := loadVerifier(home, cfg)
	if err != nil {
		return err
	}
	vf, stmt, err := loadRecord(ctx, trust, st, id)
	if err != nil {
		return err
	}
	// Reading is logged too, best effort: show still shows when it cannot.
	cl, msg, err := openLogFor(ctx, e, home, cfg, st, desc, trust, tf, logTryWrite)
	var de *verify.DescriptorError
	switch {
	case errors.As(err, &de) || ledger.IsTampering(err):
		// Evidence of tampering is not a note: show nothing.
		return err
	case err != nil:
		msg = "not logged: " + err.Error()
	case cl != nil && cl.writable:
		if err := logAccess(ctx, cl, home, cfg.Operator, id, "show"); ledger.IsTampering(err) {
			return logFailure(err)
		} else if err != nil {
			msg = "not logged: " + err.Error()
		}
	}
	if msg != "" {
		fmt.Fprintf(e.stderr, "exhibit: note: custody log: %s\n", msg)
	}
	sum, sumErr := formatSummary(ctx, st, stmt.Predicate.Metadata, ids)
	if e.json {
		out := map[string]any{"item": id.String(), "signedBy": vf.KeyFingerprint, "statement": stmt}
		if sum != nil {
			out["summary"] = sum
		}
		return writeJSON(e.stdout, schemaShow, out)
	}
	r := &stmt.Predicate
	w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%s\t%s\n", k, printable(v))
		}
	}
	row("item", r.Item)
	row("sha512", r.Original.Digest[hashing.SHA512])
	row("case", r.Case)
	row("name", r.Source.Name)
	row("path", r.Source.Path)
	row("size", fmt.Sprintf("%d bytes (%s)", r.Original.Size, humanBytes(r.Original.Size)))
	row("media type", r.Original.MediaType)
	row("acquired", r.Source.AcquiredAt.Format(time.RFC3339)+" (ingesting machine's clock)")
	if t := r.Source.FileTimes.Modified; t != nil {
		row("modified", t.Format(time.RFC3339Nano))
	}
	row("operator", r.Operator.Name)
	row("signed by", vf.KeyFingerprint+" (record signature verified)")
	row("host", fmt.Sprintf("%s (%s/%s)", r.Host.Name, r.Host.OS, r.Host.Arch))
	row("tool", fmt.Sprintf("%s %s (%s)", r.Tool.Name, r.Tool.Version, r.Tool.GoVersion))
	row("stored at", r.Storage.Location+"/"+r.Original.Key)
	if r.Storage.Retention != nil {
		row("retention", fmt.Sprintf("%s until %s", r.Storage.Retention.Mode, r.Storage.Retention.Until.Format(time.RFC3339)))
	}
	if r.Storage.LegalHold {
		row("legal hold", "on")
	}
	if m := r.Metadata; m != nil {
		row("metadata", fmt.Sprintf("%s (readers: %s)", m.Key, strings.Join(m.Readers, ", ")))
		for _, re := range m.Errors {
			row("metadata error", re.Reader+": "+re.Error)
		}
	}
	if sumErr != nil {
		row("summary", "unavailable: "+sumErr.Error())
	}
	if p := sum.photo(); p != nil {
		row("captured", p.CaptureTime+" ("+p.CaptureTimeSource+", the camera's clock)")
		row("camera", strings.TrimSpace(p.Make+" "+p.Model))
		row("lens", p.Lens)
		if p.Latitude != nil && p.Longitude != nil {
			row("gps", fmt.Sprintf("%.6f, %.6f", *p.Latitude, *p.Longitude))
		}
		var ids []string
		for name, on := range map[string]bool{"body serial": p.BodySerial, "lens serial": p.LensSerial, "owner/artist": p.Owner, "XMP": p.XMP, "IPTC": p.IPTC} {
			if on {
				ids = append(ids, name)
			}
		}
		sort.Strings(ids)
		row("identifying", strings.Join(ids, ", "))
	}
	if g := sum.geo(); g != nil {
		if g.CRS != nil && g.CRS.EPSG != 0 {
			row("crs", fmt.Sprintf("EPSG:%d %s", g.CRS.EPSG, g.CRS.Name))
		}
		if d := g.Degrees; d != nil {
			row("extent", fmt.Sprintf("W %.6f S %.6f E %.6f N %.6f (degrees)", d.West, d.South, d.East, d.North))
		}
		row("tiff date", g.DateTime)
	}
	for _, d := range r.Derivatives {
		row("derivative", fmt.Sprintf("%s (%s, %s, %d bytes) %s", d.Name, d.Kind, d.MediaType, d.Size, d.Key))
	}
	return w.Flush()
}

// summary is what show prints of the format readers' output.
type summary struct {
	Photo *struct {
		Summary photo.Summary `json:"summary"`
	} `json:"photo/1,omitempty"`
	Geo *geo.Metadata `json:"geo/1,omitempty"`
}

func (s *summary) photo() *photo.Summary {
	if s == nil || s.Photo == nil {
		return nil
	}
	return &s.Photo.Summary
}

func (s *summary) geo() *geo.Metadata {
	if s == nil {
		return nil
	}
	return s.Geo
}

// formatSummary reads the metadata document named by a verified record,
// decrypting it when it is encrypted, and checks its digests before using it.
func formatSummary(ctx context.Context, st storage.Store, m *custody.Metadata, ids []age.Identity) (*summary, error) {
	if m == nil || len(m.Readers) < 2 {
		return nil, nil
	}
	if m.Encryption != nil && len(ids) == 0 {
		return nil, errors.New("the metadata document is encrypted: pass --identity FILE to show it")
	}
	var buf bytes.Buffer
	if _, err := verify.Fetch(ctx, st, m.Object, ids, &verify.LimitedWriter{W: &buf, N: 64 << 20}); err != nil {
		return nil, fmt.Errorf("%w (run exhibit verify)", err)
	}
	var doc struct {
		Formats summary `json:"formats"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		return nil, fmt.Errorf("metadata document: %w", err)
	}
	return &doc.Formats, nil
}

func lsCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "ls",
		Usage: "list archived items (from their records; use verify to prove them)",
		Flags: []cli.Flag{&cli.StringFlag{Name: "case", Usage: "only items of this case"}},
		Action: func(c *cli.Context) error {
			_, cfg, err := e.config(c)
			if err != nil {
				return err
			}
			return runLs(c.Context, e, cfg, c.String("case"))
		},
	}
}

type lsEntry struct {
	Item       string    `json:"item"`
	Case       string    `json:"case,omitempty"`
	Name       string    `json:"name"`
	Size       int64     `json:"size"`
	MediaType  string    `json:"mediaType"`
	AcquiredAt time.Time `json:"acquiredAt"`
	// Problem is set when the item's record could not be read.
	Problem string `json:"problem,omitempty"`
}

func runLs(ctx context.Context, e *env, cfg *Config, caseName string) error {
	st, _, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	ids, err := (&verify.Verifier{Store: st}).Items(ctx)
	if err != nil {
		return fmt.Errorf("list items: %w", err)
	}
	entries := []lsEntry{}
	for _, id := range ids {
		en := lsEntry{Item: id.String()}
		data, err := storage.ReadAll(ctx, st, custody.RecordKey(id), 64<<20)
		if err == nil {
			var s custody.Statement
			if err = json.Unmarshal(data, &s); err == nil {
				r := s.Predicate
				en.Case, en.Name, en.Size, en.MediaType, en.AcquiredAt = r.Case, r.Source.Name, r.Original.Size, r.Original.MediaType, r.Source.AcquiredAt
			}
		}
		if err != nil {
			en.Problem = "record unreadable (" + err.Error() + "): run exhibit verify " + id.String()
		}
		if caseName != "" && en.Case != caseName && en.Problem == "" {
			continue
		}
		entries = append(entries, en)
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].AcquiredAt.Before(entries[j].AcquiredAt) })
	if e.json {
		return writeJSON(e.stdout, schemaList, map[string]any{"items": entries})
	}
	w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ITEM\tACQUIRED\tSIZE\tTYPE\tCASE\tNAME")
	for _, en := range entries {
		if en.Problem != "" {
			fmt.Fprintf(w, "%s\t-\t-\t-\t-\t%s\n", en.Item, en.Problem)
			continue
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", en.Item, en.AcquiredAt.Format(time.RFC3339), humanBytes(en.Size), printable(en.MediaType), printable(en.Case), printable(en.Name))
	}
	return w.Flush()
}
