// Package media fetches the media files of a page (videos, audio, the
// images of a post) with yt-dlp, through the recording proxy, so that
// every byte yt-dlp downloads is in the capture's WARC like the browser's;
// and it reads yt-dlp's description of the post (its info JSON) into
// social metadata: platform, post, author, the post's time as the platform
// states it, engagement counts as observed, text.
//
// yt-dlp runs isolated: no configuration file, no cache, a home folder of
// its own, no proxy variables from the environment, and the recording
// proxy as its only way out. It does not check the proxy's certificate
// (--no-check-certificates): the proxy is on loopback and is the one that
// checks each origin's chain, which the WARC records. It does not fix up
// or convert what it downloads (--fixup never), so a file is what the
// server sent, or, when yt-dlp joins separate video and audio downloads,
// its merge of them (the wire bytes of both are in the WARC).
package media

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/openexhibit/exhibit/capture"
)

// DefaultExec is the yt-dlp binary looked up on PATH when none is given.
const DefaultExec = "yt-dlp"

// Options configure a fetch.
type Options struct {
	// Exec is the yt-dlp binary (DefaultExec: from PATH). A newer one than
	// the system's may be given by path.
	Exec string
	// Proxy is the recording proxy's host:port.
	Proxy string
	// Dir receives the files; it should be empty.
	Dir string
	// Timeout bounds the whole run (default 30 minutes).
	Timeout time.Duration
	// MaxItems bounds the entries of a post with several media (default 20).
	MaxItems int
	// Cookies, when set, is a login profile's cookies.txt, given to yt-dlp
	// in a file of its own that is removed after.
	Cookies []byte
}

// File is one media file yt-dlp wrote.
type File struct {
	// Name is the file's name (media-001.mp4, …), Path where it is.
	Name, Path string
	Size       int64
	MediaType  string
	// Incomplete: yt-dlp did not report it as a finished download (a
	// format file whose merge failed, a download cut off).
	Incomplete bool
}

// Result is what a fetch got.
type Result struct {
	// Exec is the yt-dlp binary that ran, Version its own version string.
	Exec, Version string
	// Files are the media files, in name order.
	Files []File
	// Info is yt-dlp's info JSON of the page, with local file paths and
	// cookies removed (nil when yt-dlp found nothing).
	Info []byte
	// Social is what Info says about the post (nil without Info).
	Social *Social
	// Problem says why yt-dlp got no media ("": it did, or there was none
	// to get and it said so in Info).
	Problem string
}

// versions are the versions Version found, by binary, once per process.
var versions sync.Map

