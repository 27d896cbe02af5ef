package social

import (
	"archive/zip"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"
)

// xArchive is the archive X gives an account holder: data/manifest.js,
// data/account.js, data/tweets.js (or tweets-part1.js…, or tweet.js in
// older ones), data/deleted-tweets.js, and the posts' media under
// data/tweets_media/ (and deleted_tweets_media/), named
// <post id>-<name>. Each .js file is "window.YTD.<name>.part<N> = "
// followed by a JSON array.
type xArchive struct {
	zr       *zip.Reader
	manifest *zip.File
	account  *zip.File
	tweets   []xPart
	media    map[string][]*zip.File // post ID -> its media files
	acct     *Account               // the account, once read
}

type xPart struct {
	f       *zip.File
	deleted bool
}

var (
	xTweets  = regexp.MustCompile(`^data/(deleted-)?tweets?(-part\d+)?\.js$`)
	xMediaFn = regexp.MustCompile(`^data/(deleted_)?tweets?_media/(\d+)-[^/]+$`)
)

// findX recognizes an X archive (nil when the zip is not one).
func findX(zr *zip.Reader) *xArchive {
	x := &xArchive{zr: zr, media: map[string][]*zip.File{}}
	for _, f := range zr.File {
		switch {
		case f.Name == "data/manifest.js":
			x.manifest = f
		case f.Name == "data/account.js":
			x.account = f
		case xTweets.MatchString(f.Name):
			x.tweets = append(x.tweets, xPart{f: f, deleted: strings.HasPrefix(f.Name, "data/deleted-")})
		default:
			if m := xMediaFn.FindStringSubmatch(f.Name); m != nil {
				x.media[m[2]] = append(x.media[m[2]], f)
			}
		}
	}
	if len(x.tweets) == 0 || (x.manifest == nil && x.account == nil) {
		return nil
	}
	// The posts first, then those deleted; parts in order.
	sort.Slice(x.tweets, func(i, j int) bool {
		a, b := x.tweets[i], x.tweets[j]
		if a.deleted != b.deleted {
			return b.deleted
		}
		return a.f.Name < b.f.Name
	})
	return x
}

func (x *xArchive) read(ctx context.Context) (*Metadata, error) {
	m := &Metadata{Platform: "x", Format: "X (Twitter) archive"}
	if x.manifest != nil {
		if err := x.readManifest(m); err != nil {
			m.Problems = append(m.Problems, "data/manifest.js: "+err.Error())
		}
	}
	if x.account != nil {
		if err := x.readAccount(m); err != nil {
			m.Problems = append(m.Problems, "data/account.js: "+err.Error())
		}
	}
	x.acct = m.Account
	for _, part := range x.tweets {
		if err := x.readTweets(ctx, m, part); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			m.Problems = append(m.Problems, part.f.Name+": "+err.Error())
		}
	}
	return m, nil
}

// jsArray opens a window.YTD file as a stream positioned at its array
// (or, for the manifest, its object).
func jsArray(f *zip.File, open byte) (*stream, io.Closer, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, nil, err
	}
	br := bufio.NewReader(rc)
	// The assignment: "window.YTD.tweets.part0 = " (at most a few hundred
	// bytes before the value).
	for i := 0; ; i++ {
		c, err := br.ReadByte()
		if err != nil || i > 4096 {
			rc.Close()
			return nil, nil, errors.New("not a window.YTD assignment")
		}
		if c == '=' {
			break
		}
	}
	for {
		c, err := br.ReadByte()
		if err != nil {
			rc.Close()
			return nil, nil, errors.New("nothing after the assignment")
		}
		if c == open {
			br.UnreadByte()
			break
		}
		if c != ' ' && c != '\n' && c != '\r' && c != '\t' {
			rc.Close()
			return nil, nil, fmt.Errorf("expected %q after the assignment, found %q", open, c)
		}
	}
	return newStream(br), rc, nil
}

func (x *xArchive) readManifest(m *Metadata) error {
	s, c, err := jsArray(x.manifest, '{')
	if err != nil {
		return err
	}
	defer c.Close()
	var v struct {
		UserInfo struct {
			AccountID   string `json:"accountId"`
			UserName    string `json:"userName"`
			DisplayName string `json:"displayName"`
		} `json:"userInfo"`
		ArchiveInfo struct {
			GenerationDate   string `json:"generationDate"`
			IsPartialArchive bool   `json:"isPartialArchive"`
		} `json:"archiveInfo"`
	}
	// The manifest is read field by field so that nothing else in it (the
	// list of data files) has to fit in memory at once.
	err = s.object(func(key string) error {
		switch key {
		case "userInfo":
			return s.value(&v.UserInfo)
		case "archiveInfo":
			return s.value(&v.ArchiveInfo)
		}
		return s.skip()
	})
	if v.UserInfo.AccountID != "" {
		m.Account = &Account{ID: v.UserInfo.AccountID, Handle: v.UserInfo.UserName, Name: v.UserInfo.DisplayName}
	}
	m.Generated, m.Partial = v.ArchiveInfo.GenerationDate, v.ArchiveInfo.IsPartialArchive
	return err
}

