package social

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/openexhibit/exhibit/capture"
)

type src struct {
	*bytes.Reader
	name string
}

func (s src) Name() string      { return s.name }
func (s src) MediaType() string { return "" }

func newSrc(b []byte) src { return src{bytes.NewReader(b), "export"} }

// zipOf makes a zip of name/content pairs.
func zipOf(t testing.TB, files ...string) []byte {
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for i := 0; i < len(files); i += 2 {
		f, err := w.Create(files[i])
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte(files[i+1]))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func read(t testing.TB, b []byte) (*Metadata, error) {
	res, err := New().Read(context.Background(), newSrc(b))
	if err != nil {
		return nil, err
	}
	return res.Metadata.(*Metadata), nil
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

const (
	xManifest = `window.__THAR_CONFIG = {"userInfo": {"accountId": "1460000000000000001", "userName": "kh_witness", "displayName": "Kharkiv Witness"},
  "archiveInfo": {"sizeBytes": "1234", "generationDate": "2026-03-20T10:00:00.000Z", "isPartialArchive": false},
  "dataTypes": {"tweets": {"files": [{"fileName": "data/tweets.js", "globalName": "YTD.tweets.part0", "count": "2"}]}}}`
	xAccount = `window.YTD.account.part0 = [ {"account": {"email": "witness@example.org", "createdVia": "web", "username": "kh_witness",
  "accountId": "1460000000000000001", "createdAt": "2021-11-15T08:00:00.000Z", "accountDisplayName": "Kharkiv Witness"}} ]`
	xTweetsJS = `window.YTD.tweets.part0 = [ {
  "tweet" : {"id_str": "1790000000000000123", "created_at": "Thu Mar 12 05:41:00 +0000 2026",
    "full_text": "Convoy on the bridge at dawn https://t.co/x", "favorite_count": "87", "retweet_count": "12",
    "entities": {"media": [{"media_url_https": "https://pbs.twimg.com/media/AbC.jpg", "type": "photo"}]},
    "extended_entities": {"media": [{"media_url_https": "https://pbs.twimg.com/media/AbC.jpg", "type": "photo"},
      {"media_url_https": "https://pbs.twimg.com/media/DeF.jpg", "type": "photo"}]}}
}, {
  "tweet" : {"id_str": "1790000000000000124", "created_at": "Thu Mar 12 06:00:00 +0000 2026", "full_text": "@someone yes",
    "in_reply_to_status_id_str": "1790000000000000001", "favorite_count": "0", "retweet_count": "0"}
} ]`
	xDeletedJS = `window.YTD.deleted_tweets.part0 = [ {"tweet": {"id_str": "1790000000000000200", "created_at": "Fri Mar 13 09:00:00 +0000 2026",
  "full_text": "removed later", "deleted_at": "Sat Mar 14 09:00:00 +0000 2026"}} ]`
)

func TestXArchive(t *testing.T) {
	z := zipOf(t, "Your archive.html", "<html>", "data/manifest.js", xManifest, "data/account.js", xAccount,
		"data/tweets.js", xTweetsJS, "data/deleted-tweets.js", xDeletedJS,
		"data/tweets_media/1790000000000000123-AbC.jpg", "photo one", "data/tweets_media/1790000000000000123-DeF.jpg", "photo two")
	m, err := read(t, z)
	if err != nil {
		t.Fatal(err)
	}
	if m.Platform != "x" || m.Account == nil || m.Account.Handle != "kh_witness" || m.Account.ID != "1460000000000000001" ||
		m.Account.Created != "2021-11-15T08:00:00.000Z" || m.Generated != "2026-03-20T10:00:00.000Z" || len(m.Problems) != 0 {
		t.Fatalf("%+v %+v", m, m.Account)
	}
	if m.Count != 3 || len(m.Posts) != 3 {
		t.Fatalf("posts: %+v", m.Posts)
	}
	p := m.Posts[0]
	if p.ID != "1790000000000000123" || !p.Time.Equal(time.Date(2026, 3, 12, 5, 41, 0, 0, time.UTC)) || p.Counts["likes"] != 87 ||
		p.Counts["reposts"] != 12 || p.Author != "kh_witness" || len(p.MediaURLs) != 2 || len(p.Media) != 2 {
		t.Fatalf("post %+v", p)
	}
	if p.Media[0].SHA256 != sum("photo one") || p.Media[0].Size != 9 || p.Media[0].Type != "photo" || p.Media[1].SHA256 != sum("photo two") {
		t.Errorf("media %+v", p.Media)
	}
	if m.Posts[1].ReplyTo != "1790000000000000001" || m.Posts[1].Deleted || !m.Posts[2].Deleted {
		t.Errorf("reply or deletion: %+v", m.Posts[1:])
	}
	if !m.First.Equal(*m.Posts[0].Time) || !m.Last.Equal(*m.Posts[2].Time) {
		t.Errorf("range %v..%v", m.First, m.Last)
	}
	out, _ := json.Marshal(m)
	if bytes.Contains(out, []byte("witness@example.org")) {
		t.Error("the account's e-mail address was read")
	}
	sm, err := New().Summarize(out)
	if err != nil {
		t.Fatal(err)
	}
	var facts []string
	for _, f := range sm.Facts {
		facts = append(facts, f.Label+": "+f.Value)
	}
	all := strings.Join(facts, "\n")
	for _, want := range []string{"account: @kh_witness", "posts: 3, 2026-03-12T05:41:00Z to 2026-03-13T09:00:00Z (as the platform states)", "media: 2 files in the export, 0 left out"} {
		if !strings.Contains(all, want) {
			t.Errorf("summary lacks %q:\n%s", want, all)
		}
	}
}

const tgChat = `{
 "name": "Kharkiv reports",
 "type": "public_channel",
 "id": 1234567890,
 "messages": [
  {"id": 1, "type": "service", "date": "2026-03-01T08:00:00", "date_unixtime": "1772352000", "actor": "Kharkiv reports",
   "actor_id": "channel1234567890", "action": "create_channel", "title": "Kharkiv reports", "text": "", "text_entities": []},
  {"id": 2, "type": "message", "date": "2026-03-12T07:41:00", "date_unixtime": "1773294060", "edited": "2026-03-12T08:00:00",
   "edited_unixtime": "1773295200", "from": "Kharkiv reports", "from_id": "channel1234567890",
   "photo": "photos/photo_1@12-03-2026_07-41-00.jpg", "photo_file_size": 9, "width": 1280, "height": 960,
   "text": ["Convoy on the ", {"type": "bold", "text": "bridge"}, " at dawn"], "reactions": [{"type": "emoji", "count": 5, "emoji": "x"}, {"count": 2}]},
  {"id": 3, "type": "message", "date": "2026-03-12T09:00:00", "date_unixtime": "1773302400", "from": "Kharkiv reports",
   "from_id": "channel1234567890", "reply_to_message_id": 2, "forwarded_from": "Other channel",
   "file": "(File not included. Change data exporting settings to download.)", "media_type": "video_file", "text": "video"}
 ]
}`

func TestTelegram(t *testing.T) {
	check := func(t *testing.T, m *Metadata, zipped bool) {
		t.Helper()
		if m.Platform != "telegram" || len(m.Chats) != 1 || m.Chats[0].Name != "Kharkiv reports" || m.Chats[0].Type != "public_channel" ||
			m.Chats[0].ID != "1234567890" || m.Chats[0].Posts != 3 || m.Count != 3 || len(m.Problems) != 0 {
			t.Fatalf("%+v", m)
		}
		p := m.Posts[1]
		if p.Text != "Convoy on the bridge at dawn" || !p.Time.Equal(time.Unix(1773294060, 0)) || p.TimeText != "2026-03-12T07:41:00" ||
			p.Edited == nil || p.Counts["reactions"] != 7 || p.AuthorID != "channel1234567890" || len(p.Media) != 1 || p.Chat != "" {
			t.Fatalf("message %+v", p)
		}
		if zipped && (p.Media[0].SHA256 != sum("photo one") || p.Media[0].Path != "photos/photo_1@12-03-2026_07-41-00.jpg") {
			t.Errorf("zipped photo %+v", p.Media[0])
		}
		if !zipped && (p.Media[0].SHA256 != "" || p.Media[0].Missing != "") {
			t.Errorf("bare photo %+v", p.Media[0])
		}
		if v := m.Posts[2]; v.ReplyTo != "2" || v.ForwardedFrom != "Other channel" || len(v.Media) != 1 || !strings.Contains(v.Media[0].Missing, "File not included") {
			t.Errorf("message 3 %+v", v)
		}
		if s := m.Posts[0]; s.Kind != "service: create_channel" || s.Author != "Kharkiv reports" {
			t.Errorf("service %+v", s)
		}
	}
	t.Run("bare", func(t *testing.T) {
		m, err := read(t, []byte(tgChat))
		if err != nil {
			t.Fatal(err)
		}
		check(t, m, false)
	})
	t.Run("zipped", func(t *testing.T) {
		m, err := read(t, zipOf(t, "ChatExport_2026-03-20/result.json", tgChat,
			"ChatExport_2026-03-20/photos/photo_1@12-03-2026_07-41-00.jpg", "photo one"))
		if err != nil {
			t.Fatal(err)
		}
		check(t, m, true)
	})
	t.Run("account", func(t *testing.T) {
		full := `{"about": "Here is the data you requested.", "personal_information": {"user_id": 7, "phone_number": "+380 00 000 0000"},
		 "contacts": {"list": [{"first_name": "A", "phone_number": "+380 11"}]},
		 "chats": {"about": "x", "list": [` + tgChat + `, {"name": "Second", "type": "private_group", "id": 55, "messages": [
		   {"id": 9, "type": "message", "date_unixtime": "1773302400", "from": "B", "from_id": "user9", "text": "hi"}]}]},
		 "left_chats": {"about": "y", "list": []}}`
		m, err := read(t, []byte(full))
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Chats) != 2 || m.Count != 4 || m.Posts[3].Chat != "55" || m.Posts[0].Chat != "1234567890" {
			t.Fatalf("%+v", m.Chats)
		}
		if out, _ := json.Marshal(m); bytes.Contains(out, []byte("+380")) {
			t.Error("a phone number was read")
		}
	})
}

// TestNotExports: what is not a platform export is left to other readers;
// a damaged export is read as far as it goes, with the problem said.
func TestNotExports(t *testing.T) {
	for name, b := range map[string][]byte{
		"text":      []byte("just some notes\n"),
		"json":      []byte(`{"type": "FeatureCollection", "features": []}`),
		"zip":       zipOf(t, "a.txt", "x"),
		"wacz":      zipOf(t, "datapackage.json", "{}", "archive/data.warc", ""),
		"tweets.js": zipOf(t, "data/tweets.js", xTweetsJS), // no manifest or account
	} {
		if _, err := read(t, b); !errors.Is(err, capture.ErrUnsupported) {
			t.Errorf("%s: %v", name, err)
		}
	}
	cut := xTweetsJS[:strings.Index(xTweetsJS, "\n}, {")+4]
	m, err := read(t, zipOf(t, "data/manifest.js", xManifest, "data/tweets.js", cut))
	if err != nil || m.Count != 1 || len(m.Problems) != 1 || !strings.Contains(m.Problems[0], "data/tweets.js") {
		t.Fatalf("truncated tweets.js: %v %+v", err, m)
	}
	m, err = read(t, []byte(tgChat[:len(tgChat)-40]))
	if err != nil || m.Count != 2 || len(m.Problems) != 1 {
		t.Fatalf("truncated result.json: %v %+v", err, m)
	}
	// One message larger than a message can be: refused, not buffered.
	huge := `{"name": "n", "type": "public_channel", "id": 1, "messages": [{"id": 1, "type": "message", "text": "` +
		strings.Repeat("a", maxValue+1024) + `"}]}`
	m, err = read(t, []byte(huge))
	if err != nil || len(m.Problems) != 1 || !strings.Contains(m.Problems[0], "single entry") {
		t.Fatalf("huge message: %v, problems %q, %d posts", err, m.Problems, m.Count)
	}
}

// TestBounds: what is kept of a post is bounded whatever the post holds:
// its text is cut (and says so), its media are listed up to MaxMedia; a
// file many messages name is hashed once.
func TestBounds(t *testing.T) {
	long := strings.Repeat("é", MaxText) // two bytes each: the cut falls inside one
	var media strings.Builder
	for i := range 5000 {
		if i > 0 {
			media.WriteString(",")
		}
		media.WriteString(`{"media_url_https": "https://x/` + fmt.Sprint(i) + `.jpg"}`)
	}
	tweets := `window.YTD.tweets.part0 = [{"tweet": {"id_str": "1", "full_text": "` + long + `", "extended_entities": {"media": [` + media.String() + `]}}}]`
	m, err := read(t, zipOf(t, "data/manifest.js", xManifest, "data/tweets.js", tweets))
	if err != nil {
		t.Fatal(err)
	}
	p := m.Posts[0]
	if !p.TextCut || len(p.Text) > MaxText || !utf8.ValidString(p.Text) || len(p.MediaURLs) != MaxMedia || len(p.Media) != MaxMedia {
		t.Fatalf("text %d bytes (cut %v), %d urls, %d media", len(p.Text), p.TextCut, len(p.MediaURLs), len(p.Media))
	}
	var msgs []string
	for i := range 50 {
		msgs = append(msgs, fmt.Sprintf(`{"id": %d, "type": "message", "photo": "photos/same.jpg", "text": ""}`, i))
	}
	chat := `{"name": "n", "type": "public_channel", "id": 1, "messages": [` + strings.Join(msgs, ",") + `]}`
	m, err = read(t, zipOf(t, "result.json", chat, "photos/same.jpg", "x"))
	if err != nil || m.Count != 50 || len(m.hashed) != 1 || m.Posts[49].Media[0].SHA256 != sum("x") {
		t.Fatalf("%v: %d posts, %d hashed", err, m.Count, len(m.hashed))
	}
}
