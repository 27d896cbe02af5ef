package stac

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Downloader fetches assets to files so that an interrupted download
// resumes where it stopped: the bytes go to PATH.part, with what the
// server said of them in PATH.part.json; a retry asks for the rest
// (Range, with If-Range naming the version it has), and a server that
// answers with the whole file (the file changed, or it ignores ranges)
// starts it over. Memory stays flat in the asset's size.
type Downloader struct {
	// HTTP does the requests (nil: HTTPClient(false, 0): public addresses
	// only, no overall timeout; each read must make progress within
	// Stall).
	HTTP *http.Client
	// PerHost bounds the downloads from one host at once (default 2).
	PerHost int
	// Retries bounds the attempts after a failed one (0: 8; negative:
	// none): a cut connection, a 429 or a 5xx, each waited out as
	// Retry-After asks or 1 s, 2 s, 4 s… (at most MaxWait).
	Retries int
	MaxWait time.Duration
	// Stall is how long a read may wait for bytes (default 60 s).
	Stall time.Duration
	// MaxSize bounds one file (default 256 GiB): a server that sends more
	// is stopped, and the download fails.
	MaxSize int64

	mu    sync.Mutex
	hosts map[string]chan struct{}
	sleep func(context.Context, time.Duration) error
}

// Fetched says how an asset was fetched.
type Fetched struct {
	// Href is the asset's URL as recorded: without its query when the
	// query signs it (signed URLs are credentials).
	Href         string    `json:"href"`
	Size         int64     `json:"size"`
	ContentType  string    `json:"contentType,omitempty"`
	ETag         string    `json:"etag,omitempty"`
	LastModified string    `json:"lastModified,omitempty"`
	Resumed      bool      `json:"resumed,omitempty"`
	Attempts     int       `json:"attempts"`
	Started      time.Time `json:"started"`
	Ended        time.Time `json:"ended"`
	// Restarted counts the times the server sent the whole file again
	// when the rest was asked for (the file changed, or ranges are not
	// honoured).
	Restarted int `json:"restarted,omitempty"`
}

// partState is what PATH.part.json keeps between attempts.
type partState struct {
	Href         string `json:"href"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"lastModified,omitempty"`
	ContentType  string `json:"contentType,omitempty"`
	Total        int64  `json:"total"`
}

// same says two values of a validator do not differ (one may be absent).
func same(a, b string) bool { return a == "" || b == "" || a == b }

// validator is what If-Range names the version kept by: a strong ETag,
// else Last-Modified ("" when there is neither: the download is not
// resumed).
func (st partState) validator() string {
	if st.ETag != "" && !strings.HasPrefix(st.ETag, "W/") {
		return st.ETag
	}
	return st.LastModified
}

// errRetry marks an attempt that may be retried, with how long to wait
// (0: back off).
type errRetry struct {
	err  error
	wait time.Duration
}

func (e *errRetry) Error() string { return e.err.Error() }
func (e *errRetry) Unwrap() error { return e.err }

