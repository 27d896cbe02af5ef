// Package social reads platform exports: the archive X (Twitter) gives an
// account holder (a zip with data/tweets.js) and Telegram Desktop's JSON
// export of a chat or channel (result.json, with its media folders,
// zipped or not). The export itself is the original, archived byte for
// byte; this reader lists its posts in the metadata document: each post's
// ID, its time as the platform states it, author, text, the post it
// replies to or was forwarded from, counts, and its media files with the
// sha256 of each as found in the export.
//
// Everything read is the platform's statement, labelled as such. The
// exporting account's own e-mail address and phone number, which both
// exports carry, are never read.
package social

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/openexhibit/exhibit/capture"
)

// ReaderID names the reader and its output version.
const ReaderID = "social-export/1"

// Bounds on what is kept, whatever the export holds: an export past them
// is listed up to there and marked truncated.
const (
	// MaxPosts bounds the posts listed, MaxKept the bytes their fields
	// take in all.
	MaxPosts = 200_000
	MaxKept  = 256 << 20
	// MaxText bounds one post's text (cut at a character boundary, with
	// TextCut set); MaxMedia its media and media URLs; MaxChats the chats.
	MaxText  = 64 << 10
	MaxMedia = 100
	MaxChats = 10_000
)

// maxValue bounds one JSON value read whole (one post, one account).
const maxValue = 16 << 20

// Reader is the capture.Reader of platform exports.
type Reader struct{}

// New returns the reader.
func New() *Reader { return &Reader{} }

// ID implements capture.Reader.
func (*Reader) ID() string { return ReaderID }

// MediaTypes implements capture.Reader: exports come zipped, and
// Telegram's result.json also bare (sniffed as text).
func (*Reader) MediaTypes() []string {
	return []string{"application/zip", "application/json", "text/plain"}
}

// Metadata is the output of social-export/1.
type Metadata struct {
	// Platform is "x" or "telegram"; Format says which export.
	Platform string `json:"platform"`
	Format   string `json:"format"`
	// Account is whose export it is (X), Chats the chats or channels in
	// it (Telegram).
	Account *Account `json:"account,omitempty"`
	Chats   []Chat   `json:"chats,omitempty"`
	// Generated is when the platform says it made the export.
	Generated string `json:"generated,omitempty"`
	// Partial: the platform says the export is one part of several.
	Partial bool `json:"partial,omitempty"`
	// Count is the posts in the export; Posts lists them (at most
	// MaxPosts and MaxKept bytes: Truncated).
	Count     int    `json:"count"`
	Truncated bool   `json:"truncated,omitempty"`
	Posts     []Post `json:"posts"`
	// First and Last bound the posts' stated times.
	First *time.Time `json:"first,omitempty"`
	Last  *time.Time `json:"last,omitempty"`
	// Problems are parts of the export that could not be read.
	Problems []string `json:"problems,omitempty"`
	Note     string   `json:"note"`

	kept   int                  // bytes the listed posts take
	full   bool                 // no more posts are listed
	hashed map[*zip.File]hashed // media already hashed
}

type hashed struct {
	sum  string
	size int64
	err  error
}

// hash is the sha256 and size of a zip entry's content, each entry read
// once however many posts name it.
func (m *Metadata) hash(f *zip.File) (string, int64, error) {
	if h, ok := m.hashed[f]; ok {
		return h.sum, h.size, h.err
	}
	if m.hashed == nil {
		m.hashed = map[*zip.File]hashed{}
	}
	sum, n, err := hashEntry(f)
	m.hashed[f] = hashed{sum, n, err}
	return sum, n, err
}

// chat adds a chat, up to MaxChats.
func (m *Metadata) chat(c Chat) {
	if len(m.Chats) >= MaxChats {
		m.Truncated = true
		return
	}
	m.Chats = append(m.Chats, c)
}

// Account is an export's account as the platform names it.
type Account struct {
	ID       string `json:"id,omitempty"`
	Handle   string `json:"handle,omitempty"`
	Name     string `json:"name,omitempty"`
	Created  string `json:"created,omitempty"`
	Platform string `json:"-"`
}

// Chat is a Telegram chat or channel in an export.
type Chat struct {
	ID    string `json:"id,omitempty"`
	Name  string `json:"name,omitempty"`
	Type  string `json:"type,omitempty"`
	Posts int    `json:"posts"`
}

// Post is one post or message.
type Post struct {
	ID   string `json:"id"`
	Chat string `json:"chat,omitempty"`
	// Time is the post's time as the platform states it; TimeText the
	// field as written (a Telegram export's "date" is the exporting
	// machine's local time, without a zone).
	Time     *time.Time `json:"time,omitempty"`
	TimeText string     `json:"timeText,omitempty"`
	Edited   *time.Time `json:"edited,omitempty"`
	// Deleted: the account deleted it (X lists those apart).
	Deleted       bool             `json:"deleted,omitempty"`
	Kind          string           `json:"kind,omitempty"`
	Author        string           `json:"author,omitempty"`
	AuthorID      string           `json:"authorId,omitempty"`
	Text          string           `json:"text,omitempty"`
	TextCut       bool             `json:"textCut,omitempty"`
	ReplyTo       string           `json:"replyTo,omitempty"`
	ForwardedFrom string           `json:"forwardedFrom,omitempty"`
	Counts        map[string]int64 `json:"counts,omitempty"`
	MediaURLs     []string         `json:"mediaUrls,omitempty"`
	Media         []Media          `json:"media,omitempty"`
}

