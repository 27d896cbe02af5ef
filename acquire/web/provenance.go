package web

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/openexhibit/exhibit/acquire/web/browser"
	"github.com/openexhibit/exhibit/acquire/web/media"
	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/ingest"
)

// Kind is the source kind of a web capture; ProvenanceV1 its provenance
// type (Provenance).
const (
	Kind         = "web"
	ProvenanceV1 = "https://github.com/openexhibit/exhibit/provenance/web/v1"
	// WACZPart is the name of the capture's WACZ among the acquisition's
	// parts.
	WACZPart = "capture.wacz"
)

// Provenance is the provenance of a web capture (ProvenanceV1): what was
// asked for, what the browser ended on, how it got there, when, and from
// where. The bytes themselves, with each connection's TLS state and chain,
// are in the WACZ.
type Provenance struct {
	PageInfo
	// Redirects are the responses that led from URL to FinalURL.
	Redirects []Redirect `json:"redirects,omitempty"`
	// Status is the HTTP status of the final URL's response;
	// Availability says what it means for the page: "available", or
	// "unavailable" (404 Not Found, 410 Gone, 451 Unavailable For Legal
	// Reasons: a post taken down is captured as such, at that time).
	Status       int    `json:"status,omitempty"`
	Availability string `json:"availability"`
	// Egress says how the origins were reached.
	Egress string `json:"egress"`
	// Profile is the label of the login profile used ("": a fresh one),
	// ProfileDomains the domains of the cookies it gave (those of the
	// URL's site only). Never a cookie.
	Profile        string   `json:"profile,omitempty"`
	ProfileDomains []string `json:"profileDomains,omitempty"`
	// Origins are the hosts connected to, with the address and TLS state.
	Origins   []Origin `json:"origins"`
	Exchanges int      `json:"exchanges"`
	Failed    int      `json:"failed,omitempty"`
	// Media is what yt-dlp fetched, when asked to (--media).
	Media *Media `json:"media,omitempty"`
	// Social is what the platform says about the post, as yt-dlp read it:
	// author, time of posting, counts; claims, labelled as such.
	Social *media.Social `json:"social,omitempty"`
}

// PageInfo is what the browser showed of the page: the WARC's page
// metadata record, and the first fields of the provenance.
type PageInfo struct {
	URL      string `json:"url"`
	FinalURL string `json:"finalUrl"`
	Title    string `json:"title"`
	// Started and Ended bound the page's capture (this machine's clock).
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	// Browser is the browser's product and version.
	Browser     string   `json:"browser"`
	UserAgent   string   `json:"userAgent"`
	ClientHints string   `json:"clientHints"`
	Viewport    string   `json:"viewport"`
	Behaviours  []string `json:"behaviours"`
}

func pageInfo(p *browser.Page) PageInfo {
	return PageInfo{URL: p.URL, FinalURL: p.FinalURL, Title: p.Title, Started: p.Started, Ended: p.Ended, Browser: p.Browser,
		UserAgent: p.UserAgent, ClientHints: p.Hints, Viewport: fmt.Sprintf("%dx%d", p.Width, p.Height), Behaviours: p.Behaviours}
}

// Redirect is one response on the way to the final URL.
type Redirect struct {
	URL      string `json:"url"`
	Status   int    `json:"status"`
	Location string `json:"location"`
}

// Origin is a host the capture connected to.
type Origin struct {
	Host          string `json:"host"`
	Remote        string `json:"remote"`
	TLS           string `json:"tls,omitempty"`
	ChainVerified *bool  `json:"chainVerified,omitempty"`
}

// AcquireOptions say what the acquisition record names besides the
// capture itself.
type AcquireOptions struct {
	// Browser is the browser binary (its digest is recorded).
	Browser string
	// By is who captured.
	By string
}

