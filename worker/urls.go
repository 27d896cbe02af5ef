package worker

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/openexhibit/exhibit/acquire/web"
	"github.com/openexhibit/exhibit/acquire/web/media"
	"github.com/openexhibit/exhibit/archive"
)

// A urls job captures its URLs each run, as exhibit capture does: each
// page through the recording proxy and the headless browser, archived as
// a WACZ with its record, as soon as it is captured. Every run is a new
// capture of every URL (the point is the page as it was then). A URL
// that cannot be captured is an error line and a failure in the run's
// history; the others are archived all the same.

func (w *Worker) captureURLs(ctx context.Context, j Job, r *runResult) error {
	urls := append([]string(nil), j.URLs...)
	if j.URLsFile != "" {
		f, err := os.Open(j.URLsFile)
		if err != nil {
			return fmt.Errorf("urls_file: %w", err)
		}
		listed, err := web.ReadURLList(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("urls_file: %w", err)
		}
		urls = append(urls, listed...)
	}
	o := w.o.Web
	if j.Media {
		bin, err := media.Resolve("")
		if err != nil {
			return fmt.Errorf("media: %w", err)
		}
		o.Media = &media.Options{Exec: bin}
	}
	opts := w.o.Ingest
	opts.Case = j.Case
	for i, u := range urls {
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := web.Capture(ctx, u, o)
		if err != nil {
			r.failures++
			// The URL is the job's setting, not evidence: its number names it.
			w.o.Logger.Error("urls: page not captured", "job", j.Name, "url", i+1, "error", errClass(err))
			continue
		}
		acq, err := res.Acquisition(web.AcquireOptions{Browser: o.Browser.Exec})
		if err == nil {
			var rep *archive.IngestReport
			if rep, err = w.o.Archive.Acquire(ctx, opts, []*archive.Acquisition{acq}); err == nil {
				if err = unfinished(ctx, rep); err == nil {
					for _, res := range rep.Results {
						if res.Err != nil {
							err = res.Err
						}
						r.bytes += res.Size
					}
				}
			}
		}
		res.Remove()
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			r.failures++
			w.o.Logger.Error("urls: capture not archived", "job", j.Name, "url", i+1, "error", errClass(err))
			continue
		}
		r.items++
		w.metrics.items.WithLabelValues(fileArchived).Inc()
	}
	w.metrics.items.WithLabelValues(fileFailed).Add(float64(r.failures))
	r.detail = fmt.Sprintf("%d URLs: %d captured, %d failed", len(urls), r.items, r.failures)
	return nil
}

// errClass is an error's kind without its text, which may quote a URL.
func errClass(err error) string {
	var pe *web.PageError
	if errors.As(err, &pe) {
		return "the page could not be fetched"
	}
	return fmt.Sprintf("%T", err)
}
