package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/verify"
)

// report.html: one self-contained page (inline CSS, thumbnails as data:
// URIs, no script, nothing fetched) that a lawyer reads: a summary, then
// each exhibit with its digests, source, times labelled by whose clock
// they come from, custody timeline, verification, a picture of what the
// package holds (its own file, linked), and its location only when the
// package holds the original.

type reportView struct {
	Title, Recipient, Organization, Contact, Case, Content, Version string
	ExportedAt                                                      string
	Exhibits                                                        []exhibitView
	Keys                                                            []keyView
	LogKey                                                          string
	TSAs                                                            []string
	Guide                                                           template.HTML
	Intact                                                          int
	Originals                                                       bool
}

type keyView struct{ Fingerprint, Operator string }

type exhibitView struct {
	Number, Name, Item, SHA256, SHA512, MediaType, Case string
	Size                                                string
	Content                                             string
	Files                                               []string
	Thumbnail                                           template.URL
	ThumbnailOf                                         string
	Source                                              []fieldView
	Times                                               []fieldView
	Location                                            string
	Derivatives                                         []fieldView
	Events                                              []eventView
	Verdict                                             string
	Checks                                              []verify.Check
	Withheld                                            string
}

type fieldView struct{ Label, Value string }

type eventView struct {
	Index              int64
	Time, Type, Actor  string
	Detail             string
	OnlyRecorderClock  bool
	IsExportOfThisPack bool
}

// report renders report.html.
func (x *exporter) report(tr *trust, guide string) ([]byte, error) {
	v := reportView{
		Title:     "Disclosure package: " + exhibits(len(x.exhibits)),
		Recipient: x.o.Recipient, Organization: x.o.Organization, Contact: x.o.Contact, Case: x.o.Case,
		Content: x.o.Content.String(), Version: x.o.Version, ExportedAt: time.Now().UTC().Format("2 January 2006, 15:04 MST"),
		LogKey: tr.vkey, Guide: markdownHTML(guide), Originals: x.o.Content != WorkingCopies,
	}
	for _, fp := range tr.keys {
		kv := keyView{Fingerprint: fp}
		for _, k := range tr.file.Keys {
			if k.Fingerprint == fp {
				kv.Operator = k.Operator
			}
		}
		v.Keys = append(v.Keys, kv)
	}
	for u, fps := range tr.tsas {
		v.TSAs = append(v.TSAs, u+" (root "+fps[len(fps)-1]+")")
	}
	sort.Strings(v.TSAs)
	for _, ex := range x.exhibits {
		ev := x.exhibitView(ex)
		if ex.Verified.Verdict == verify.Intact {
			v.Intact++
		}
		v.Exhibits = append(v.Exhibits, ev)
	}
	var buf bytes.Buffer
	if err := reportTemplate.Execute(&buf, v); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return buf.Bytes(), nil
}

