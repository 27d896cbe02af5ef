package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/openexhibit/exhibit/internal/testenv"
)

// BenchmarkDownload fetches one large response over HTTPS from a local
// origin directly and through the recording proxy (which keeps every byte
// in a spool on disk and passes it on), in the same run, twice: with the
// origin sending as fast as it can (on this machine the origin, the proxy
// and the client then share the same 2 cores, and every byte costs the
// proxy a TLS decryption, a disk write and a TLS encryption besides the
// client's decryption), and with the origin paced at 100 MB/s (a fast real
// link, where the link and not the CPU sets the pace) and at 400 MB/s. The target:
// through the proxy at least 80% of the direct rate. Each reports
// peak-heap-MiB, the largest heap in use during the run: flat in the size.
//
//	go test -run '^$' -bench Download -benchtime 5x ./acquire/web/proxy
func BenchmarkDownload(b *testing.B) {
	for _, rate := range []int{0, 100 << 20, 400 << 20} {
		name := "unpaced"
		if rate > 0 {
			name = fmt.Sprintf("%dMBps", rate>>20)
		}
		b.Run(name, func(b *testing.B) { download(b, rate) })
	}
}

func download(b *testing.B, rate int) {
	const size = 200 << 20
	chunk := make([]byte, 1<<20)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		start := time.Now()
		for sent := 0; sent < size; sent += len(chunk) {
			if rate > 0 { // pace: no byte before its time on the link
				if ahead := time.Duration(float64(sent)/float64(rate)*float64(time.Second)) - time.Since(start); ahead > 0 {
					time.Sleep(ahead)
				}
			}
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	get := func(b *testing.B, c *http.Client) {
		resp, err := c.Get(srv.URL + "/video.mp4")
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || n != size {
			b.Fatalf("%d bytes, %v", n, err)
		}
	}
	b.Run("direct", func(b *testing.B) {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, DisableCompression: true}}
		b.SetBytes(size)
		defer testenv.HeapPeak(b)()
		for b.Loop() {
			get(b, c)
		}
	})
	b.Run("proxy", func(b *testing.B) {
		p, err := Start(Options{InsecureAllowPrivate: true, RootCAs: roots, TempDir: b.TempDir(),
			Exchange: func(ex *Exchange) {
				ex.Request.Close()
				if ex.Response != nil {
					ex.Response.Close()
				}
			}})
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		c := browser(p)
		b.SetBytes(size)
		defer testenv.HeapPeak(b)()
		for b.Loop() {
			get(b, c)
		}
	})
}
