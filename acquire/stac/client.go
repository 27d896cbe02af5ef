package stac

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/openexhibit/exhibit/internal/netguard"
)

// Client talks to STAC APIs and static catalogs. Every response it reads
// is kept as it was sent (Response.Body): an item's JSON is evidence, and
// a parse and re-serialisation would change it.
type Client struct {
	// HTTP does the requests (nil: HTTPClient(false, 2*time.Minute):
	// public addresses only).
	HTTP *http.Client
	// UserAgent names the program to the provider.
	UserAgent string
	// Retries is how many times a request is retried after a 429 or 5xx
	// answer or a failed connection (0: 4; negative: none), waiting as Retry-After
	// asks or, without it, 1 s, 2 s, 4 s… (at most MaxWait each).
	Retries int
	MaxWait time.Duration
	// MaxBody bounds one JSON response (default 64 MiB).
	MaxBody int64
	// sleep waits (tests replace it).
	sleep func(context.Context, time.Duration) error
}

// Response is one HTTP exchange as it happened.
type Response struct {
	Method string `json:"method"`
	URL    string `json:"url"`
	// Request is the body sent (a POST search), Body the body received.
	Request []byte      `json:"-"`
	Status  int         `json:"status"`
	Header  http.Header `json:"-"`
	Body    []byte      `json:"-"`
	Fetched time.Time   `json:"fetched"`
}

// Link is a STAC link, with the POST paging fields of STAC API.
type Link struct {
	Rel    string          `json:"rel"`
	Href   string          `json:"href"`
	Type   string          `json:"type,omitempty"`
	Method string          `json:"method,omitempty"`
	Body   json.RawMessage `json:"body,omitempty"`
	Merge  bool            `json:"merge,omitempty"`
}

// ErrStatus is an answer that is not a success, after retries.
type ErrStatus struct {
	URL    string
	Status int
	Body   string
}

func (e *ErrStatus) Error() string {
	return fmt.Sprintf("%s answered %d: %s", e.URL, e.Status, e.Body)
}

func (c *Client) http() *http.Client {
	if c.HTTP == nil {
		c.HTTP = HTTPClient(false, 2*time.Minute)
	}
	return c.HTTP
}

// do sends a request (a JSON body when body is not nil), retrying as the
// Client says, and returns the response whose status is below 400, its
// body read whole (at most MaxBody).
func (c *Client) do(ctx context.Context, method, u string, body []byte) (*Response, error) {
	retries, maxWait, maxBody := c.Retries, c.MaxWait, c.MaxBody
	if retries == 0 {
		retries = 4
	}
	retries = max(retries, 0)
	if maxWait <= 0 {
		maxWait = time.Minute
	}
	if maxBody <= 0 {
		maxBody = 64 << 20
	}
	sleep := c.sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	for attempt := 0; ; attempt++ {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, u, rd)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/geo+json, application/json")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if c.UserAgent != "" {
			req.Header.Set("User-Agent", c.UserAgent)
		}
		resp, err := c.http().Do(req)
		var wait time.Duration
		if err == nil {
			r := &Response{Method: method, URL: u, Request: body, Status: resp.StatusCode, Header: resp.Header, Fetched: time.Now().UTC()}
			r.Body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
			resp.Body.Close()
			switch {
			case err != nil:
			case int64(len(r.Body)) > maxBody:
				return nil, fmt.Errorf("%s: a response of more than %d bytes", u, maxBody)
			case resp.StatusCode < 400:
				return r, nil
			case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
				err = &ErrStatus{URL: u, Status: resp.StatusCode, Body: snippet(r.Body)}
				wait = retryAfter(resp.Header.Get("Retry-After"))
			default:
				return nil, &ErrStatus{URL: u, Status: resp.StatusCode, Body: snippet(r.Body)}
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if permanent(err) {
			return nil, err // no retry changes it
		}
		if attempt >= retries {
			return nil, fmt.Errorf("after %d tries: %w", attempt+1, err)
		}
		if wait <= 0 {
			wait = time.Second << attempt
		}
		if err := sleep(ctx, min(wait, maxWait)); err != nil {
			return nil, err
		}
	}
}

