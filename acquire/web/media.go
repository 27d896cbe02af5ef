package web

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/openexhibit/exhibit/acquire/web/media"
	"github.com/openexhibit/exhibit/capture/wacz"
	"github.com/openexhibit/exhibit/capture/warc"
)

// Media is what the provenance says of the media yt-dlp fetched.
type Media struct {
	// Tool is yt-dlp's version.
	Tool    string    `json:"tool"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	// Files are the media files, each a resource record of the WARC.
	Files []MediaFile `json:"files"`
	// Problem says why yt-dlp got no media, or not all ("" when it did).
	Problem string `json:"problem,omitempty"`
}

// MediaFile is one media file in the WARC.
type MediaFile struct {
	Name      string `json:"name"`
	Size      int64  `json:"size"`
	MediaType string `json:"mediaType"`
	// Digest is the sha256 of the file, which is the record's block.
	Digest string `json:"digest"`
	Record string `json:"record"`
	// Incomplete: yt-dlp did not report the file as finished (a format
	// file whose merge failed, a download cut off); kept as what it left.
	Incomplete bool `json:"incomplete,omitempty"`
}

// fetchMedia runs yt-dlp on url through the proxy. yt-dlp failing is a
// problem the provenance states, not a failed capture: the page is
// evidence without its media.
func (r *Result) fetchMedia(ctx context.Context, url string, w *writer, proxyAddr string, o Options) error {
	dir, err := os.MkdirTemp(o.TempDir, "exhibit-media-*")
	if err != nil {
		return err
	}
	r.mediaDir = dir
	w.mu.Lock()
	w.media = true
	w.mu.Unlock()
	mo := *o.Media
	mo.Proxy, mo.Dir = proxyAddr, dir
	if o.Profile != nil {
		mo.Cookies = o.Profile.File
	}
	r.mediaStart = time.Now().UTC()
	r.media, err = media.Fetch(ctx, url, mo)
	r.mediaEnd = time.Now().UTC()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		r.media = &media.Result{Problem: "yt-dlp could not run: " + err.Error()}
	}
	return nil
}

// mediaRecords writes the media files and yt-dlp's info as records.
func (w *writer) mediaRecords(url string) error {
	m := w.res.media
	if m == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, f := range m.Files {
		file, err := os.Open(f.Path)
		if err != nil {
			return err
		}
		out, err := w.write(&warc.Record{Type: warc.Resource, TargetURI: wacz.MediaURN + f.Name + ":" + url, Date: w.res.mediaEnd,
			ContentType: f.MediaType, Block: file, Size: f.Size})
		file.Close()
		if err != nil {
			return err
		}
		w.res.Index = append(w.res.Index, wacz.Entry{URL: wacz.MediaURN + f.Name + ":" + url, Time: w.res.mediaEnd, Mime: f.MediaType,
			Digest: out.PayloadDigest, Offset: out.Offset, Length: out.Length})
		w.res.mediaFiles = append(w.res.mediaFiles, MediaFile{Name: f.Name, Size: f.Size, MediaType: f.MediaType,
			Digest: out.BlockDigest, Record: out.ID, Incomplete: f.Incomplete})
	}
	if m.Info != nil {
		r := bytesRecord(warc.Metadata, wacz.MediaInfoURN+url, "application/json", m.Info)
		r.Date = w.res.mediaEnd
		if _, err := w.write(r); err != nil {
			return err
		}
	}
	return nil
}

// mediaProvenance is the provenance's account of the media (nil when
// none was asked for).
func (r *Result) mediaProvenance() *Media {
	m := r.media
	if m == nil {
		return nil
	}
	files := r.mediaFiles
	if files == nil {
		files = []MediaFile{}
	}
	tool := "yt-dlp"
	if m.Version != "" {
		tool = fmt.Sprintf("yt-dlp %s", m.Version)
	}
	return &Media{Tool: tool, Started: r.mediaStart, Ended: r.mediaEnd, Files: files, Problem: m.Problem}
}

// MediaProblem says why yt-dlp got no media, or not all ("" when it did,
// or was not asked).
func (r *Result) MediaProblem() string {
	if r.media == nil {
		return ""
	}
	return r.media.Problem
}
