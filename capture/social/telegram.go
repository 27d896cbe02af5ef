package social

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"path"
	"strconv"
	"strings"
	"time"
)

// telegram reads a Telegram Desktop JSON export: one chat
// ({"name", "type", "id", "messages": […]}) or a whole account's
// ({"personal_information", "chats": {"list": [chat…]}, "left_chats": …}).
// "personal_information" (the exporting account's phone number) and
// everything else but the chats is skipped unread.
type telegram struct {
	m   *Metadata
	ctx context.Context
	// zr and dir: a zipped export, result.json in dir.
	zr  *zip.Reader
	dir string
	// files are the zip's entries by name.
	files map[string]*zip.File
	n     int
}

// findTelegram finds result.json at the zip's root or one folder down
// (Telegram Desktop writes ChatExport_DATE/result.json).
func findTelegram(zr *zip.Reader) (*zip.File, string) {
	for _, f := range zr.File {
		dir, base := path.Split(f.Name)
		if base == "result.json" && strings.Count(dir, "/") <= 1 {
			return f, dir
		}
	}
	return nil, ""
}

func (t *telegram) readZipped(f *zip.File) error {
	t.files = map[string]*zip.File{}
	for _, e := range t.zr.File {
		t.files[e.Name] = e
	}
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	return t.read(rc)
}

func (t *telegram) read(r io.Reader) error {
	s := newStream(r)
	single := &Chat{}
	err := s.object(func(key string) error {
		switch key {
		case "chats", "left_chats":
			return s.object(func(k string) error {
				if k != "list" {
					return s.skip()
				}
				return s.array(func() error {
					c := &Chat{}
					if err := t.chat(s, c); err != nil {
						return err
					}
					t.m.chat(*c)
					return nil
				})
			})
		case "messages":
			return t.messages(s, single)
		case "name", "type", "id":
			return t.chatField(s, single, key)
		}
		return s.skip()
	})
	if single.Posts > 0 || single.Name != "" && single.Type != "" {
		t.m.Chats = append([]Chat{*single}, t.m.Chats...)
	}
	return err
}

func (t *telegram) chatField(s *stream, c *Chat, key string) error {
	var v any
	if err := s.value(&v); err != nil {
		return err
	}
	switch key {
	case "name":
		c.Name = str(v)
	case "type":
		c.Type = str(v)
	case "id":
		c.ID = str(v)
	}
	return nil
}

func (t *telegram) chat(s *stream, c *Chat) error {
	return s.object(func(key string) error {
		switch key {
		case "messages":
			return t.messages(s, c)
		case "name", "type", "id":
			return t.chatField(s, c, key)
		}
		return s.skip()
	})
}

// message is what is read of a message.
type message struct {
	ID            json.Number     `json:"id"`
	Type          string          `json:"type"`
	Date          string          `json:"date"`
	DateUnix      string          `json:"date_unixtime"`
	EditedUnix    string          `json:"edited_unixtime"`
	From          any             `json:"from"`
	FromID        string          `json:"from_id"`
	Actor         string          `json:"actor"`
	ActorID       string          `json:"actor_id"`
	Action        string          `json:"action"`
	Text          json.RawMessage `json:"text"`
	ReplyTo       json.Number     `json:"reply_to_message_id"`
	ForwardedFrom any             `json:"forwarded_from"`
	Photo         string          `json:"photo"`
	PhotoSize     json.Number     `json:"photo_file_size"`
	File          string          `json:"file"`
	FileSize      json.Number     `json:"file_size"`
	MediaType     string          `json:"media_type"`
	Reactions     []reaction      `json:"reactions"`
}

type reaction struct {
	Count json.Number `json:"count"`
}

func (t *telegram) messages(s *stream, c *Chat) error {
	return s.array(func() error {
		if t.n++; t.n%1024 == 0 && t.ctx.Err() != nil {
			return t.ctx.Err()
		}
		var msg message
		if err := s.value(&msg); err != nil {
			return err
		}
		c.Posts++
		if t.m.full {
			t.m.Count++ // past the bounds: counted, not read further
			return nil
		}
		t.m.add(t.post(&msg, c))
		return nil
	})
}

func (t *telegram) post(msg *message, c *Chat) Post {
	p := Post{ID: msg.ID.String(), Chat: c.ID, Kind: msg.Type, TimeText: msg.Date, Author: str(msg.From), AuthorID: msg.FromID,
		Text: text(msg.Text), ForwardedFrom: str(msg.ForwardedFrom)}
	if msg.Type == "service" {
		p.Author, p.AuthorID, p.Kind = msg.Actor, msg.ActorID, "service: "+msg.Action
	}
	p.Time = unix(msg.DateUnix)
	p.Edited = unix(msg.EditedUnix)
	if msg.ReplyTo != "" {
		p.ReplyTo = msg.ReplyTo.String()
	}
	if len(msg.Reactions) > 0 {
		var n int64
		for _, r := range msg.Reactions {
			if k, err := r.Count.Int64(); err == nil {
				n += k
			}
		}
		p.Counts = map[string]int64{"reactions": n}
	}
	if msg.Photo != "" {
		p.Media = append(p.Media, t.media(msg.Photo, "photo", msg.PhotoSize))
	}
	if msg.File != "" {
		kind := msg.MediaType
		if kind == "" {
			kind = "file"
		}
		p.Media = append(p.Media, t.media(msg.File, kind, msg.FileSize))
	}
	return p
}

// media describes a file a message names: its digest when the zipped
// export holds it.
func (t *telegram) media(rel, kind string, size json.Number) Media {
	m := Media{Path: rel, Type: kind}
	if n, err := size.Int64(); err == nil {
		m.Size = n
	}
	if strings.HasPrefix(rel, "(") { // "(File not included. Change data exporting settings to download.)"
		m.Path, m.Missing = "", strings.Trim(rel, "()")
		return m
	}
	if t.files == nil {
		return m
	}
	f := t.files[path.Join(t.dir, rel)]
	if f == nil || strings.Contains(rel, "..") {
		m.Missing = "not in the zip"
		return m
	}
	sum, n, err := t.m.hash(f)
	if err != nil {
		m.Missing = "unreadable in the zip: " + err.Error()
		return m
	}
	m.SHA256, m.Size = sum, n
	return m
}

// hashEntry is the sha256 and size of a zip entry's content.
func hashEntry(f *zip.File) (string, int64, error) {
	rc, err := f.Open()
	if err != nil {
		return "", 0, err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// text is a message's text: a string, or a list of strings and entities
// ({"type", "text"}) joined.
func text(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []json.RawMessage
	if json.Unmarshal(raw, &parts) != nil {
		return ""
	}
	var b strings.Builder
	for _, p := range parts {
		var e struct {
			Text string `json:"text"`
		}
		if json.Unmarshal(p, &s) == nil {
			b.WriteString(s)
		} else if json.Unmarshal(p, &e) == nil {
			b.WriteString(e.Text)
		}
	}
	return b.String()
}

// unix is a decimal count of seconds since 1970 as a time (nil when not).
func unix(s string) *time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > 1e11 {
		return nil
	}
	t := time.Unix(n, 0).UTC()
	return &t
}

// finish completes the metadata after reading.
func (t *telegram) finish() {
	if len(t.m.Chats) > 1 {
		return
	}
	for i := range t.m.Posts {
		t.m.Posts[i].Chat = "" // one chat: said once, in Chats
	}
}