// permanent says a request's error is one that no retry changes: a
// destination refused here, a certificate that does not verify.
func permanent(err error) bool {
	var blocked *netguard.BlockedError
	var verr *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &blocked) || errors.As(err, &verr) || errors.As(err, &unknown) || errors.As(err, &host) || errors.As(err, &invalid)
}

// retryAfter reads a Retry-After value: seconds, or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// snippet is the start of a body, for an error message.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b[:min(len(b), 200)]))
	return strings.ToValidUTF8(s, "?")
}

// resolve makes href absolute against base.
func resolve(base, href string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	h, err := url.Parse(href)
	if err != nil {
		return "", err
	}
	u := b.ResolveReference(h)
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("%q is not an http or https URL", href)
	}
	return u.String(), nil
}

// Landing is an API's landing page.
type Landing struct {
	Raw *Response
	// Root is the API's URL as given.
	Root        string
	Title       string
	ConformsTo  []string
	Links       []Link
	SearchURL   string
	searchPOST  bool
	filterKind  string // "cql2-json", "query" or "" (on the client)
	conformance *Response
}

// Conformance classes that change how a search is made.
const (
	confItemSearch = "/item-search"
	confFilter     = "/item-search#filter"
	confCQL2JSON   = "/cql2/1.0/conf/cql2-json"
	confQuery      = "/item-search#query"
)

func conforms(list []string, suffix string) bool {
	for _, c := range list {
		if strings.HasSuffix(c, suffix) {
			return true
		}
	}
	return false
}

// Landing reads an API's landing page (and its conformance classes, from
// the page or /conformance) and finds its search endpoint.
func (c *Client) Landing(ctx context.Context, root string) (*Landing, error) {
	r, err := c.do(ctx, http.MethodGet, root, nil)
	if err != nil {
		return nil, err
	}
	var page struct {
		Type       string   `json:"type"`
		Title      string   `json:"title"`
		ConformsTo []string `json:"conformsTo"`
		Links      []Link   `json:"links"`
	}
	if err := json.Unmarshal(r.Body, &page); err != nil {
		return nil, fmt.Errorf("%s is not a STAC landing page: %w", root, err)
	}
	l := &Landing{Raw: r, Root: root, Title: page.Title, ConformsTo: page.ConformsTo, Links: page.Links}
	for _, link := range page.Links {
		switch link.Rel {
		case "search":
			u, err := resolve(root, link.Href)
			if err != nil {
				return nil, fmt.Errorf("search link: %w", err)
			}
			if l.SearchURL == "" || link.Method == http.MethodPost {
				l.SearchURL, l.searchPOST = u, link.Method == http.MethodPost
			}
		case "conformance":
			if len(l.ConformsTo) == 0 {
				u, err := resolve(root, link.Href)
				if err != nil {
					return nil, fmt.Errorf("conformance link: %w", err)
				}
				cr, err := c.do(ctx, http.MethodGet, u, nil)
				if err != nil {
					return nil, fmt.Errorf("conformance: %w", err)
				}
				var conf struct {
					ConformsTo []string `json:"conformsTo"`
				}
				if err := json.Unmarshal(cr.Body, &conf); err != nil {
					return nil, fmt.Errorf("conformance: %w", err)
				}
				l.ConformsTo, l.conformance = conf.ConformsTo, cr
			}
		}
	}
	if l.SearchURL == "" {
		if !conforms(l.ConformsTo, confItemSearch) {
			return nil, fmt.Errorf("%s offers no item search (no search link, no item-search conformance): give a static catalog with --catalog instead", root)
		}
		u, _ := resolve(root, "search")
		l.SearchURL, l.searchPOST = u, true
	}
	switch {
	case conforms(l.ConformsTo, confFilter) && conforms(l.ConformsTo, confCQL2JSON):
		l.filterKind = "cql2-json"
	case conforms(l.ConformsTo, confQuery):
		l.filterKind = "query"
	}
	return l, nil
}

