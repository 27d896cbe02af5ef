package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/openexhibit/exhibit/archive"
	"github.com/openexhibit/exhibit/capture"
	"github.com/openexhibit/exhibit/capture/readers"
	"github.com/openexhibit/exhibit/capture/strip"
	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/hashing"
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

func runShow(ctx context.Context, e *env, home string, cfg *Config, id hashing.Digest, identityFiles []string) error {
	ids, err := loadIdentities(identityFiles)
	if err != nil {
		return err
	}
	a, err := openArchive(ctx, e, home, cfg)
	if err != nil {
		return err
	}
	rec, err := a.Show(ctx, id)
	if err != nil {
		return err
	}
	stmt := rec.Statement
	formats, sumErr := a.Formats(ctx, stmt.Predicate.Metadata, ids)
	var sums []capture.Summarized
	if sumErr == nil && formats != nil {
		registry, err := readers.Default(strip.Default)
		if err != nil {
			return err
		}
		sums, sumErr = registry.Summaries(formats)
	}
	if e.json {
		out := map[string]any{"item": id.String(), "signedBy": rec.SignedBy, "statement": stmt}
		if len(sums) > 0 {
			byReader := map[string]any{}
			for _, s := range sums {
				byReader[s.Reader] = s.Value
			}
			out["summary"] = byReader
		}
		return writeJSON(e.stdout, schemaShow, out)
	}
	return printRecord(e, rec, sums, sumErr)
}

// acquisitionRows prints how the item was acquired: the source, its
// provenance, when, by whom and with what, and the acquisition's parts.
func acquisitionRows(row func(k, v string), a *custody.Acquisition) {
	row("acquired", fmt.Sprintf("%s to %s (the acquiring machine's clock, not trusted time)",
		a.Started.Format(time.RFC3339Nano), a.Ended.Format(time.RFC3339Nano)))
	row("acquired by", a.By)
	var tools []string
	for _, t := range a.Tools {
		tools = append(tools, strings.TrimSpace(t.Name+" "+t.Version))
	}
	row("acquired with", strings.Join(tools, ", "))
	row("source", a.Kind+" ("+a.ProvenanceType+")")
	if f, ok, err := a.File(); ok && err == nil {
		row("path", f.Path)
		if t := f.FileTimes.Modified; t != nil {
			row("modified", t.Format(time.RFC3339Nano))
		}
		if d := f.Device; d != nil {
			row("device", strings.TrimSpace(fmt.Sprintf("%s %s %s mounted at %s", d.ID, d.Source, d.Type, d.Mount)))
		}
	} else {
		provenanceRows(row, a.Provenance)
	}
	row("acquisition", a.ID)
	if len(a.Parts) == 1 {
		return
	}
	for i, p := range a.Parts {
		this := ""
		if p.Name == a.Part {
			this = "  (this item)"
		}
		row(fmt.Sprintf("part %d of %d", i+1, len(a.Parts)), fmt.Sprintf("%s %s %d bytes%s", p.Name, p.Item, p.Size, this))
	}
}

// provenanceRows prints a provenance of a kind show does not know, one
// row per value in the order signed: a nested object's fields under
// dotted names (social.author.name), a list of objects by index
// (media.files[0].name), a list of numbers on one row, a list of strings
// one per line.
func provenanceRows(row func(k, v string), raw json.RawMessage) {
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '{' {
		flatten(row, "", t, 0)
	}
}