// Acquisition is the capture as an acquisition for the archive: kind web,
// its provenance, the browser with its binary's digest, and the WACZ as
// the one part.
func (r *Result) Acquisition(o AcquireOptions) (*ingest.Acquisition, error) {
	p := r.Page
	prov := Provenance{PageInfo: pageInfo(p), Redirects: r.redirects, Profile: r.profile, ProfileDomains: r.profileDomains, Origins: r.origins, Exchanges: r.Exchanges, Failed: r.Failed,
		Status: r.statusOf[p.FinalURL], Availability: availability(r.statusOf[p.FinalURL]),
		Egress: "directly from this machine, through Exhibit's recording proxy (HTTP/1.1 to each origin, TLS by Go's crypto/tls)"}
	tool := custody.AcquisitionTool{Name: "chromium-headless-shell", Version: strings.TrimPrefix(p.Browser, "HeadlessChrome/")}
	if o.Browser != "" {
		tool.Name = filepath.Base(o.Browser)
		d, err := binaryDigest(o.Browser)
		if err != nil {
			return nil, fmt.Errorf("the browser's digest: %w", err)
		}
		tool.Digest = d
	}
	tools := []custody.AcquisitionTool{tool}
	if r.media != nil {
		prov.Media, prov.Social = r.mediaProvenance(), r.media.Social
		if r.mediaEnd.After(prov.Ended) {
			prov.Ended = r.mediaEnd
		}
		t := custody.AcquisitionTool{Name: "yt-dlp", Version: r.media.Version}
		if r.media.Exec != "" {
			d, err := binaryDigest(r.media.Exec)
			if err != nil {
				return nil, fmt.Errorf("yt-dlp's digest: %w", err)
			}
			t.Digest = d
		}
		tools = append(tools, t)
	}
	name := WACZPart
	if u, err := url.Parse(p.URL); err == nil && u.Hostname() != "" {
		name = u.Hostname() + "-" + p.Started.UTC().Format("20060102T150405Z") + ".wacz"
	}
	return &ingest.Acquisition{
		Kind: Kind, ProvenanceType: ProvenanceV1, Provenance: prov, By: o.By,
		Started: p.Started, Ended: prov.Ended,
		Tools: tools,
		Parts: []ingest.Part{{Name: WACZPart, Path: r.WACZ, FileName: name}},
	}, nil
}

// availability is what a final status says about the page.
func availability(status int) string {
	switch status {
	case 404, 410, 451:
		return "unavailable"
	case 0:
		return "unknown"
	}
	return "available"
}

var digests sync.Map // path -> map[string]string

// binaryDigest is the sha256 and sha512 of a program's binary, once per
// process.
func binaryDigest(path string) (map[string]string, error) {
	if d, ok := digests.Load(path); ok {
		return d.(map[string]string), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := hashing.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	d := h.Sum().Map()
	digests.Store(path, d)
	return d, nil
}

// note keeps what the provenance needs of an exchange (under w.mu).
func (w *writer) note(url string, status int, location string, c *originNote) {
	if !w.media && status >= 300 && status < 400 && location != "" {
		w.res.hops = append(w.res.hops, Redirect{URL: url, Status: status, Location: location})
	}
	if c != nil && !w.seen[c.Host] {
		w.seen[c.Host] = true
		w.res.origins = append(w.res.origins, Origin(*c))
		sort.Slice(w.res.origins, func(i, j int) bool { return w.res.origins[i].Host < w.res.origins[j].Host })
	}
}

type originNote Origin

// chain follows the redirects from the requested URL.
func (r *Result) chain() {
	next := r.Page.URL
	for range len(r.hops) {
		found := false
		for _, h := range r.hops {
			if h.URL != next {
				continue
			}
			r.redirects = append(r.redirects, h)
			base, err := url.Parse(h.URL)
			loc, err2 := url.Parse(h.Location)
			if err != nil || err2 != nil {
				return
			}
			next, found = base.ResolveReference(loc).String(), true
			break
		}
		if !found {
			return
		}
	}
}