// FilterKind says how a search's property filter is sent: "cql2-json"
// (the filter extension), "query" (the query extension), or "client"
// (neither: Exhibit filters the items it receives).
func (l *Landing) FilterKind() string {
	if l.filterKind == "" {
		return "client"
	}
	return l.filterKind
}

// Search is an item search.
type Search struct {
	Collections []string        `json:"collections,omitempty"`
	IDs         []string        `json:"ids,omitempty"`
	BBox        []float64       `json:"bbox,omitempty"`
	Intersects  json.RawMessage `json:"intersects,omitempty"`
	// Datetime is an RFC 3339 instant or interval ("a/b", "../b", "a/..").
	Datetime string `json:"datetime,omitempty"`
	Limit    int    `json:"limit,omitempty"`
	// MaxCloud, when set, keeps items whose eo:cloud_cover is at most it.
	MaxCloud *float64 `json:"-"`
}

// Page is one page of search results.
type Page struct {
	Raw *Response
	// Items are the page's features, each its exact bytes in the page.
	Items   []*Item
	Matched *int
	Next    *Link
}

// Item is a STAC item as read from a page or its own URL.
type Item struct {
	// Raw is the item's JSON exactly as the provider sent it.
	Raw        json.RawMessage
	ID         string                     `json:"id"`
	Collection string                     `json:"collection"`
	BBox       []float64                  `json:"bbox"`
	Geometry   json.RawMessage            `json:"geometry"`
	Properties map[string]json.RawMessage `json:"properties"`
	Assets     map[string]Asset           `json:"assets"`
	Links      []Link                     `json:"links"`
	Extensions []string                   `json:"stac_extensions"`
}

// Asset is an item's asset, with what the provider states of its bytes.
type Asset struct {
	Href     string   `json:"href"`
	Type     string   `json:"type,omitempty"`
	Title    string   `json:"title,omitempty"`
	Roles    []string `json:"roles,omitempty"`
	Checksum string   `json:"file:checksum,omitempty"`
	Size     *int64   `json:"file:size,omitempty"`
}

// ParseItem reads an item from its exact bytes.
func ParseItem(raw []byte) (*Item, error) {
	it := &Item{}
	if err := json.Unmarshal(raw, it); err != nil {
		return nil, err
	}
	if it.ID == "" {
		return nil, errors.New("an item without an id")
	}
	it.Raw = append(json.RawMessage(nil), raw...)
	return it, nil
}

// SelfURL is the item's self link, made absolute against base.
func (it *Item) SelfURL(base string) string {
	for _, l := range it.Links {
		if l.Rel == "self" {
			if u, err := resolve(base, l.Href); err == nil {
				return u
			}
		}
	}
	return ""
}

// CloudCover is eo:cloud_cover (nil when absent or not a number).
func (it *Item) CloudCover() *float64 {
	var f float64
	if raw, ok := it.Properties["eo:cloud_cover"]; ok && json.Unmarshal(raw, &f) == nil {
		return &f
	}
	return nil
}

