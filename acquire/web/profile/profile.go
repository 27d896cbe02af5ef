// Package profile keeps login profiles for web captures: a named set of
// cookies, imported once from a cookies.txt file (the Netscape format that
// browser extensions export and yt-dlp reads), kept in the home folder
// encrypted to a passphrase (age, scrypt), and given to the capturing
// browser (and to yt-dlp) for one capture at a time.
//
// A profile is a credential: it logs the capture in as the investigator's
// account. Its cookies travel in the capture's request records (the
// original shows what was sent, as evidence must), never in the custody
// record, which names the profile's label only; the shareable working copy
// of a capture has every Cookie and Set-Cookie removed.
package profile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"filippo.io/age"
	"golang.org/x/net/publicsuffix"
)

// Cookie is one cookie of a profile.
type Cookie struct {
	// Domain is the host (HostOnly) or the domain whose subdomains share it.
	Domain   string
	HostOnly bool
	Path     string
	Secure   bool
	HTTPOnly bool
	// Expires is in seconds since 1970 (0: a session cookie).
	Expires     int64
	Name, Value string
}

// MaxFile bounds a cookies.txt file.
const MaxFile = 4 << 20

// Parse reads cookies.txt: one cookie a line, seven fields separated by
// tabs (domain, include subdomains TRUE/FALSE, path, secure TRUE/FALSE,
// expiry, name, value); "#HttpOnly_" before the domain marks an HttpOnly
// cookie; other lines starting with # and blank lines are ignored.
func Parse(data []byte) ([]Cookie, error) {
	if len(data) > MaxFile {
		return nil, fmt.Errorf("cookies file of %d bytes: at most %d", len(data), MaxFile)
	}
	var out []Cookie
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), MaxFile)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		httpOnly := false
		if rest, ok := strings.CutPrefix(line, "#HttpOnly_"); ok {
			line, httpOnly = rest, true
		}
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 7 {
			return nil, fmt.Errorf("line %d: %d tab-separated fields, want 7 (domain, subdomains, path, secure, expiry, name, value): is this a cookies.txt file?", n, len(f))
		}
		sub, err1 := boolField(f[1])
		secure, err2 := boolField(f[3])
		exp, err3 := strconv.ParseInt(f[4], 10, 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		domain := strings.TrimPrefix(f[0], ".")
		if domain == "" || f[5] == "" {
			return nil, fmt.Errorf("line %d: no domain or no name", n)
		}
		out = append(out, Cookie{Domain: domain, HostOnly: !sub, Path: f[2], Secure: secure, HTTPOnly: httpOnly,
			Expires: exp, Name: f[5], Value: f[6]})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no cookie in the file")
	}
	return out, nil
}

func boolField(s string) (bool, error) {
	switch strings.ToUpper(s) {
	case "TRUE":
		return true, nil
	case "FALSE":
		return false, nil
	}
	return false, fmt.Errorf("%q is not TRUE or FALSE", s)
}

// Profile is a loaded profile: its label, its cookies, and the
// cookies.txt they came from (for yt-dlp).
type Profile struct {
	Name    string
	Cookies []Cookie
	File    []byte
}

// ErrNotFound: no profile of that name.
var ErrNotFound = errors.New("no such profile")

// ErrPassphrase: the passphrase does not open the profile.
var ErrPassphrase = errors.New("the passphrase does not open this profile")

// ValidName: 1 to 64 letters, digits, dashes and underscores.
func ValidName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Store is the folder holding the profiles (the home folder's profiles/).
type Store string

func (s Store) path(name string) string { return filepath.Join(string(s), name+".cookies.age") }

// Add checks cookies.txt and keeps it as the profile name, encrypted to
// passphrase. An existing profile of that name is replaced.
func (s Store) Add(name string, cookies []byte, passphrase []byte) error {
	if !ValidName(name) {
		return fmt.Errorf("profile name %q: use 1 to 64 letters, digits, - and _", name)
	}
	if len(passphrase) == 0 {
		return errors.New("a profile is a credential and is kept encrypted: a passphrase is needed")
	}
	if _, err := Parse(cookies); err != nil {
		return err
	}
	r, err := age.NewScryptRecipient(string(passphrase))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(string(s), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(string(s), ".add-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	w, err := age.Encrypt(tmp, r)
	if err == nil {
		_, err = w.Write(cookies)
	}
	if err == nil {
		err = w.Close()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), s.path(name))
}

// Load opens the profile name.
func (s Store) Load(name string, passphrase []byte) (*Profile, error) {
	if !ValidName(name) {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	f, err := os.Open(s.path(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	id, err := age.NewScryptIdentity(string(passphrase))
	if err != nil {
		return nil, err
	}
	r, err := age.Decrypt(f, id)
	if err != nil {
		var wrong *age.NoIdentityMatchError
		if errors.As(err, &wrong) {
			return nil, fmt.Errorf("profile %q: %w", name, ErrPassphrase)
		}
		return nil, fmt.Errorf("profile %q: %w", name, err)
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxFile+1))
	if err != nil {
		return nil, fmt.Errorf("profile %q: %w", name, err)
	}
	cookies, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("profile %q: %w", name, err)
	}
	return &Profile{Name: name, Cookies: cookies, File: data}, nil
}

// List names the profiles.
func (s Store) List() ([]string, error) {
	ents, err := os.ReadDir(string(s))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	var out []string
	for _, e := range ents {
		if name, ok := strings.CutSuffix(e.Name(), ".cookies.age"); ok && ValidName(name) {
			out = append(out, name)
		}
	}
	return out, err
}

// Remove deletes the profile name.
func (s Store) Remove(name string) error {
	if !ValidName(name) {
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	err := os.Remove(s.path(name))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return err
}

// For is the part of the profile that belongs to the site of rawURL:
// the cookies of its registrable domain (example.org for
// news.example.org; the host itself for an IP address), and a
// cookies.txt of only those. A capture sends nothing else: the
// investigator's sessions on other sites stay out of it, embedded third
// parties included. Nil when the profile has no cookie for the site.
func (p *Profile) For(rawURL string) *Profile {
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" {
		return nil
	}
	site := registrable(u.Hostname())
	out := &Profile{Name: p.Name}
	var file strings.Builder
	file.WriteString("# Netscape HTTP Cookie File\n")
	for _, c := range p.Cookies {
		if registrable(c.Domain) != site {
			continue
		}
		out.Cookies = append(out.Cookies, c)
		domain, sub := c.Domain, "FALSE"
		if !c.HostOnly {
			domain, sub = "."+c.Domain, "TRUE"
		}
		if c.HTTPOnly {
			domain = "#HttpOnly_" + domain
		}
		secure := "FALSE"
		if c.Secure {
			secure = "TRUE"
		}
		fmt.Fprintf(&file, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", domain, sub, c.Path, secure, c.Expires, c.Name, c.Value)
	}
	if len(out.Cookies) == 0 {
		return nil
	}
	out.File = []byte(file.String())
	return out
}

// Domains are the cookies' domains, once each, in order.
func (p *Profile) Domains() []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range p.Cookies {
		if !seen[c.Domain] {
			seen[c.Domain] = true
			out = append(out, c.Domain)
		}
	}
	return out
}

// registrable is a host's registrable domain (eTLD+1), or the host itself
// (an IP address, a name without a public suffix), in lower case.
func registrable(host string) string {
	host = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(host, "."), "."))
	if _, err := netip.ParseAddr(host); err == nil {
		return host
	}
	if d, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
		return d
	}
	return host
}