// Media is a media file of a post.
type Media struct {
	// Path is where the export has it (relative to the export's root).
	Path string `json:"path,omitempty"`
	Type string `json:"type,omitempty"`
	Size int64  `json:"size,omitempty"`
	// SHA256 is the file's as found in the export ("" when it is not in
	// the original: a bare result.json, or a file the export left out).
	SHA256 string `json:"sha256,omitempty"`
	// Missing says the export did not include the file.
	Missing string `json:"missing,omitempty"`
}

const note = "every time, name and count is the platform's statement in its export, not verified; the export is the original, archived as it was given"

// Read implements capture.Reader.
func (*Reader) Read(ctx context.Context, src capture.Source) (*capture.Result, error) {
	var m *Metadata
	var err error
	if zr, zerr := zip.NewReader(src, src.Size()); zerr == nil {
		m, err = readZip(ctx, zr)
	} else {
		m, err = readBare(ctx, src)
	}
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, capture.ErrUnsupported
	}
	m.Note = note
	if m.Posts == nil {
		m.Posts = []Post{}
	}
	return &capture.Result{Metadata: m}, nil
}

// telegramHead recognizes a Telegram export by its first bytes.
var telegramHead = regexp.MustCompile(`^\s*\{[\s\S]*"(messages|chats|personal_information)"\s*:\s*[\[{]`)

// readBare reads a file that may be a Telegram result.json.
func readBare(ctx context.Context, src capture.Source) (*Metadata, error) {
	head := make([]byte, min(src.Size(), 64<<10))
	n, _ := src.ReadAt(head, 0)
	if !telegramHead.Match(head[:n]) || !bytes.Contains(head[:n], []byte(`"type"`)) {
		return nil, nil
	}
	m := &Metadata{Platform: "telegram", Format: "Telegram Desktop export (result.json)"}
	t := &telegram{m: m, ctx: ctx}
	if err := t.read(io.NewSectionReader(src, 0, src.Size())); err != nil {
		if len(m.Chats) == 0 && len(m.Posts) == 0 {
			return nil, nil // not one after all
		}
		m.Problems = append(m.Problems, "result.json: "+err.Error())
	}
	t.finish()
	return m, nil
}

// readZip reads an X archive or a zipped Telegram export (nil when the
// zip is neither).
func readZip(ctx context.Context, zr *zip.Reader) (*Metadata, error) {
	if x := findX(zr); x != nil {
		return x.read(ctx)
	}
	if f, dir := findTelegram(zr); f != nil {
		m := &Metadata{Platform: "telegram", Format: "Telegram Desktop export (result.json), zipped"}
		t := &telegram{m: m, ctx: ctx, zr: zr, dir: dir}
		if err := t.readZipped(f); err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return nil, err
			}
			m.Problems = append(m.Problems, f.Name+": "+err.Error())
		}
		t.finish()
		return m, ctx.Err()
	}
	return nil, nil
}

// add appends a post (counting those past the bounds) and widens the
// time range.
func (m *Metadata) add(p Post) {
	m.Count++
	if len(p.Text) > MaxText {
		cut := MaxText
		for cut > 0 && !utf8.RuneStart(p.Text[cut]) {
			cut--
		}
		p.Text, p.TextCut = p.Text[:cut], true
	}
	if p.Time != nil {
		if m.First == nil || p.Time.Before(*m.First) {
			t := *p.Time
			m.First = &t
		}
		if m.Last == nil || p.Time.After(*m.Last) {
			t := *p.Time
			m.Last = &t
		}
	}
	size := 256 + len(p.Text) + len(p.Author) + len(p.AuthorID) + len(p.TimeText) + len(p.ForwardedFrom)
	for _, u := range p.MediaURLs {
		size += len(u)
	}
	for _, f := range p.Media {
		size += 128 + len(f.Path) + len(f.Missing)
	}
	if m.full || len(m.Posts) >= MaxPosts || m.kept+size > MaxKept {
		m.full, m.Truncated = true, true
		return
	}
	m.kept += size
	m.Posts = append(m.Posts, p)
}

// Summarize implements capture.Summarizer.
func (*Reader) Summarize(stored json.RawMessage) (*capture.Summary, error) {
	var m Metadata
	if err := json.Unmarshal(stored, &m); err != nil {
		return nil, err
	}
	facts := []capture.Fact{{Label: "platform export", Value: m.Format}}
	if a := m.Account; a != nil {
		facts = append(facts, capture.Fact{Label: "account", Value: fmt.Sprintf("@%s (%s, id %s)", a.Handle, a.Name, a.ID)})
	}
	for _, c := range m.Chats {
		facts = append(facts, capture.Fact{Label: "chat", Value: fmt.Sprintf("%s (%s, id %s): %d messages", c.Name, c.Type, c.ID, c.Posts)})
	}
	posts := fmt.Sprintf("%d", m.Count)
	if m.First != nil && m.Last != nil {
		posts += fmt.Sprintf(", %s to %s (as the platform states)", m.First.Format(time.RFC3339), m.Last.Format(time.RFC3339))
	}
	if m.Truncated {
		posts += fmt.Sprintf("; the first %d listed", len(m.Posts))
	}
	facts = append(facts, capture.Fact{Label: "posts", Value: posts})
	if m.Generated != "" {
		facts = append(facts, capture.Fact{Label: "export made", Value: m.Generated + " (as the platform states)"})
	}
	media, missing := 0, 0
	for _, p := range m.Posts {
		for _, f := range p.Media {
			if f.Missing != "" {
				missing++
			} else {
				media++
			}
		}
	}
	if media+missing > 0 {
		facts = append(facts, capture.Fact{Label: "media", Value: fmt.Sprintf("%d files in the export, %d left out of it", media, missing)})
	}
	for _, p := range m.Problems {
		facts = append(facts, capture.Fact{Label: "problem", Value: p})
	}
	return &capture.Summary{Value: &m, Facts: facts}, nil
}