func (x *exporter) exhibitView(ex *Exhibit) exhibitView {
	r := ex.Record
	v := exhibitView{
		Number: ex.Number, Name: r.Name(), Item: ex.Item.String(), SHA256: r.Original.Digest["sha256"], SHA512: r.Original.Digest["sha512"],
		MediaType: r.Original.MediaType, Case: r.Case, Size: fmt.Sprintf("%d bytes", r.Original.Size), Content: ex.Content,
		Verdict: strings.ToUpper(string(ex.Verified.Verdict)), Checks: ex.Verified.Checks, Withheld: ex.Withheld,
	}
	if ex.Original == "" {
		// The checks' details describe the original (sizes, offsets of
		// its parts): a package without it says only what passed.
		v.Checks = make([]verify.Check, len(ex.Verified.Checks))
		for i, c := range ex.Verified.Checks {
			v.Checks[i] = verify.Check{Name: c.Name, Status: c.Status}
		}
	}
	// The thumbnail: of the working copy, or of the original when the
	// package holds it; never of anything the package withholds.
	// The picture: the working copy, or the original when the package
	// holds it, never anything it withholds; shown by the reader's browser
	// from the package's own file (relative link: nothing leaves the
	// package, nothing is decoded here).
	v.ThumbnailOf = "No picture: the package holds no image of this exhibit"
	for _, f := range []struct{ path, what, mediaType string }{
		{ex.WorkingCopy, "the working copy (metadata removed)", workingCopyType(r)}, {ex.Original, "the original", r.Original.MediaType}} {
		if f.path == "" || !strings.HasPrefix(f.mediaType, "image/") {
			continue
		}
		if browserImages[f.mediaType] {
			v.Thumbnail, v.ThumbnailOf = template.URL(f.path), "The file "+f.path+": "+f.what
			break
		}
		v.ThumbnailOf = "No picture of " + f.what + ": browsers do not display " + f.mediaType + " (" + f.path + ")"
	}
	for _, f := range ex.Files {
		if !strings.Contains(f, "/events/") {
			v.Files = append(v.Files, f)
		}
	}
	v.Files = append(v.Files, fmt.Sprintf("data/%s/events/: %d custody events", ex.Number, len(ex.Events)))
	v.Source = sourceFields(r)
	meta := x.photoSummary(ex)
	if meta.CaptureTime != "" {
		v.Times = append(v.Times, fieldView{"Camera clock (" + meta.CaptureTimeSource + ", as the device recorded it: no time zone, not verified)", meta.CaptureTime})
	}
	if t := r.AcquiredAt(); !t.IsZero() {
		v.Times = append(v.Times, fieldView{"Acquisition started, by the acquiring machine's clock (not verified)", t.UTC().Format(time.RFC3339)})
	}
	if tt := trustedTime(ex.Timestamps); tt != "" {
		v.Times = append(v.Times, fieldView{"Trusted timestamp (RFC 3161): the signed record existed by", tt})
	} else {
		v.Times = append(v.Times, fieldView{"Trusted timestamp", "none: no timestamp authority was configured"})
	}
	switch {
	case ex.Original != "" && meta.Latitude != nil && meta.Longitude != nil:
		v.Location = fmt.Sprintf("%.6f, %.6f (latitude, longitude, as the device recorded them; not verified)", *meta.Latitude, *meta.Longitude)
	case ex.Original == "":
		v.Location = "withheld: this package holds no original"
	}
	for _, d := range r.Derivatives {
		desc := d.Kind + ", made by " + d.Transform.Name + " " + d.Transform.Version
		if d.Transform.Profile != "" {
			desc += " (" + d.Transform.Profile + ")"
		}
		if rm := d.Transform.Params["removed"]; rm != "" {
			desc += "; removed: " + rm
		}
		v.Derivatives = append(v.Derivatives, fieldView{d.Name, desc})
	}
	for _, e := range ex.Events {
		v.Events = append(v.Events, eventLine(e.Index, e.Event))
	}
	return v
}

// sourceFields describe where the item came from, from the signed record.
func sourceFields(r *custody.Record) []fieldView {
	var out []fieldView
	add := func(label, value string) {
		if value != "" {
			out = append(out, fieldView{label, value})
		}
	}
	if a := r.Acquisition; a != nil {
		add("Kind of source", a.Kind)
		if f, ok, err := a.File(); ok && err == nil {
			add("File", f.Path)
			if f.Device != nil {
				add("Read from", strings.TrimSpace(f.Device.Source+" "+f.Device.Type))
			}
		} else {
			var p map[string]any
			if json.Unmarshal(a.Provenance, &p) == nil {
				for _, k := range []string{"url", "collection", "id", "bucket", "key", "platform"} {
					if s, ok := p[k].(string); ok {
						add(strings.ToUpper(k[:1])+k[1:], s)
					}
				}
			}
		}
		add("Acquired by", a.By)
		var tools []string
		for _, t := range a.Tools {
			tools = append(tools, strings.TrimSpace(t.Name+" "+t.Version))
		}
		add("Tools", strings.Join(tools, ", "))
		if len(a.Parts) > 1 {
			add("Part", fmt.Sprintf("%s, one of %d parts of one acquisition (%s)", a.Part, len(a.Parts), a.ID))
		}
	} else if r.Source != nil {
		add("Kind of source", r.Source.Kind)
		add("File", r.Source.Path)
	}
	add("Ingested by", r.Operator.Name)
	add("Signing key", r.Operator.KeyFingerprint)
	add("Ingesting machine", strings.TrimSpace(r.Host.Name+" ("+r.Host.OS+"/"+r.Host.Arch+")"))
	add("Program", strings.TrimSpace(r.Tool.Name+" "+r.Tool.Version))
	add("Stored at", r.Storage.Location)
	if r.Storage.Retention != nil {
		add("Retention", r.Storage.Retention.Mode+" until "+r.Storage.Retention.Until.UTC().Format("2006-01-02"))
	}
	return out
}

// eventLine describes one custody event for people.
func eventLine(index int64, e *custody.Event) eventView {
	actor := e.Actor.Operator
	if e.Actor.Host != "" {
		actor = strings.TrimSpace(actor + " on " + e.Actor.Host)
	}
	if actor == "" {
		actor = e.Actor.KeyFingerprint
	}
	var detail string
	switch e.Type {
	case custody.EventArchived, custody.EventDerived:
		if e.Object != nil {
			detail = e.Object.Key
		}
	case custody.EventAccessed:
		detail = "by " + e.Command
	case custody.EventVerified, custody.EventFixityChecked:
		detail = "result: " + e.Result
	case custody.EventIngested:
		detail = "record " + e.Record
	case custody.EventExported:
		detail = "to " + e.Recipient + " (package " + e.Record + ")"
	case custody.EventRetentionChanged:
		if e.Retention != nil {
			detail = e.Retention.Mode + " until " + e.Retention.Until.UTC().Format("2006-01-02")
		}
	}
	return eventView{Index: index, Time: e.Time.UTC().Format("2006-01-02 15:04:05 UTC"), Type: string(e.Type), Actor: actor, Detail: detail}
}

