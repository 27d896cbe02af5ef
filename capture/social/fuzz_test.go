package social

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/openexhibit/exhibit/capture"
)

// check reads b and requires an answer that is an error-free listing or
// ErrUnsupported, and a summary of it.
func check(t *testing.T, b []byte) {
	res, err := New().Read(context.Background(), newSrc(b))
	if errors.Is(err, capture.ErrUnsupported) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	m := res.Metadata.(*Metadata)
	if m.Count < len(m.Posts) || len(m.Posts) > MaxPosts {
		t.Fatalf("count %d, %d posts", m.Count, len(m.Posts))
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New().Summarize(out); err != nil {
		t.Fatal(err)
	}
}

func FuzzTelegram(f *testing.F) {
	f.Add([]byte(tgChat))
	f.Add([]byte(`{"type": "x", "chats": {"list": [{"name": "a", "messages": [{"id": 1, "text": [{"text": 5}]}]}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) { check(t, b) })
}

func FuzzXArchive(f *testing.F) {
	f.Add([]byte(xTweetsJS))
	f.Add([]byte(xDeletedJS))
	f.Fuzz(func(t *testing.T, tweets []byte) {
		check(t, zipOf(t, "data/manifest.js", xManifest, "data/tweets.js", string(tweets), "data/tweets_media/1-a.jpg", "x"))
	})
}