// Get downloads fetchURL (which may carry a signature in its query) to
// path, recording href (the unsigned URL) as what was fetched. Errors
// name href, never fetchURL. When tee is set, every byte of the file, in
// order, is also written to the writer it returns; it is called again
// whenever the download starts over (so that a hash sees one whole file).
func (d *Downloader) Get(ctx context.Context, fetchURL, href, path string, tee func() io.Writer) (*Fetched, error) {
	u, err := url.Parse(fetchURL)
	if err != nil {
		return nil, fmt.Errorf("%s: not a URL", href) // its text may carry a signature
	}
	release, err := d.acquire(ctx, u.Host)
	if err != nil {
		return nil, err
	}
	defer release()
	retries, maxWait := d.Retries, d.MaxWait
	if retries == 0 {
		retries = 8
	}
	retries = max(retries, 0)
	if maxWait <= 0 {
		maxWait = time.Minute
	}
	sleep := d.sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	f := &Fetched{Href: href, Started: time.Now().UTC()}
	for attempt := 0; ; attempt++ {
		f.Attempts++
		done, err := d.attempt(ctx, fetchURL, path, f, tee)
		if done {
			f.Ended = time.Now().UTC()
			return f, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var re *errRetry
		if !errors.As(err, &re) {
			return nil, err
		}
		if attempt >= retries {
			return nil, fmt.Errorf("%s: after %d attempts: %w", href, attempt+1, err)
		}
		wait := re.wait
		if wait <= 0 {
			wait = time.Second << attempt
		}
		if err := sleep(ctx, min(wait, maxWait)); err != nil {
			return nil, err
		}
	}
}

func (d *Downloader) stall() time.Duration {
	if d.Stall <= 0 {
		return time.Minute
	}
	return d.Stall
}

// acquire takes one of host's download slots.
func (d *Downloader) acquire(ctx context.Context, host string) (func(), error) {
	d.mu.Lock()
	if d.hosts == nil {
		d.hosts = map[string]chan struct{}{}
	}
	sem := d.hosts[host]
	if sem == nil {
		n := d.PerHost
		if n <= 0 {
			n = 2
		}
		sem = make(chan struct{}, n)
		d.hosts[host] = sem
	}
	d.mu.Unlock()
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// attempt makes one request: for the whole file, or for the rest of a
// .part file. done is true when the file is complete at path.
func (d *Downloader) attempt(ctx context.Context, fetchURL, path string, f *Fetched, tee func() io.Writer) (done bool, err error) {
	part, statePath := path+".part", path+".part.json"
	var st partState
	have := int64(0)
	if b, err := os.ReadFile(statePath); err == nil && json.Unmarshal(b, &st) == nil && st.Href == f.Href && st.validator() != "" {
		if fi, err := os.Stat(part); err == nil {
			have = fi.Size()
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fetchURL, nil)
	if err != nil {
		return false, fmt.Errorf("%s: not a URL to fetch", f.Href)
	}
	// A resumed download asks again for the last bytes it has (overlap):
	// after a crash of the machine, what was written last may not be on
	// the disk, and comparing them finds that out.
	overlap := min(have, resumeOverlap)
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have-overlap))
		req.Header.Set("If-Range", st.validator())
	}
	d.mu.Lock()
	if d.HTTP == nil {
		d.HTTP = HTTPClient(false, 0)
	}
	client := d.HTTP
	d.mu.Unlock()
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its URL may carry a signature
		}
		if permanent(err) {
			return false, fmt.Errorf("GET %s: %w", f.Href, err) // no retry changes it
		}
		return false, &errRetry{err: fmt.Errorf("GET %s: %w", f.Href, err)}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return false, &errRetry{err: fmt.Errorf("GET %s: %s", f.Href, resp.Status), wait: retryAfter(resp.Header.Get("Retry-After"))}
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		return d.resume(resp, part, statePath, st, have, overlap, f, tee)
	case resp.StatusCode == http.StatusOK:
		if have > 0 {
			f.Restarted++ // the file changed, or ranges are not served: from the start
		}
		st = partState{Href: f.Href, ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified"),
			ContentType: resp.Header.Get("Content-Type"), Total: resp.ContentLength}
		var w io.Writer
		if tee != nil {
			w = tee()
		}
		return d.receive(resp, part, statePath, st, 0, resp.ContentLength, f, w)
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && have > 0:
		os.Remove(part)
		os.Remove(statePath)
		f.Restarted++
		return false, &errRetry{err: fmt.Errorf("GET %s: the range asked for is not satisfiable", f.Href), wait: time.Millisecond}
	}
	return false, fmt.Errorf("GET %s: %s", f.Href, resp.Status)
}

// resume continues a .part of have bytes with a 206 response that
// starts overlap bytes before its end: the same version, the overlap the
// same bytes, or it starts over.
func (d *Downloader) resume(resp *http.Response, part, statePath string, st partState, have, overlap int64, f *Fetched, tee func() io.Writer) (bool, error) {
	start, total, ok := contentRange(resp.Header.Get("Content-Range"))
	// A server that ignores If-Range answers a changed file with a 206
	// too: its validators must be those of the version kept.
	var why string
	switch {
	case !same(resp.Header.Get("ETag"), st.ETag) || !same(resp.Header.Get("Last-Modified"), st.LastModified):
		why = "the file changed since the part kept"
	case !ok || start != have-overlap || (st.Total > 0 && total != st.Total):
		why = fmt.Sprintf("Content-Range %q does not continue the %d bytes kept", resp.Header.Get("Content-Range"), have)
	}
	if why != "" {
		// Not the rest of what we have: start over.
		os.Remove(part)
		os.Remove(statePath)
		f.Restarted++
		return false, &errRetry{err: fmt.Errorf("GET %s: %s: started over", f.Href, why), wait: time.Millisecond}
	}
	sr := newStallReader(resp.Body, d.stall())
	match, err := sameTail(part, have, overlap, sr)
	sr.stop()
	if err != nil { // the connection, not the file: keep what we have
		return false, &errRetry{err: fmt.Errorf("GET %s: %w", f.Href, err)}
	}
	if !match {
		os.Remove(part)
		os.Remove(statePath)
		f.Restarted++
		return false, &errRetry{err: fmt.Errorf("GET %s: the last %d bytes kept are not the server's: started over", f.Href, overlap), wait: time.Millisecond}
	}
	f.Resumed = true
	var w io.Writer
	if tee != nil {
		w = tee()
		if err := feed(part, have, w); err != nil {
			return false, err
		}
	}
	return d.receive(resp, part, statePath, st, have, total, f, w)
}

// resumeOverlap is how much of what it has a resumed download asks for
// again, to compare.
const resumeOverlap = 1 << 20