// Version runs exec --version as Fetch runs yt-dlp (its own home, the
// same environment otherwise), so that a yt-dlp that cannot run there is
// found before any capture; once per binary and process.
func Version(ctx context.Context, execPath string) (string, error) {
	if v, ok := versions.Load(execPath); ok {
		return v.(string), nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	home, err := os.MkdirTemp("", "exhibit-yt-dlp-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(home)
	cmd := exec.CommandContext(ctx, execPath, "--version")
	cmd.Env = isolatedEnv(home, "")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("yt-dlp --version: %w", err)
	}
	v := strings.TrimSpace(string(out))
	if v == "" || strings.ContainsAny(v, "\n\r") || len(v) > 64 {
		return "", fmt.Errorf("yt-dlp --version printed %q, not a version", v)
	}
	versions.Store(execPath, v)
	return v, nil
}

// Resolve is the absolute path of the yt-dlp binary exec names.
func Resolve(execPath string) (string, error) {
	if execPath == "" {
		execPath = DefaultExec
	}
	p, err := exec.LookPath(execPath)
	if err != nil {
		return "", fmt.Errorf("yt-dlp not found (%w): install it (Debian: apt-get install yt-dlp) or give its path", err)
	}
	return filepath.Abs(p)
}

// stderrKeep is how much of yt-dlp's error output is kept for the problem.
const stderrKeep = 8 << 10

// maxInfo bounds the info JSON yt-dlp prints.
const maxInfo = 64 << 20

// Fetch runs yt-dlp on url through the proxy. It fails only when yt-dlp
// cannot be run; yt-dlp failing on the page (no media, unsupported site,
// removed post) is Result.Problem.
func Fetch(ctx context.Context, url string, o Options) (*Result, error) {
	execPath, err := Resolve(o.Exec)
	if err != nil {
		return nil, err
	}
	version, err := Version(ctx, execPath)
	if err != nil {
		return nil, err
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Minute
	}
	if o.MaxItems <= 0 {
		o.MaxItems = 20
	}
	home := filepath.Join(o.Dir, ".home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	defer os.RemoveAll(home)
	var auth []string
	if len(o.Cookies) > 0 {
		jar := filepath.Join(home, "cookies.txt")
		if err := os.WriteFile(jar, o.Cookies, 0o600); err != nil {
			return nil, err
		}
		auth = []string{"--cookies", jar}
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	proxy := "http://" + o.Proxy + "/"
	args := append([]string{"--ignore-config", "--no-cache-dir", "--no-progress", "--newline",
		"--proxy", proxy, "--no-check-certificates",
		"-f", formats, "--downloader", "native",
		"--dump-single-json", "--no-simulate",
		"--fixup", "never", "--no-mtime", "--no-write-comments",
		"--playlist-items", fmt.Sprintf("1:%d", o.MaxItems),
		"--socket-timeout", "60",
		"-o", "media-%(autonumber)03d.%(ext)s"}, auth...)
	cmd := exec.CommandContext(ctx, execPath, append(args, "--", url)...)
	cmd.Dir = o.Dir
	cmd.Env = isolatedEnv(home, proxy)
	// yt-dlp and whatever it starts (ffmpeg merging video and audio) are
	// one process group, stopped together.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &limitWriter{w: &stdout, n: maxInfo}
	cmd.Stderr = &tailWriter{n: stderrKeep, b: &stderr}
	cmd.WaitDelay = 10 * time.Second
	runErr := cmd.Run()
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // nothing of it outlives it
	}
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) {
		return nil, ctx.Err()
	}
	res := &Result{Exec: execPath, Version: version}
	var finished map[string]bool
	if info := bytes.TrimSpace(stdout.Bytes()); len(info) > 0 {
		clean, social, done, err := readInfo(info)
		if err != nil {
			res.Problem = "yt-dlp's info JSON: " + err.Error()
		} else {
			res.Info, res.Social, finished = redact(clean, o.Dir), social, done
		}
	}
	if res.Files, err = files(o.Dir, finished); err != nil {
		return nil, err
	}
	if runErr != nil {
		msg := lastError(stderr.String())
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			msg = fmt.Sprintf("stopped after %s", o.Timeout)
		}
		if msg == "" {
			msg = runErr.Error()
		}
		res.Problem = string(redact([]byte("yt-dlp: "+msg), o.Dir))
	}
	return res, nil
}

// formats is what yt-dlp may download: over HTTP(S), DASH over HTTP, or
// HLS, each fetched by yt-dlp itself (--downloader native) through the
// proxy; never RTMP, RTSP, MMS or anything else that would connect around
// it. A post whose media come only that way gets no media, and says so.
const formats = "bv*[protocol^=http]+ba[protocol^=http]/b[protocol^=http]/bv*[protocol^=m3u8]+ba[protocol^=m3u8]/b[protocol^=m3u8]"

// redact replaces, in b, this machine's paths that yt-dlp may quote: the
// media folder and the user's home.
func redact(b []byte, dir string) []byte {
	paths := []string{dir}
	if h, err := os.UserHomeDir(); err == nil && len(h) > 1 {
		paths = append(paths, h)
	}
	for _, p := range paths {
		if len(p) > 1 {
			b = bytes.ReplaceAll(b, []byte(p), []byte("…"))
		}
	}
	return b
}