// Search runs s, calling page for each page of results in order, until
// the last page, maxItems items (0: no bound), or page returns an error.
// The cloud-cover bound is also applied here to every page: items above
// it (a server without the filter or query extension, a GET search)
// stay in Page.Raw, as sent, and out of Page.Items. A next link that asks
// for a request already made ends the search (a server paging in a
// loop).
func (c *Client) Search(ctx context.Context, l *Landing, s Search, maxItems int, page func(*Page) error) error {
	body, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if s.MaxCloud != nil {
		var m map[string]any
		json.Unmarshal(body, &m)
		switch l.FilterKind() {
		case "cql2-json":
			m["filter-lang"] = "cql2-json"
			m["filter"] = map[string]any{"op": "<=", "args": []any{map[string]string{"property": "eo:cloud_cover"}, *s.MaxCloud}}
		case "query":
			m["query"] = map[string]any{"eo:cloud_cover": map[string]float64{"lte": *s.MaxCloud}}
		}
		body, _ = json.Marshal(m)
	}
	method, u := http.MethodPost, l.SearchURL
	if !l.searchPOST {
		method, u, body = http.MethodGet, getURL(l.SearchURL, s), nil
	}
	seen := 0
	asked := map[string]bool{}
	for pages := 0; ; pages++ {
		if pages > 100000 {
			return errors.New("more than 100,000 pages: a server that pages without end")
		}
		req := method + " " + u + " " + string(body)
		if asked[req] {
			return fmt.Errorf("%s: the next page is one already read: a server paging in a loop", u)
		}
		asked[req] = true
		r, err := c.do(ctx, method, u, body)
		if err != nil {
			return err
		}
		p, err := parsePage(r)
		if err != nil {
			return err
		}
		// The bound is checked here too, whatever the server was asked
		// (a GET search carries no filter; a server may not apply one).
		if s.MaxCloud != nil {
			kept := p.Items[:0]
			for _, it := range p.Items {
				if cc := it.CloudCover(); cc != nil && *cc <= *s.MaxCloud {
					kept = append(kept, it)
				}
			}
			p.Items = kept
		}
		if maxItems > 0 && seen+len(p.Items) > maxItems {
			p.Items = p.Items[:maxItems-seen]
		}
		seen += len(p.Items)
		if err := page(p); err != nil {
			return err
		}
		if p.Next == nil || (maxItems > 0 && seen >= maxItems) {
			return nil
		}
		next := p.Next
		if u, err = resolve(u, next.Href); err != nil {
			return fmt.Errorf("next link: %w", err)
		}
		method = http.MethodGet
		if strings.EqualFold(next.Method, http.MethodPost) {
			method = http.MethodPost
			switch {
			case len(next.Body) == 0:
			case next.Merge:
				if body, err = mergeJSON(body, next.Body); err != nil {
					return fmt.Errorf("next link body: %w", err)
				}
			default:
				body = next.Body
			}
		} else {
			body = nil
		}
	}
}

// getURL is a GET search's URL.
func getURL(search string, s Search) string {
	q := url.Values{}
	if len(s.Collections) > 0 {
		q.Set("collections", strings.Join(s.Collections, ","))
	}
	if len(s.IDs) > 0 {
		q.Set("ids", strings.Join(s.IDs, ","))
	}
	if len(s.BBox) > 0 {
		parts := make([]string, len(s.BBox))
		for i, f := range s.BBox {
			parts[i] = strconv.FormatFloat(f, 'f', -1, 64)
		}
		q.Set("bbox", strings.Join(parts, ","))
	}
	if len(s.Intersects) > 0 {
		q.Set("intersects", string(s.Intersects))
	}
	if s.Datetime != "" {
		q.Set("datetime", s.Datetime)
	}
	if s.Limit > 0 {
		q.Set("limit", strconv.Itoa(s.Limit))
	}
	sep := "?"
	if strings.Contains(search, "?") {
		sep = "&"
	}
	return search + sep + q.Encode()
}

// mergeJSON is a's object with b's fields set over it.
func mergeJSON(a, b []byte) ([]byte, error) {
	var m, n map[string]json.RawMessage
	if err := json.Unmarshal(a, &m); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &n); err != nil {
		return nil, err
	}
	for k, v := range n {
		m[k] = v
	}
	return json.Marshal(m)
}

