package web_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openexhibit/exhibit/acquire/web"
	"github.com/openexhibit/exhibit/acquire/web/browser"
	"github.com/openexhibit/exhibit/acquire/web/webtest"
	"github.com/openexhibit/exhibit/cli"
	"github.com/openexhibit/exhibit/internal/testenv"
)

// BenchmarkCapture measures captures of two pages of the test site, the
// article (text a script inserts, an image, a list that grows five times
// as it is scrolled, to 30 items) and a static page (/login: a form), each
// against the baseline the issue names, in the same run:
//
//   - bare: chromium-headless-shell --screenshot of the same page (no
//     proxy, no scrolling, no PDF, DOM or text);
//   - command: exhibit capture, end to end (the proxy, the browser and its
//     behaviours, the WACZ, the reader, hashing, signing, the custody log);
//
// and, for the article, the capture alone (web.Capture: proxy, browser,
// WARC, WACZ) one at a time and four at once, as a worker would run them.
//
// Each reports peak-MiB: the largest proportional set size (PSS, so that
// memory the browser's processes share is counted once) of this process
// and every process under it, sampled every 20 ms.
//
//	go test -run '^$' -bench Capture -benchtime 5x ./acquire/web
//
// (Sub-benchmarks run one after another, so a bare run and its capture
// are minutes apart at most; run it twice to see the noise.)
func BenchmarkCapture(b *testing.B) {
	exe := testenv.Program(b, "chromium-headless-shell", browser.DefaultExec)
	srv := webtest.Site(b)
	article := srv.URL + "/post/123"
	for _, page := range []struct{ name, url string }{{"article", article}, {"static", srv.URL + "/login"}} {
		b.Run(page.name+"/bare", func(b *testing.B) { bare(b, exe, srv, page.url) })
		b.Run(page.name+"/command", func(b *testing.B) { command(b, srv, page.url) })
	}
	b.Run("article/capture", func(b *testing.B) { captures(b, srv, article, 1) })
	b.Run("article/parallel-4", func(b *testing.B) { captures(b, srv, article, 4) })
}

// bare takes chromium-headless-shell --screenshot of url.
func bare(b *testing.B, exe string, srv *httptest.Server, url string) {
	sum := sha256.Sum256(srv.Certificate().RawSubjectPublicKeyInfo)
	spki := base64.StdEncoding.EncodeToString(sum[:])
	dir := b.TempDir()
	defer sample(b)()
	for b.Loop() {
		out, err := exec.Command(exe, "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,900",
			"--ignore-certificate-errors-spki-list="+spki, "--user-data-dir="+filepath.Join(dir, "profile"),
			"--screenshot="+filepath.Join(dir, "shot.png"), url).CombinedOutput()
		if err != nil {
			b.Fatalf("%v\n%s", err, out)
		}
	}
}

// command runs exhibit capture url into a new archive.
func command(b *testing.B, srv *httptest.Server, url string) {
	dir := b.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, pemOf(srv.Certificate()), 0o644)
	b.Setenv("EXHIBIT_HOME", filepath.Join(dir, "home"))
	run := func(args ...string) {
		var out bytes.Buffer
		if code := cli.Run(context.Background(), append([]string{"exhibit"}, args...), strings.NewReader(""), &out, &out); code != 0 {
			b.Fatalf("%v: exit %d\n%s", args, code, out.String())
		}
	}
	run("init", "--archive", filepath.Join(dir, "archive"), "--insecure-no-password")
	defer sample(b)()
	for b.Loop() {
		run("capture", "--insecure-allow-private", "--ca", ca, url)
	}
}

// captures runs n captures of url at once.
func captures(b *testing.B, srv *httptest.Server, url string, n int) {
	roots := webtest.Roots(srv)
	tmp := b.TempDir()
	defer sample(b)()
	for b.Loop() {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				res, err := web.Capture(context.Background(), url, web.Options{RootCAs: roots, InsecureAllowPrivate: true, TempDir: tmp})
				if err != nil {
					errs <- err
					return
				}
				if !strings.Contains(res.Page.Text, "item 30") {
					errs <- fmt.Errorf("the list was not loaded to its end")
				}
				res.Remove()
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	}
}

func pemOf(c *x509.Certificate) []byte {
	return []byte("-----BEGIN CERTIFICATE-----\n" + base64.StdEncoding.EncodeToString(c.Raw) + "\n-----END CERTIFICATE-----\n")
}

// sample samples the PSS of this process and its descendants until the
// function it returns is called, which reports the peak as peak-MiB.
func sample(b *testing.B) func() {
	done := make(chan struct{})
	var peak int64
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if kb := treePSS(os.Getpid()); kb > peak {
				peak = kb
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		b.ReportMetric(float64(peak)/1024, "peak-MiB")
	}
}

// treePSS is the summed PSS, in KiB, of pid and its descendants.
func treePSS(pid int) int64 {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces and parentheses.
		rest := stat[bytes.LastIndexByte(stat, ')')+1:]
		f := strings.Fields(string(rest))
		if len(f) > 1 {
			if ppid, err := strconv.Atoi(f[1]); err == nil {
				children[ppid] = append(children[ppid], p)
			}
		}
	}
	var total int64
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = append(queue[1:], children[p]...)
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", p))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "Pss:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				total += kb
				break
			}
		}
	}
	return total
}