// sameTail reads n bytes from body and says whether they are the n bytes
// before have in the file.
func sameTail(file string, have, n int64, body io.Reader) (bool, error) {
	got := make([]byte, n)
	if _, err := io.ReadFull(body, got); err != nil {
		return false, err
	}
	f, err := os.Open(file)
	if err != nil {
		return false, err
	}
	defer f.Close()
	kept := make([]byte, n)
	if _, err := f.ReadAt(kept, have-n); err != nil {
		return false, err
	}
	return bytes.Equal(got, kept), nil
}

// feed writes the first n bytes of file to w.
func feed(file string, n int64, w io.Writer) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.CopyN(w, f, n)
	return err
}

// receive writes a response body to the .part file (appending after have
// bytes; also to w, when set) and completes the file when total is
// reached (or, when the length is unknown, at the body's end). The file is
// not synced: it is read again at once by the archive, which keeps its own
// copy durably, and a resumed download checks what it kept (sameTail).
func (d *Downloader) receive(resp *http.Response, part, statePath string, st partState, have, total int64, f *Fetched, w io.Writer) (bool, error) {
	if b, err := json.Marshal(st); err == nil {
		if err := os.WriteFile(statePath, b, 0o600); err != nil {
			return false, err
		}
	}
	flag := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if have > 0 {
		flag = os.O_WRONLY | os.O_APPEND
	}
	out, err := os.OpenFile(part, flag, 0o600)
	if err != nil {
		return false, err
	}
	sr := newStallReader(resp.Body, d.stall())
	var dst io.Writer = out
	if w != nil {
		dst = io.MultiWriter(out, w)
	}
	limit := d.MaxSize
	if limit <= 0 {
		limit = 256 << 30
	}
	n, copyErr := io.CopyBuffer(dst, io.LimitReader(sr, limit-have+1), make([]byte, 1<<20))
	sr.stop()
	if have+n > limit {
		out.Close()
		os.Remove(part)
		os.Remove(statePath)
		return false, fmt.Errorf("GET %s: more than %d bytes: stopped", f.Href, limit)
	}
	if err := out.Close(); err != nil && copyErr == nil {
		copyErr = err
	}
	got := have + n
	if copyErr != nil || (total >= 0 && got < total) {
		if copyErr == nil {
			copyErr = io.ErrUnexpectedEOF
		}
		var we *os.PathError
		if errors.As(copyErr, &we) {
			return false, copyErr // the disk, not the network: not retried
		}
		return false, &errRetry{err: fmt.Errorf("GET %s: cut after %d of %d bytes: %w", f.Href, got, total, copyErr)}
	}
	if total >= 0 && got != total {
		return false, fmt.Errorf("GET %s: %d bytes received, the server said %d", f.Href, got, total)
	}
	if err := os.Rename(part, strings.TrimSuffix(part, ".part")); err != nil {
		return false, err
	}
	os.Remove(statePath)
	f.Size, f.ContentType, f.ETag, f.LastModified = got, st.ContentType, st.ETag, st.LastModified
	return true, nil
}

// contentRange reads "bytes START-END/TOTAL".
func contentRange(v string) (start, total int64, ok bool) {
	rest, found := strings.CutPrefix(v, "bytes ")
	if !found {
		return 0, 0, false
	}
	span, tot, found := strings.Cut(rest, "/")
	a, b, found2 := strings.Cut(span, "-")
	if !found || !found2 {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	total, err3 := strconv.ParseInt(tot, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || start < 0 || end < start || end >= total {
		return 0, 0, false
	}
	return start, total, true
}

// stallReader closes a body that gives no byte within stall, which fails
// the read under way.
type stallReader struct {
	r       io.Reader
	t       *time.Timer
	stall   time.Duration
	stalled atomic.Bool
}

func newStallReader(body io.ReadCloser, stall time.Duration) *stallReader {
	s := &stallReader{r: body, stall: stall}
	s.t = time.AfterFunc(stall, func() { s.stalled.Store(true); body.Close() })
	return s
}

func (s *stallReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.t.Reset(s.stall)
	if err != nil && s.stalled.Load() {
		err = fmt.Errorf("no byte for %s", s.stall)
	}
	return n, err
}

func (s *stallReader) stop() { s.t.Stop() }

// Unsigned is u as it may be recorded: without user information, and
// without its query when the query signs it or carries a key (Azure SAS
// "sig", S3 "X-Amz-Signature", Google "X-Goog-Signature", "token",
// "api_key", "access_token", …; names compared in any case).
func Unsigned(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(a URL that does not parse)"
	}
	p.User = nil
	for k := range p.Query() {
		switch strings.ToLower(k) {
		case "sig", "signature", "x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-goog-signature",
			"x-goog-credential", "token", "access_token", "api_key", "apikey", "key", "se", "st", "sv", "skoid":
			p.RawQuery = ""
		}
	}
	return p.String()
}