// isolatedEnv is the environment yt-dlp runs in: PATH, the locale and
// where Python finds modules installed for this user (a yt-dlp from pip
// --user) from ours; a home of its own; the proxy, when given, as the
// only proxy for anything it starts.
func isolatedEnv(home, proxy string) []string {
	env := []string{"HOME=" + home, "XDG_CONFIG_HOME=" + home, "XDG_CACHE_HOME=" + home, "PYTHONDONTWRITEBYTECODE=1"}
	for _, k := range []string{"PATH", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "PYTHONUSERBASE"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	if _, ok := os.LookupEnv("PYTHONUSERBASE"); !ok {
		if h, err := os.UserHomeDir(); err == nil {
			env = append(env, "PYTHONUSERBASE="+filepath.Join(h, ".local"))
		}
	}
	if proxy != "" {
		for _, k := range []string{"http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"} {
			env = append(env, k+"="+proxy)
		}
	}
	return env
}

// files lists the media files yt-dlp left in dir; with finished (the
// names its info JSON gives as downloaded), a file not among them is
// marked Incomplete (a format file of a merge that failed, a download cut
// off).
func files(dir string, finished map[string]bool) ([]File, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []File
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(name, "media-") || unfinished(name) {
			continue
		}
		p := filepath.Join(dir, name)
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		head := make([]byte, capture.SniffLen)
		n, _ := io.ReadFull(f, head)
		st, err := f.Stat()
		f.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, File{Name: name, Path: p, Size: st.Size(), MediaType: capture.Sniff(head[:n], name), Incomplete: !finished[name]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// unfinished says a name is one of yt-dlp's partial or temporary files.
func unfinished(name string) bool {
	for _, s := range []string{".part", ".ytdl", ".temp", ".info.json"} {
		if strings.HasSuffix(name, s) || strings.Contains(name, ".part-Frag") || strings.Contains(name, ".temp.") {
			return true
		}
	}
	return false
}

// lastError is the last ERROR line yt-dlp printed (or its last line).
func lastError(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); strings.HasPrefix(l, "ERROR:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "ERROR:"))
		}
	}
	return strings.TrimSpace(lines[len(lines)-1])
}

// limitWriter keeps at most n bytes and then fails, which stops a
// runaway output.
type limitWriter struct {
	w io.Writer
	n int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.n {
		return 0, fmt.Errorf("more than %d bytes of output", maxInfo)
	}
	l.n -= int64(len(p))
	return l.w.Write(p)
}

// tailWriter keeps the last n bytes written.
type tailWriter struct {
	n int
	b *bytes.Buffer
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.b.Write(p)
	if over := t.b.Len() - t.n; over > 0 {
		t.b.Next(over)
		rest := append([]byte(nil), t.b.Bytes()...)
		t.b.Reset()
		t.b.Write(rest)
	}
	return len(p), nil
}

// private are the info JSON's keys (in lower case) that name this
// machine's files or carry credentials; they are removed wherever they
// occur, as are yt-dlp's internal keys (starting "__"). (yt-dlp before
// 2023.07.06 copied the cookies it was given into each format's
// http_headers as Cookie.)
var private = map[string]bool{
	"filepath": true, "_filename": true, "filename": true,
	"cookies": true, "cookie": true, "set-cookie": true, "authorization": true, "proxy-authorization": true,
}

// readInfo parses yt-dlp's info JSON, notes the names of the files it
// finished, removes the private keys, and reads the social metadata.
// Numbers keep their digits (platform IDs outgrow float64).
func readInfo(b []byte) ([]byte, *Social, map[string]bool, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var info map[string]any
	if err := d.Decode(&info); err != nil {
		return nil, nil, nil, err
	}
	finished := map[string]bool{}
	downloaded(info, finished)
	scrub(info)
	clean, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return nil, nil, nil, err
	}
	return clean, social(info), finished, nil
}

// downloaded notes the base names of the files an info object (and its
// entries) lists as downloaded.
func downloaded(info map[string]any, into map[string]bool) {
	if reqs, ok := info["requested_downloads"].([]any); ok {
		for _, r := range reqs {
			if r, ok := r.(map[string]any); ok {
				if p, ok := r["filepath"].(string); ok {
					into[filepath.Base(p)] = true
				}
			}
		}
	}
	if entries, ok := info["entries"].([]any); ok {
		for _, e := range entries {
			if e, ok := e.(map[string]any); ok {
				downloaded(e, into)
			}
		}
	}
}

func scrub(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if private[strings.ToLower(k)] || strings.HasPrefix(k, "__") {
				delete(v, k)
				continue
			}
			scrub(x)
		}
	case []any:
		for _, x := range v {
			scrub(x)
		}
	}
}

// str is a string or number field of an info object as a string.
func str(m map[string]any, keys ...string) string {
	for _, k := range keys {
		switch v := m[k].(type) {
		case string:
			if v != "" {
				return v
			}
		case json.Number:
			return v.String()
		}
	}
	return ""
}

// count is a count field (nil when absent or not a whole number).
func count(m map[string]any, key string) *int64 {
	n, ok := m[key].(json.Number)
	if !ok {
		return nil
	}
	i, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil {
		return nil
	}
	return &i
}
