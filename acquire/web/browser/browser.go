// Package browser drives Debian's chromium-headless-shell for a web
// capture: page control only. Every byte the page loads goes through the
// recording proxy (acquire/web/proxy), which the browser trusts by its
// SPKI pin and nothing else; the browser runs with a fresh profile, no
// debugging port (the DevTools protocol goes over a pipe), no QUIC (which
// would bypass the proxy), and a user agent and client hints that say
// Chrome, not HeadlessChrome, consistently.
//
// Capture loads a page, scrolls until it stops growing (two animation
// frames between steps, so that lazy content gets its chance to load),
// lets media autoplay (muted), and takes what a court or an archivist
// would want beside the wire bytes: a full-page screenshot (PNG), a PDF,
// the DOM as serialized after scripts ran, and the visible text, all
// within a bounded total time.
package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/openexhibit/exhibit/acquire/web/profile"
)

// DefaultExec is where Debian's chromium-headless-shell package puts the
// browser.
const DefaultExec = "/usr/lib/chromium/chromium-headless-shell"

// Options configure a capture.
type Options struct {
	// Exec is the browser binary (default DefaultExec).
	Exec string
	// Proxy is the recording proxy's host:port, SPKI its SPKIHash.
	Proxy, SPKI string
	// Cookies are set in the browser's fresh profile before the page is
	// loaded: a login profile's (acquire/web/profile).
	Cookies []profile.Cookie
	// Width and Height are the viewport (default 1280 x 900).
	Width, Height int
	// Timeout bounds the whole capture (default 2 minutes); Settle is how
	// long the page may stay busy loading before it is taken as it is
	// (default 20 s).
	Timeout, Settle time.Duration
	// MaxScrolls bounds the scroll steps (default 40).
	MaxScrolls int
	// Quiet, when set, says how long no request has been under way at the
	// recording proxy (its Quiet). Scrolling waits for it, and for the
	// browser's own network events, to settle.
	Quiet func() time.Duration
}

// Page is what a capture took.
type Page struct {
	URL      string // as requested
	FinalURL string // after redirects, as the browser shows it
	Title    string
	// Screenshot (PNG, the full page), PDF, DOM (serialized after scripts
	// ran) and Text (document.body.innerText).
	Screenshot, PDF []byte
	DOM, Text       string
	// Browser is the browser's product and version; UserAgent and Hints
	// are what the page was told (Hints: Sec-CH-UA brands).
	Browser   string
	UserAgent string
	Hints     string
	Width     int
	Height    int
	// Behaviours says what was done to the page, in order.
	Behaviours []string
	Started    time.Time
	Ended      time.Time
}

// ErrNoBrowser is returned when the browser binary is not there.
var ErrNoBrowser = errors.New("chromium-headless-shell not found (Debian: apt-get install chromium-headless-shell, or give its path)")

