package cli

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/openexhibit/exhibit/acquire/web"
	"github.com/openexhibit/exhibit/acquire/web/browser"
	"github.com/openexhibit/exhibit/acquire/web/media"
	"github.com/urfave/cli/v2"
)

func captureCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "capture",
		Usage:     "capture web pages: every byte the server sent, and the page as a browser showed it",
		ArgsUsage: "URL...",
		Before: func(c *cli.Context) error {
			if !c.Bool("media") && (c.IsSet("yt-dlp") || c.IsSet("media-timeout")) {
				return usageErr("capture: --yt-dlp and --media-timeout go with --media")
			}
			return nil
		},
		Description: "Each URL is loaded in chromium-headless-shell (Debian: apt-get install chromium-headless-shell)\n" +
			"through Exhibit's recording proxy, which keeps every request and response exactly as exchanged\n" +
			"with the server, with each connection's address, TLS state and certificate chain. The page is\n" +
			"scrolled until it stops growing; a screenshot, a PDF, the DOM and the visible text are taken.\n" +
			"Everything is packed as a WACZ (WARC inside; replay tools open it) and archived, signed and\n" +
			"logged like any item, with a record saying what was asked for, what the browser ended on,\n" +
			"when, with which browser, and from where.\n" +
			"With --media, yt-dlp (Debian: apt-get install yt-dlp; a newer one by --yt-dlp PATH) fetches the\n" +
			"page's videos and other media through the same proxy, and what it reads of the post (author,\n" +
			"time of posting, counts, text) is recorded as the platform's claims.\n" +
			"With --profile NAME (exhibit profile add), the browser and yt-dlp are logged in with that profile's\n" +
			"cookies; the record names the profile, never the cookies.\n" +
			"Loopback, private and link-local addresses are refused unless --insecure-allow-private.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "case", Usage: "case (investigation) the captures belong to"},
			&cli.StringFlag{Name: "from", Usage: "read URLs from this file, one a line (# starts a comment)"},
			&cli.StringFlag{Name: "browser", Usage: "the browser binary", Value: browser.DefaultExec},
			&cli.DurationFlag{Name: "timeout", Usage: "time allowed for each page", Value: 2 * time.Minute},
			&cli.StringSliceFlag{Name: "ca", Usage: "PEM file of further certificate authorities to verify servers against (the system's are used too); repeatable"},
			&cli.StringFlag{Name: "profile", Usage: "log in with this login profile (exhibit profile add); the record names it, never its cookies"},
			&cli.BoolFlag{Name: "media", Usage: "fetch the page's media files too, with yt-dlp, through the recording proxy"},
			&cli.StringFlag{Name: "yt-dlp", Usage: "the yt-dlp binary, for --media", Value: media.DefaultExec},
			&cli.DurationFlag{Name: "media-timeout", Usage: "time allowed for each page's media", Value: 30 * time.Minute},
			&cli.StringSliceFlag{Name: "encrypt-to", Usage: "encrypt the capture and its metadata to this age recipient (age1…) before they are written; repeatable (config: encrypt_to)"},
			&cli.BoolFlag{Name: "insecure-allow-private", Usage: "allow loopback, private and link-local destinations (never for URL lists from others)"},
		},
		Action: func(c *cli.Context) error {
			urls, err := captureURLs(c.Args().Slice(), c.String("from"))
			if err != nil {
				return err
			}
			home, cfg, err := e.config(c)
			if err != nil {
				return err
			}
			if c.IsSet("encrypt-to") {
				cfg.EncryptTo = c.StringSlice("encrypt-to")
			}
			roots, err := rootPool(c.StringSlice("ca"))
			if err != nil {
				return err
			}
			o := web.Options{RootCAs: roots, InsecureAllowPrivate: c.Bool("insecure-allow-private"), Software: "exhibit " + version(),
				Browser: browser.Options{Exec: c.String("browser"), Timeout: c.Duration("timeout")}}
			if name := c.String("profile"); name != "" {
				if o.Profile, err = loadProfile(c.Context, e, home, name); err != nil {
					return err
				}
			}
			if c.Bool("media") {
				// Before any page is loaded: a missing yt-dlp is found now.
				bin, err := media.Resolve(c.String("yt-dlp"))
				if err != nil {
					return withCode(ExitUsage, err, "install yt-dlp, give its path with --yt-dlp, or capture without --media")
				}
				if _, err := media.Version(c.Context, bin); err != nil {
					return withCode(ExitUsage, err, "give a working yt-dlp with --yt-dlp, or capture without --media")
				}
				o.Media = &media.Options{Exec: bin, Timeout: c.Duration("media-timeout")}
			}
			return runCapture(c.Context, e, home, cfg, c.String("case"), o, urls)
		},
	}
}

// captureURLs are the URLs of the arguments and the --from file, checked.
func captureURLs(args []string, from string) ([]string, error) {
	urls := append([]string(nil), args...)
	if from != "" {
		f, err := os.Open(from)
		if err != nil {
			return nil, withCode(ExitInput, err, "check the path given to --from")
		}
		defer f.Close()
		listed, err := web.ReadURLList(f)
		if err != nil {
			return nil, withCode(ExitInput, err, "check the file given to --from")
		}
		urls = append(urls, listed...)
	}
	if len(urls) == 0 {
		return nil, usageErr("capture: give at least one URL (or --from FILE)")
	}
	for _, u := range urls {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return nil, usageErr("capture: %q is not an http or https URL", u)
		}
	}
	return urls, nil
}

// rootPool is the system's roots plus the PEM files given.
func rootPool(files []string) (*x509.CertPool, error) {
	if len(files) == 0 {
		return nil, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	for _, f := range files {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, withCode(ExitInput, err, "check the path given to --ca")
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageErr("--ca %s: no PEM certificate in it", f)
		}
	}
	return pool, nil
}

func runCapture(ctx context.Context, e *env, home string, cfg *Config, caseName string, o web.Options, urls []string) error {
	a, opts, err := openArchiving(ctx, e, home, cfg, caseName)
	if err != nil {
		return err
	}
	// Each capture is archived as soon as it is made, and its files
	// removed: a long list does not pile captures up on the disk.
	var failed []string
	for _, u := range urls {
		res, err := web.Capture(ctx, u, o)
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", u, err))
			fmt.Fprintf(e.stderr, "capture failed  %s: %v\n", u, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		fmt.Fprintf(e.stderr, "captured  %s  (%d exchanges, %s)\n", u, res.Exchanges, humanBytes(res.Size))
		if m := res.MediaProblem(); m != "" {
			fmt.Fprintf(e.stderr, "  media: %s\n", m)
		}
		acq, err := res.Acquisition(web.AcquireOptions{Browser: o.Browser.Exec, By: cfg.Operator})
		if err == nil {
			err = archiveAcquisition(ctx, e, a, opts, acq)
		}
		res.Remove()
		if err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return withCode(ExitInput, fmt.Errorf("%d of %d captures failed; first: %s", len(failed), len(urls), failed[0]),
			"check the URLs and the network, then capture those again; the others are archived")
	}
	return nil
}