func flatten(row func(k, v string), key string, raw json.RawMessage, depth int) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return
	}
	switch raw[0] {
	case '{':
		dec := json.NewDecoder(bytes.NewReader(raw))
		if _, err := dec.Token(); err != nil || depth > 8 {
			row(key, compactJSON(raw))
			return
		}
		for dec.More() {
			k, err := dec.Token()
			var v json.RawMessage
			if err != nil || dec.Decode(&v) != nil {
				return
			}
			name := fmt.Sprint(k)
			if key != "" {
				name = key + "." + name
			}
			flatten(row, name, v, depth+1)
		}
	case '[':
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil || depth > 8 {
			row(key, compactJSON(raw))
			return
		}
		if len(items) == 0 {
			row(key, "(none)")
		}
		if nums, ok := numbers(items); ok {
			row(key, nums) // a point, a bounding box: one row
			return
		}
		label := key
		for i, v := range items {
			if v = bytes.TrimSpace(v); len(v) > 0 && (v[0] == '{' || v[0] == '[') {
				flatten(row, fmt.Sprintf("%s[%d]", key, i), v, depth+1)
				label = key
				continue
			}
			flatten(row, label, v, depth+1)
			label = "" // the next value continues the row
		}
	case '"':
		var s string
		json.Unmarshal(raw, &s)
		row(key, s)
	default:
		row(key, string(raw))
	}
}

// numbers joins a list of JSON numbers ("", false when any is not one).
func numbers(items []json.RawMessage) (string, bool) {
	out := make([]string, len(items))
	for i, v := range items {
		var n json.Number
		if json.Unmarshal(v, &n) != nil {
			return "", false
		}
		out[i] = n.String()
	}
	return strings.Join(out, ", "), len(items) > 0
}

func compactJSON(raw json.RawMessage) string {
	var buf bytes.Buffer
	json.Compact(&buf, raw)
	return buf.String()
}

// printRecord prints a verified record and the summary of its formats.
func printRecord(e *env, rec *archive.Record, sums []capture.Summarized, sumErr error) error {
	r := &rec.Statement.Predicate
	w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%s\t%s\n", k, printable(v))
		}
	}
	row("item", r.Item)
	row("sha512", r.Original.Digest[hashing.SHA512])
	row("case", r.Case)
	row("name", r.Name())
	row("size", fmt.Sprintf("%d bytes (%s)", r.Original.Size, humanBytes(r.Original.Size)))
	row("media type", r.Original.MediaType)
	if s := r.Source; s != nil {
		row("path", s.Path)
		row("acquired", s.AcquiredAt.Format(time.RFC3339)+" (ingesting machine's clock)")
		if t := s.FileTimes.Modified; t != nil {
			row("modified", t.Format(time.RFC3339Nano))
		}
	}
	if a := r.Acquisition; a != nil {
		acquisitionRows(row, a)
	}
	row("operator", r.Operator.Name)
	row("signed by", rec.SignedBy+" (record signature verified)")
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
	for _, sum := range sums {
		for _, f := range sum.Facts {
			row(f.Label, f.Value)
		}
	}
	for _, d := range r.Derivatives {
		row("derivative", fmt.Sprintf("%s (%s, %s, %d bytes) %s", d.Name, d.Kind, d.MediaType, d.Size, d.Key))
		row("  made by", recipe(d.Transform))
	}
	return w.Flush()
}

// recipe is a derivative's transform in one line: the program and its
// settings (a list of spans of the original is counted, not listed).
func recipe(t custody.Transform) string {
	s := t.Name + " " + t.Version
	if t.Profile != "" {
		s += " profile " + t.Profile
	}
	keys := make([]string, 0, len(t.Params))
	for k := range t.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		v := t.Params[k]
		if k == custody.ParamOriginalSpans {
			v = fmt.Sprintf("%d spans", len(strings.Fields(v)))
		} else if v == "" {
			v = "(none)"
		} else if len(v) > 200 {
			v = v[:200] + "…"
		}
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		s += sep + k + " " + printable(v)
	}
	return s
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

func runLs(ctx context.Context, e *env, cfg *Config, caseName string) error {
	o, err := archiveOptions(e, "", cfg)
	if err != nil {
		return err
	}
	st, err := archive.OpenStore(ctx, o.Location, o.S3)
	if err != nil {
		return err
	}
	entries, err := archive.List(ctx, st, caseName)
	if err != nil {
		return err
	}
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