// photoSummary is what the photo reader found, from the package's
// metadata document (so only when the package holds the original).
type photoSummary struct {
	CaptureTime       string   `json:"captureTime"`
	CaptureTimeSource string   `json:"captureTimeSource"`
	Latitude          *float64 `json:"latitude"`
	Longitude         *float64 `json:"longitude"`
}

func (x *exporter) photoSummary(ex *Exhibit) photoSummary {
	var doc struct {
		Formats map[string]struct {
			Summary photoSummary `json:"summary"`
		} `json:"formats"`
	}
	for _, f := range ex.Files {
		if strings.HasSuffix(f, "/metadata.json") {
			data, err := os.ReadFile(filepath.Join(x.bag.dir, filepath.FromSlash(f)))
			if err == nil && json.Unmarshal(data, &doc) == nil {
				for _, id := range []string{"photo/1", "heif/1"} {
					if s, ok := doc.Formats[id]; ok {
						return s.Summary
					}
				}
			}
		}
	}
	return photoSummary{}
}

// browserImages are the image types browsers display.
var browserImages = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true}

// workingCopyType is the media type of the record's working copy.
func workingCopyType(r *custody.Record) string {
	for _, d := range r.Derivatives {
		if d.Kind == strippedKind {
			return d.MediaType
		}
	}
	return ""
}

