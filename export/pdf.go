package export

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/chromedp/chromedp"
)

// renderPDF prints the package's report.html to PDF with headless
// chromium (exe): the same page, paginated, Arabic and Cyrillic shaped by
// the browser. The PDF differs on every run (it carries its creation
// date); report.html is the reference.
func renderPDF(ctx context.Context, exe, bagDir string) ([]byte, error) {
	if _, err := os.Stat(exe); err != nil {
		return nil, fmt.Errorf("--pdf needs chromium-headless-shell (%s): %w", exe, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true))
	profile, err := os.MkdirTemp("", "exhibit-pdf-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(profile)
	opts = append(opts, chromedp.UserDataDir(profile))
	actx, cancel := chromedp.NewExecAllocator(ctx, opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	bctx, cancel = context.WithTimeout(bctx, 5*time.Minute)
	defer cancel()
	abs, err := filepath.Abs(filepath.Join(bagDir, reportHTML))
	if err != nil {
		return nil, err
	}
	u := url.URL{Scheme: "file", Path: abs}
	if err := chromedp.Do(bctx, chromedp.Navigate(u.String())); err != nil {
		return nil, fmt.Errorf("pdf: open the report: %w", err)
	}
	pdf, err := chromedp.Run(bctx, chromedp.PrintToPDF(chromedp.PDFPrintBackground(), chromedp.PDFPaper(chromedp.PaperA4)))
	if err != nil {
		return nil, fmt.Errorf("pdf: print the report: %w", err)
	}
	return pdf, nil
}