// Capture loads url in a new browser and takes the page.
func Capture(ctx context.Context, url string, o Options) (*Page, error) {
	o.defaults()
	if _, err := os.Stat(o.Exec); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrNoBrowser, o.Exec)
	}
	// A fresh profile, removed after.
	profileDir, err := os.MkdirTemp("", "exhibit-profile-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(profileDir)
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	actx, cancelA := chromedp.NewExecAllocator(ctx, allocatorOptions(o, profileDir)...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()

	p := &Page{URL: url, Width: o.Width, Height: o.Height, Started: time.Now().UTC()}
	if err := p.identify(bctx); err != nil {
		return nil, fmt.Errorf("start the browser: %w", err)
	}
	if err := setCookies(bctx, o.Cookies); err != nil {
		return nil, fmt.Errorf("set the profile's cookies: %w", err)
	}
	net := watchNetwork(bctx)
	quiet := func() time.Duration {
		q := net.Quiet()
		if o.Quiet != nil {
			q = min(q, o.Quiet())
		}
		return q
	}
	if err := p.load(bctx, url, o); err != nil {
		return nil, err
	}
	if err := p.scroll(bctx, o.MaxScrolls, quiet); err != nil {
		return nil, err
	}
	if err := p.take(bctx); err != nil {
		return nil, err
	}
	p.Ended = time.Now().UTC()
	return p, nil
}

func (o *Options) defaults() {
	if o.Exec == "" {
		o.Exec = DefaultExec
	}
	if o.Width <= 0 || o.Height <= 0 {
		o.Width, o.Height = 1280, 900
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.Settle <= 0 {
		o.Settle = 20 * time.Second
	}
	if o.MaxScrolls <= 0 {
		o.MaxScrolls = 40
	}
}

func allocatorOptions(o Options, profile string) []chromedp.ExecAllocatorOption {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(o.Exec),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(o.Width, o.Height),
		chromedp.DisableGPU,
		// (chromedp adds --no-sandbox when it runs as root, as in a
		// container, where the sandbox has no user namespace.)
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("hide-scrollbars", true),
		// Not the automation banner and navigator.webdriver: a capture
		// shows the page as a reader's browser gets it.
		chromedp.Flag("enable-automation", false),
	)
	if o.Proxy != "" {
		opts = append(opts,
			chromedp.ProxyServer("http://"+o.Proxy),
			// Loopback too goes through the proxy ("<-loopback>" removes
			// the implicit bypass).
			chromedp.Flag("proxy-bypass-list", "<-loopback>"),
			chromedp.Flag("ignore-certificate-errors-spki-list", o.SPKI),
		)
	}
	return opts
}

// identify reads the browser's version and overrides the user agent and
// its client hints so that both say Chrome.
func (p *Page) identify(ctx context.Context) error {
	v, err := chromedp.CallBrowser(ctx, browser.GetVersion, cdp.Empty{})
	if err != nil {
		return err
	}
	p.Browser = v.Product
	p.UserAgent = strings.ReplaceAll(v.UserAgent, "HeadlessChrome/", "Chrome/")
	full := strings.TrimPrefix(strings.TrimPrefix(v.Product, "HeadlessChrome/"), "Chrome/")
	major, _, _ := strings.Cut(full, ".")
	brands := []*emulation.UserAgentBrandVersion{{Brand: "Chromium", Version: major}, {Brand: "Not_A Brand", Version: "24"}}
	fullList := []*emulation.UserAgentBrandVersion{{Brand: "Chromium", Version: full}, {Brand: "Not_A Brand", Version: "24.0.0.0"}}
	var hints []string
	for _, b := range brands {
		hints = append(hints, fmt.Sprintf("%q;v=%q", b.Brand, b.Version))
	}
	p.Hints = strings.Join(hints, ", ")
	_, err = chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{
		UserAgent: p.UserAgent,
		UserAgentMetadata: &emulation.UserAgentMetadata{Brands: brands, FullVersionList: fullList,
			Platform: "Linux", Architecture: "x86", Bitness: "64"},
	})
	return err
}

// setCookies sets a login profile's cookies: a host-only cookie for its
// host (by URL, which a cookie for an IP address needs), another for its
// domain and subdomains.
func setCookies(ctx context.Context, cookies []profile.Cookie) error {
	if len(cookies) == 0 {
		return nil
	}
	params := make([]*network.CookieParam, 0, len(cookies))
	for _, c := range cookies {
		p := &network.CookieParam{Name: c.Name, Value: c.Value, Path: c.Path, Secure: c.Secure, HTTPOnly: c.HTTPOnly}
		if c.HostOnly {
			scheme := "http"
			if c.Secure {
				scheme = "https"
			}
			p.URL = scheme + "://" + c.Domain + c.Path
		} else {
			p.Domain = "." + c.Domain
		}
		if c.Expires > 0 {
			p.Expires = cdp.TimeSinceEpoch(c.Expires)
		}
		params = append(params, p)
	}
	_, err := chromedp.Call(ctx, network.SetCookies, network.SetCookiesParams{Cookies: params})
	return err
}

