package media

import (
	"encoding/json"
	"strconv"
	"time"
)

// Social is what the platform says about a post, as yt-dlp read it from
// the platform's pages and APIs. Every field is the platform's claim; only
// ObservedAt is this machine's.
type Social struct {
	// Platform is yt-dlp's name for the site's extractor ("Youtube",
	// "Twitter", "Generic" for a page it knows no more about).
	Platform string `json:"platform"`
	PostURL  string `json:"postUrl,omitempty"`
	PostID   string `json:"postId,omitempty"`
	Author   Author `json:"author"`
	// Posted is the post's time as the platform states it.
	Posted *Claim `json:"posted,omitempty"`
	// Engagement are the counts the platform showed when the capture was
	// made.
	Engagement *Engagement `json:"engagement,omitempty"`
	Title      string      `json:"title,omitempty"`
	Text       string      `json:"text,omitempty"`
	// Entries counts the media a post with several had (0: one).
	Entries int `json:"entries,omitempty"`
}

// Author is the post's author as the platform names them.
type Author struct {
	Name   string `json:"name,omitempty"`
	Handle string `json:"handle,omitempty"`
	ID     string `json:"id,omitempty"`
	URL    string `json:"url,omitempty"`
}

// Claim is a time the platform states, labelled as such.
type Claim struct {
	Time time.Time `json:"time"`
	// Precision is "second" or "day" (only a date was given).
	Precision string `json:"precision"`
	// Source names the info field it came from.
	Source string `json:"source"`
	Note   string `json:"note"`
}

// Engagement are counts with the time they were observed.
type Engagement struct {
	Views      *int64    `json:"views,omitempty"`
	Likes      *int64    `json:"likes,omitempty"`
	Reposts    *int64    `json:"reposts,omitempty"`
	Comments   *int64    `json:"comments,omitempty"`
	ObservedAt time.Time `json:"observedAt"`
}

const claimNote = "as the platform states it; not verified"

// social reads a (scrubbed) info object.
func social(info map[string]any) *Social {
	s := &Social{
		Platform: str(info, "extractor_key", "extractor"),
		PostURL:  str(info, "webpage_url", "original_url"),
		PostID:   str(info, "display_id", "id"),
		Title:    str(info, "title", "fulltitle"),
		Text:     str(info, "description"),
		Author: Author{
			Name:   str(info, "uploader", "channel", "creator"),
			Handle: str(info, "uploader_id"),
			ID:     str(info, "channel_id", "uploader_id"),
			URL:    str(info, "uploader_url", "channel_url"),
		},
	}
	if entries, ok := info["entries"].([]any); ok {
		s.Entries = len(entries)
	}
	s.Posted = posted(info)
	e := Engagement{Views: count(info, "view_count"), Likes: count(info, "like_count"),
		Reposts: count(info, "repost_count"), Comments: count(info, "comment_count")}
	if e.Views != nil || e.Likes != nil || e.Reposts != nil || e.Comments != nil {
		// yt-dlp's "epoch" is when it extracted the info.
		if n, ok := info["epoch"].(json.Number); ok {
			if sec, err := n.Int64(); err == nil {
				e.ObservedAt = time.Unix(sec, 0).UTC()
			}
		}
		if e.ObservedAt.IsZero() {
			e.ObservedAt = time.Now().UTC().Truncate(time.Second)
		}
		s.Engagement = &e
	}
	return s
}

// posted is the post's time: timestamp, then release_timestamp (seconds
// since 1970), then upload_date (YYYYMMDD).
func posted(info map[string]any) *Claim {
	for _, k := range []string{"timestamp", "release_timestamp"} {
		if n, ok := info[k].(json.Number); ok {
			f, err := strconv.ParseFloat(n.String(), 64)
			if err == nil && f > 0 && f < 1e11 {
				return &Claim{Time: time.Unix(int64(f), 0).UTC(), Precision: "second", Source: k, Note: claimNote}
			}
		}
	}
	for _, k := range []string{"upload_date", "release_date"} {
		if d, ok := info[k].(string); ok {
			if t, err := time.Parse("20060102", d); err == nil {
				return &Claim{Time: t, Precision: "day", Source: k, Note: claimNote}
			}
		}
	}
	return nil
}
