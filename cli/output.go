package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/openexhibit/exhibit/ingest"
	"github.com/openexhibit/exhibit/sign"
	"golang.org/x/term"
)

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// JSON schemas: every JSON document a command writes names its schema
// (name and version) in its first field, "schema"; docs/formats.md
// specifies each.
const (
	schemaError      = "exhibit.error/v1"
	schemaInit       = "exhibit.init/v1"
	schemaIngest     = "exhibit.ingest/v1"
	schemaVerify     = "exhibit.verify/v2"
	schemaShow       = "exhibit.show/v1"
	schemaList       = "exhibit.ls/v2"
	schemaGet        = "exhibit.get/v1"
	schemaLogShow    = "exhibit.log-show/v1"
	schemaLogVerify  = "exhibit.log-verify/v1"
	schemaProfiles   = "exhibit.profiles/v1"
	schemaStacSearch = "exhibit.stac-search/v1"
)

// writeJSON writes v, a JSON object, as one line with "schema" as its
// first field.
func writeJSON(w io.Writer, schema string, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	body := buf.Bytes()
	if len(body) < 2 || body[0] != '{' {
		return fmt.Errorf("cli: JSON output of %s is not an object", schema)
	}
	head := `{"schema":"` + schema + `"`
	if body[1] != '}' {
		head += ","
	}
	_, err := io.WriteString(w, head+string(body[1:]))
	return err
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// progress renders ingest progress: a bar on a terminal, JSON lines with
// --json, and one line per file otherwise.
type progress struct {
	e     *env
	mu    sync.Mutex
	files int
	total int64
	done  int
	read  int64
	start time.Time
	last  time.Time
	drawn bool
}

func newProgress(e *env) *progress {
	now := time.Now()
	return &progress{e: e, start: now, last: now}
}

func (p *progress) Planned(files int, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.files, p.total = files, total
	if p.e.json {
		writeJSON(p.e.stdout, schemaIngest, map[string]any{"event": "planned", "files": files, "bytes": total})
	}
}

func (p *progress) Read(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.read += n
	now := time.Now()
	switch {
	case p.e.json && now.Sub(p.last) >= time.Second:
		// Progress of long files, at most once a second.
		p.last = now
		writeJSON(p.e.stdout, schemaIngest, map[string]any{"event": "progress", "filesDone": p.done, "files": p.files, "bytesRead": p.read, "bytes": p.total})
	case !p.e.json && p.e.tty && now.Sub(p.last) >= 100*time.Millisecond:
		p.last = now
		p.draw()
	}
}

func (p *progress) draw() {
	const width = 30
	frac := 1.0
	if p.total > 0 {
		frac = float64(p.read) / float64(p.total)
	}
	if frac > 1 {
		frac = 1
	}
	n := int(frac * width)
	rate := float64(p.read) / max(time.Since(p.start).Seconds(), 0.001)
	fmt.Fprintf(p.e.stderr, "\r[%s%s] %d/%d files  %s/%s  %s/s \x1b[K",
		strings.Repeat("=", n), strings.Repeat(" ", width-n), p.done, p.files,
		humanBytes(p.read), humanBytes(p.total), humanBytes(int64(rate)))
	p.drawn = true
}

// finish clears the progress line, once the run is over.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
}

func (p *progress) clear() {
	if p.drawn {
		fmt.Fprint(p.e.stderr, "\r\x1b[K")
		p.drawn = false
	}
}

// TimestampMissed reports a bundle signed without a TSA's timestamp.
func (p *progress) TimestampMissed(item string, err *sign.TSAError) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.e.json {
		writeJSON(p.e.stdout, schemaIngest, map[string]any{"event": "timestamp-missed", "item": item, "tsa": err.URL, "error": err.Error()})
		return
	}
	p.clear()
	fmt.Fprintf(p.e.stderr, "warning   %s: bundle signed without a timestamp: %v\n", item, err)
}

func (p *progress) Done(r ingest.Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.Status == ingest.NotStarted {
		return // counted in the summary; one line each would bury it
	}
	if r.Status != ingest.Skipped && (r.Status != ingest.Failed || r.Item != "") {
		p.done++
	}
	if p.e.json {
		m := map[string]any{"event": "item", "path": r.Path, "status": r.Status}
		if r.Item != "" {
			m["item"] = r.Item
			m["size"] = r.Size
		}
		if r.Reason != "" {
			m["reason"] = r.Reason
		}
		if r.Err != nil {
			m["error"] = r.Err.Error()
		}
		writeJSON(p.e.stdout, schemaIngest, m)
		return
	}
	p.clear()
	switch r.Status {
	case ingest.Failed:
		fmt.Fprintf(p.e.stderr, "failed    %s: %s\n", printable(r.Path), printable(r.Err.Error()))
	case ingest.Skipped:
		fmt.Fprintf(p.e.stderr, "skipped   %s: %s\n", printable(r.Path), r.Reason)
	case ingest.Exists:
		fmt.Fprintf(p.e.stdout, "exists    %s  %s  (already archived: nothing written)\n", r.Item, printable(r.Path))
	default:
		fmt.Fprintf(p.e.stdout, "%-9s %s  %s  %s\n", r.Status, r.Item, printable(r.Path), humanBytes(r.Size))
	}
	if p.e.tty {
		p.draw()
	}
}

// printable is s for a line of text output: control characters (newlines,
// escape sequences, BEL) and bytes that are not UTF-8 are written as Go
// escapes (\n, \x1b, \xff), and a backslash as \\, so that a hostile
// file name cannot forge lines or drive the terminal, and the exact bytes
// can be read back. JSON output carries names as they are.
func printable(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || r == '\\' || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}