// parsePage reads a FeatureCollection, keeping each feature's bytes.
func parsePage(r *Response) (*Page, error) {
	var fc struct {
		Type     string            `json:"type"`
		Features []json.RawMessage `json:"features"`
		Links    []Link            `json:"links"`
		Matched  *int              `json:"numberMatched"`
		Context  *struct {
			Matched *int `json:"matched"`
		} `json:"context"`
	}
	if err := json.Unmarshal(r.Body, &fc); err != nil {
		return nil, fmt.Errorf("%s: not a FeatureCollection: %w", r.URL, err)
	}
	if fc.Type != "FeatureCollection" {
		return nil, fmt.Errorf("%s: a %q, not a FeatureCollection", r.URL, fc.Type)
	}
	p := &Page{Raw: r, Matched: fc.Matched}
	if p.Matched == nil && fc.Context != nil {
		p.Matched = fc.Context.Matched
	}
	for i, f := range fc.Features {
		it, err := ParseItem(f)
		if err != nil {
			return nil, fmt.Errorf("%s: feature %d: %w", r.URL, i, err)
		}
		p.Items = append(p.Items, it)
	}
	for i := range fc.Links {
		if fc.Links[i].Rel == "next" {
			p.Next = &fc.Links[i]
		}
	}
	return p, nil
}

// Fetch reads an item from its own URL (its self link): the bytes the
// provider serves there, which differ from the same item inside a search
// page.
func (c *Client) Fetch(ctx context.Context, itemURL string) (*Item, *Response, error) {
	r, err := c.do(ctx, http.MethodGet, itemURL, nil)
	if err != nil {
		return nil, nil, err
	}
	it, err := ParseItem(r.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", itemURL, err)
	}
	return it, r, nil
}

// Walk reads a static catalog from its root: each catalog or collection
// (its "child" links) and each item (its "item" links), depth first, at
// most maxDepth catalogs deep and maxItems items (0: no bound), calling
// item for each with the response it came in. A child seen before is not
// read again.
func (c *Client) Walk(ctx context.Context, root string, maxDepth, maxItems int, item func(*Item, *Response) error) error {
	seen := map[string]bool{}
	n := 0
	errEnough := errors.New("enough")
	const maxCatalogs = 100000
	var walk func(u string, depth int) error
	walk = func(u string, depth int) error {
		if seen[u] {
			return nil
		}
		seen[u] = true
		if len(seen) > maxCatalogs {
			return fmt.Errorf("%s: more than %d catalogs and items: stopped", root, maxCatalogs)
		}
		if depth > maxDepth {
			return fmt.Errorf("%s: catalogs nested more than %d deep", u, maxDepth)
		}
		r, err := c.do(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		var cat struct {
			Type  string `json:"type"`
			Links []Link `json:"links"`
		}
		if err := json.Unmarshal(r.Body, &cat); err != nil {
			return fmt.Errorf("%s: not a STAC catalog: %w", u, err)
		}
		if cat.Type == "Feature" {
			it, err := ParseItem(r.Body)
			if err != nil {
				return fmt.Errorf("%s: %w", u, err)
			}
			if n++; maxItems > 0 && n > maxItems {
				return errEnough
			}
			return item(it, r)
		}
		for _, l := range cat.Links {
			if l.Rel != "child" && l.Rel != "item" {
				continue
			}
			next, err := resolve(u, l.Href)
			if err != nil {
				return fmt.Errorf("%s: %s link: %w", u, l.Rel, err)
			}
			if err := walk(next, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root, 0); err != nil && !errors.Is(err, errEnough) {
		return err
	}
	return nil
}

// HTTPClient is an HTTP client for STAC APIs and their assets that
// connects only to public addresses (unless allowPrivate: tests, or an
// archive's own network), redirects included, and ignores proxy
// variables, which would connect around that rule. timeout bounds a whole
// request (0: none, for downloads, which bound stalls instead).
func HTTPClient(allowPrivate bool, timeout time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = func(ctx context.Context, _, addr string) (net.Conn, error) {
		return netguard.Dial(ctx, nil, addr, allowPrivate)
	}
	t.ResponseHeaderTimeout = 2 * time.Minute
	// The bytes as served: no Accept-Encoding asked, nothing decoded.
	t.DisableCompression = true
	return &http.Client{Transport: t, Timeout: timeout}
}