// readAccount reads the account's ID, handle, display name and creation
// date; its e-mail address is never read.
func (x *xArchive) readAccount(m *Metadata) error {
	s, c, err := jsArray(x.account, '[')
	if err != nil {
		return err
	}
	defer c.Close()
	return s.array(func() error {
		var v struct {
			Account struct {
				AccountID   string `json:"accountId"`
				Username    string `json:"username"`
				DisplayName string `json:"accountDisplayName"`
				CreatedAt   string `json:"createdAt"`
			} `json:"account"`
		}
		if err := s.value(&v); err != nil {
			return err
		}
		a := v.Account
		if m.Account == nil {
			m.Account = &Account{}
		}
		m.Account.ID = first(m.Account.ID, a.AccountID)
		m.Account.Handle = first(m.Account.Handle, a.Username)
		m.Account.Name = first(m.Account.Name, a.DisplayName)
		m.Account.Created = a.CreatedAt
		return nil
	})
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// tweet is what is read of a post.
type tweet struct {
	ID            string `json:"id_str"`
	CreatedAt     string `json:"created_at"`
	FullText      string `json:"full_text"`
	Text          string `json:"text"`
	FavoriteCount any    `json:"favorite_count"`
	RetweetCount  any    `json:"retweet_count"`
	ReplyTo       string `json:"in_reply_to_status_id_str"`
	DeletedAt     string `json:"deleted_at"`
	Entities      struct {
		Media []xMedia `json:"media"`
	} `json:"entities"`
	Extended struct {
		Media []xMedia `json:"media"`
	} `json:"extended_entities"`
}

type xMedia struct {
	URL  string `json:"media_url_https"`
	Type string `json:"type"`
}

func (x *xArchive) readTweets(ctx context.Context, m *Metadata, part xPart) error {
	s, c, err := jsArray(part.f, '[')
	if err != nil {
		return err
	}
	defer c.Close()
	n := 0
	return s.array(func() error {
		if n++; n%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		// Newer archives wrap each post: {"tweet": {…}}.
		var v struct {
			Tweet *tweet `json:"tweet"`
			tweet
		}
		if err := s.value(&v); err != nil {
			return err
		}
		t := &v.tweet
		if v.Tweet != nil {
			t = v.Tweet
		}
		if m.full {
			m.Count++ // past the bounds: counted, not read further
			return nil
		}
		m.add(x.post(m, t, part.deleted))
		return nil
	})
}

func (x *xArchive) post(m *Metadata, t *tweet, deleted bool) Post {
	p := Post{ID: t.ID, TimeText: t.CreatedAt, Text: first(t.FullText, t.Text), ReplyTo: t.ReplyTo, Deleted: deleted || t.DeletedAt != ""}
	if a := x.acct; a != nil {
		p.Author, p.AuthorID = a.Handle, a.ID
	}
	if tm, err := time.Parse(time.RubyDate, t.CreatedAt); err == nil {
		tm = tm.UTC()
		p.Time = &tm
	}
	counts := map[string]int64{}
	for k, v := range map[string]any{"likes": t.FavoriteCount, "reposts": t.RetweetCount} {
		if n, ok := count(v); ok {
			counts[k] = n
		}
	}
	if len(counts) > 0 {
		p.Counts = counts
	}
	media := t.Extended.Media
	if len(media) == 0 {
		media = t.Entities.Media
	}
	for _, md := range media[:min(len(media), MaxMedia)] {
		p.MediaURLs = append(p.MediaURLs, md.URL)
	}
	files := x.media[t.ID]
	for _, f := range files[:min(len(files), MaxMedia)] {
		md := Media{Path: f.Name, Type: mediaType(f.Name)}
		sum, n, err := m.hash(f)
		if err != nil {
			md.Missing = "unreadable in the zip: " + err.Error()
		} else {
			md.SHA256, md.Size = sum, n
		}
		p.Media = append(p.Media, md)
	}
	if missing := min(len(media), MaxMedia) - len(p.Media); missing > 0 {
		for range missing {
			p.Media = append(p.Media, Media{Missing: "named by the post, not in the archive"})
		}
	}
	return p
}

func count(v any) (int64, bool) {
	var n int64
	_, err := fmt.Sscan(str(v), &n)
	return n, err == nil && str(v) != ""
}

func mediaType(name string) string {
	switch strings.ToLower(name[strings.LastIndexByte(name, '.')+1:]) {
	case "mp4", "mov", "webm":
		return "video"
	case "jpg", "jpeg", "png", "gif", "webp":
		return "photo"
	}
	return "file"
}