// markdownHTML renders the small Markdown VERIFY.md uses: headings,
// paragraphs, lists, ```sh blocks, `code` and [links](…) shown as text.
func markdownHTML(md string) template.HTML {
	var b strings.Builder
	inline := func(s string) string {
		s = template.HTMLEscapeString(s)
		s = mdLink.ReplaceAllString(s, "$1 ($2)")
		return mdCode.ReplaceAllString(s, "<code>$1</code>")
	}
	lines := strings.Split(md, "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case strings.HasPrefix(l, "```"):
			b.WriteString("<pre>")
			for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
				b.WriteString(template.HTMLEscapeString(lines[i]) + "\n")
			}
			b.WriteString("</pre>\n")
		case strings.HasPrefix(l, "# "):
			fmt.Fprintf(&b, "<h3>%s</h3>\n", inline(l[2:]))
		case strings.HasPrefix(l, "## "):
			fmt.Fprintf(&b, "<h4>%s</h4>\n", inline(l[3:]))
		case strings.HasPrefix(l, "- "):
			fmt.Fprintf(&b, "<ul><li>%s</li></ul>\n", inline(l[2:]))
		case strings.TrimSpace(l) != "":
			fmt.Fprintf(&b, "<p>%s</p>\n", inline(l))
		}
	}
	return template.HTML(b.String())
}

var (
	mdCode = regexp.MustCompile("`([^`]*)`")
	mdLink = regexp.MustCompile(`\[([^\]]*)\]\(([^)]*)\)`)
)

var reportTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font-family: "DejaVu Sans", "Noto Sans", "Noto Sans Arabic", Arial, sans-serif; font-size: 11pt; margin: 2em auto; max-width: 60em; color: #111; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.3em; border-bottom: 2px solid #333; padding-bottom: 0.2em; margin-top: 2em; }
section.exhibit { break-before: page; }
table { border-collapse: collapse; width: 100%; margin: 0.5em 0 1em; }
th, td { text-align: start; vertical-align: top; padding: 0.25em 0.5em; border-bottom: 1px solid #ccc; }
th { width: 28%; font-weight: 600; background: #f4f4f4; }
table.list th { width: auto; }
.digest, code, pre { font-family: "DejaVu Sans Mono", monospace; font-size: 0.85em; overflow-wrap: anywhere; }
pre { background: #f4f4f4; padding: 0.6em; white-space: pre-wrap; }
.verdict { font-weight: 700; }
.INTACT { color: #05631b; }
.warn { color: #8a5a00; }
figure { float: inline-end; margin: 0 0 1em 1em; width: 40%; }
figure img { max-width: 100%; max-height: 24em; border: 1px solid #999; }
figcaption { font-size: 0.8em; color: #444; }
.note { font-size: 0.9em; color: #444; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<table>
<tr><th>For</th><td dir="auto">{{.Recipient}}</td></tr>
{{if .Organization}}<tr><th>From</th><td dir="auto">{{.Organization}}{{if .Contact}} ({{.Contact}}){{end}}</td></tr>{{end}}
<tr><th>Exported</th><td>{{.ExportedAt}} (the exporting machine's clock; the custody log's timestamp is in custody/checkpoint.tsr when a timestamp authority is used)</td></tr>
{{if .Case}}<tr><th>Case</th><td dir="auto">{{.Case}}</td></tr>{{end}}
<tr><th>Content</th><td>{{.Content}}</td></tr>
<tr><th>Verification at export</th><td>{{.Intact}} of {{len .Exhibits}} exhibits verified intact against the archive before export</td></tr>
<tr><th>Made with</th><td>exhibit {{.Version}}</td></tr>
</table>
<p class="note">Every exhibit below is listed with the SHA-256 and SHA-512 of the original as acquired. The signatures, timestamps and custody log proofs in this package let anyone check, offline, that each file is what was signed and when; "Verifying this package" at the end (the same as VERIFY.md) gives the commands. Times are labelled by the clock they come from: only RFC 3161 timestamps are trusted time.</p>

<h2>Exhibits</h2>
<table class="list">
<tr><th>Exhibit</th><th>Name</th><th>Type</th><th>SHA-256 of the original</th><th>At export</th></tr>
{{range .Exhibits}}<tr><td><a href="#{{.Number}}">{{.Number}}</a></td><td dir="auto">{{.Name}}</td><td>{{.MediaType}}</td><td class="digest">{{.SHA256}}</td><td class="verdict {{.Verdict}}">{{.Verdict}}</td></tr>
{{end}}</table>

<h2>Keys</h2>
<p>Compare these with the fingerprints the sender gave you by another channel: the checks prove which keys signed, not who holds them.</p>
<table>
{{range .Keys}}<tr><th>Signing key{{if .Operator}} of <span dir="auto">{{.Operator}}</span>{{end}}</th><td class="digest">{{.Fingerprint}}</td></tr>
{{end}}<tr><th>Custody log key</th><td class="digest">{{.LogKey}}</td></tr>
{{range .TSAs}}<tr><th>Timestamp authority</th><td class="digest">{{.}}</td></tr>
{{else}}<tr><th>Timestamp authority</th><td>none: no time in this package is trusted time</td></tr>{{end}}
</table>

{{range .Exhibits}}
<section class="exhibit" id="{{.Number}}">
<h2>{{.Number}}: <span dir="auto">{{.Name}}</span></h2>
{{if .Thumbnail}}<figure><img src="{{.Thumbnail}}" alt="{{.Number}}" loading="lazy"><figcaption>{{.ThumbnailOf}}</figcaption></figure>{{else}}<p class="note">{{.ThumbnailOf}}</p>{{end}}
<table>
<tr><th>Item</th><td class="digest">{{.Item}}</td></tr>
<tr><th>SHA-256</th><td class="digest">{{.SHA256}}</td></tr>
<tr><th>SHA-512</th><td class="digest">{{.SHA512}}</td></tr>
<tr><th>Size, type</th><td>{{.Size}}, {{.MediaType}}</td></tr>
{{if .Case}}<tr><th>Case</th><td dir="auto">{{.Case}}</td></tr>{{end}}
<tr><th>In this package</th><td>{{.Content}}{{range .Files}}<br><code>{{.}}</code>{{end}}</td></tr>
</table>
<h3>Source and acquisition</h3>
<table>{{range .Source}}<tr><th>{{.Label}}</th><td dir="auto">{{.Value}}</td></tr>{{end}}</table>
<h3>Times</h3>
<table>{{range .Times}}<tr><th>{{.Label}}</th><td>{{.Value}}</td></tr>{{end}}</table>
{{if .Location}}<h3>Location</h3><p>{{.Location}}</p>{{end}}
{{if .Derivatives}}<h3>Derived files</h3>
<table>{{range .Derivatives}}<tr><th>{{.Label}}</th><td>{{.Value}}</td></tr>{{end}}</table>{{end}}
<h3>Custody</h3>
<table class="list">
<tr><th>#</th><th>When (recorder's clock)</th><th>Event</th><th>By</th><th>Detail</th></tr>
{{range .Events}}<tr><td>{{.Index}}</td><td>{{.Time}}</td><td>{{.Type}}</td><td dir="auto">{{.Actor}}</td><td class="digest" dir="auto">{{.Detail}}</td></tr>
{{end}}<tr><td></td><td>at export</td><td>exported</td><td></td><td>this package (its exported event and every event's inclusion proof are in custody/)</td></tr>
</table>
<h3>Verification at export: <span class="verdict {{.Verdict}}">{{.Verdict}}</span></h3>
<table class="list">
{{range .Checks}}<tr><td>{{.Status}}</td><td>{{.Name}}</td><td class="digest">{{.Detail}}</td></tr>
{{end}}</table>
</section>
{{end}}

<section class="exhibit" id="verifying">
<h2>Verifying this package</h2>
{{.Guide}}
</section>
</body>
</html>
`))