// load navigates and waits for the load event, or for Settle.
func (p *Page) load(ctx context.Context, url string, o Options) error {
	loaded := chromedp.Events(ctx, page.LoadEventFired)
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		return fmt.Errorf("load %s: %w", url, err)
	}
	wait, cancel := context.WithTimeout(ctx, o.Settle)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		for _, err := range loaded {
			done <- err // the first load event, or why none came
			return
		}
	}()
	select {
	case err := <-done:
		if err != nil {
			p.Behaviours = append(p.Behaviours, "no load event ("+err.Error()+"): taken as it was")
		} else {
			p.Behaviours = append(p.Behaviours, "loaded (load event)")
		}
	case <-wait.Done():
		if ctx.Err() != nil {
			return fmt.Errorf("load %s: %w", url, ctx.Err())
		}
		p.Behaviours = append(p.Behaviours, fmt.Sprintf("still loading after %s: taken as it was", o.Settle))
	}
	return nil
}

// scrollStep scrolls one viewport down and resolves after two animation
// frames with the document's height and scroll position.
const scrollStep = `new Promise(resolve => {
	window.scrollBy(0, window.innerHeight);
	requestAnimationFrame(() => requestAnimationFrame(() => resolve([
		document.documentElement.scrollHeight, window.scrollY + window.innerHeight])));
})`

// settle gives what the last scroll set off its chance: a moment for the
// browser's network events to arrive, then until neither the browser nor
// the proxy has had a request under way for quietFor (at most settleMax).
func settle(ctx context.Context, quiet func() time.Duration) {
	const quietFor, settleMax, pause = 100 * time.Millisecond, 3 * time.Second, 50 * time.Millisecond
	sleep(ctx, pause)
	deadline := time.Now().Add(settleMax)
	for time.Now().Before(deadline) && quiet() < quietFor && ctx.Err() == nil {
		sleep(ctx, 20*time.Millisecond)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}

// scroll scrolls until the page stops growing, or max steps; then back
// to the top, where the screenshot starts.
func (p *Page) scroll(ctx context.Context, max int, quiet func() time.Duration) error {
	steps, last, still := 0, -1.0, 0
	for ; steps < max; steps++ {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](scrollStep, chromedp.EvalAwaitPromise))
		if err != nil || len(v) != 2 {
			return fmt.Errorf("scroll: %v", err)
		}
		height, bottom := v[0], v[1]
		if bottom >= height && height == last {
			// At the bottom and nothing was added: let what the last step
			// set off finish (lazy content), then look once more.
			if still++; still >= 2 {
				break
			}
			settle(ctx, quiet)
		} else {
			still = 0
		}
		last = height
	}
	why := "the page stopped growing"
	if steps >= max {
		why = fmt.Sprintf("the limit of %d steps", max)
	}
	p.Behaviours = append(p.Behaviours, fmt.Sprintf("scrolled %d viewports, until %s", steps, why))
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.scrollTo(0, 0), true`))
	return err
}

// take captures the screenshot, PDF, DOM, text, title and final URL.
func (p *Page) take(ctx context.Context) error {
	var err error
	if p.Screenshot, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
		return fmt.Errorf("screenshot: %w", err)
	}
	if p.PDF, err = chromedp.Run(ctx, chromedp.PrintToPDF(chromedp.PDFPrintBackground())); err != nil {
		return fmt.Errorf("pdf: %w", err)
	}
	if p.DOM, err = chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`)); err != nil {
		return fmt.Errorf("dom: %w", err)
	}
	if p.Text, err = chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`)); err != nil {
		return fmt.Errorf("text: %w", err)
	}
	if p.Title, err = chromedp.Run(ctx, chromedp.Evaluate[string](`document.title`)); err != nil {
		return err
	}
	p.FinalURL, err = chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
	return err
}
