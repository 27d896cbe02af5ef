package profile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const txt = "# Netscape HTTP Cookie File\n" +
	"#HttpOnly_.example.org\tTRUE\t/\tTRUE\t1893456000\tsession\ts3cr3t-value\n" +
	"\n" +
	"news.example.org\tFALSE\t/app\tFALSE\t0\tlang\ten\r\n"

func TestParse(t *testing.T) {
	got, err := Parse([]byte(txt))
	if err != nil {
		t.Fatal(err)
	}
	want := []Cookie{
		{Domain: "example.org", Path: "/", Secure: true, HTTPOnly: true, Expires: 1893456000, Name: "session", Value: "s3cr3t-value"},
		{Domain: "news.example.org", HostOnly: true, Path: "/app", Name: "lang", Value: "en"},
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %+v", got)
	}
	for _, bad := range []string{
		"",                             // nothing
		"# only a comment\n",           // nothing
		"example.org\tTRUE\t/\tTRUE\n", // too few fields
		"example.org\tYES\t/\tTRUE\t0\ta\tb\n",
		"example.org\tTRUE\t/\tTRUE\tsoon\ta\tb\n",
		"\tTRUE\t/\tTRUE\t0\ta\tb\n",
		"name=value; other=x\n", // a Cookie header, not a cookies.txt
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	if _, err := Parse(bytes.Repeat([]byte("#"), MaxFile+1)); err == nil {
		t.Error("accepted a file over the limit")
	}
}

func TestStore(t *testing.T) {
	s := Store(filepath.Join(t.TempDir(), "profiles"))
	pass := []byte("correct horse")
	if err := s.Add("ngo-account", []byte(txt), pass); err != nil {
		t.Fatal(err)
	}
	// Kept encrypted: the value is nowhere in the folder.
	filepath.WalkDir(string(s), func(p string, d os.DirEntry, err error) error {
		if b, _ := os.ReadFile(p); bytes.Contains(b, []byte("s3cr3t")) {
			t.Errorf("%s holds the cookie in clear", p)
		}
		return nil
	})
	p, err := s.Load("ngo-account", pass)
	if err != nil || p.Name != "ngo-account" || len(p.Cookies) != 2 || string(p.File) != txt {
		t.Fatalf("load: %+v, %v", p, err)
	}
	if _, err := s.Load("ngo-account", []byte("wrong")); !errors.Is(err, ErrPassphrase) {
		t.Errorf("wrong passphrase: %v", err)
	}
	for _, name := range []string{"other", "../x", ""} {
		if _, err := s.Load(name, pass); !errors.Is(err, ErrNotFound) {
			t.Errorf("load %q: %v", name, err)
		}
	}
	for _, tc := range []struct {
		name, data, pass, want string
	}{
		{"../escape", txt, "p", "profile name"},
		{"a", txt, "", "passphrase is needed"},
		{"a", "session=abc", "p", "cookies.txt"},
	} {
		if err := s.Add(tc.name, []byte(tc.data), []byte(tc.pass)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("add %q: %v", tc.name, err)
		}
	}
	if names, err := s.List(); err != nil || len(names) != 1 || names[0] != "ngo-account" {
		t.Errorf("list: %v %v", names, err)
	}
	if err := s.Remove("ngo-account"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("ngo-account"); !errors.Is(err, ErrNotFound) {
		t.Errorf("remove twice: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(txt))
	f.Add([]byte("#HttpOnly_\tTRUE\t\tTRUE\t-1\tx\t\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, err := Parse(b)
		if err == nil && len(cs) == 0 {
			t.Fatal("no error and no cookie")
		}
		for _, c := range cs {
			if c.Domain == "" || c.Name == "" || strings.ContainsAny(c.Value, "\t\n") {
				t.Fatalf("bad cookie %+v", c)
			}
		}
	})
}

// TestFor: a capture gets the cookies of its site only (its registrable
// domain; an IP address is a site of its own), as cookies.txt too.
func TestFor(t *testing.T) {
	p := &Profile{Name: "ngo", Cookies: []Cookie{
		{Domain: "example.org", Path: "/", Secure: true, HTTPOnly: true, Name: "session", Value: "a"},
		{Domain: "news.example.org", HostOnly: true, Path: "/", Name: "lang", Value: "en"},
		{Domain: "google.com", Path: "/", Name: "SID", Value: "secret"},
		{Domain: "127.0.0.1", HostOnly: true, Path: "/", Name: "local", Value: "1"},
		{Domain: "10.0.0.1", HostOnly: true, Path: "/", Name: "other", Value: "2"},
	}}
	got := p.For("https://www.example.org/post/7")
	if got == nil || len(got.Cookies) != 2 || got.Name != "ngo" || bytes.Contains(got.File, []byte("secret")) {
		t.Fatalf("example.org: %+v", got)
	}
	back, err := Parse(got.File)
	if err != nil || len(back) != 2 || back[0] != got.Cookies[0] || back[1] != got.Cookies[1] {
		t.Fatalf("its cookies.txt reads back as %+v (%v)", back, err)
	}
	if got := p.For("https://127.0.0.1:8443/x"); got == nil || len(got.Cookies) != 1 || got.Cookies[0].Name != "local" {
		t.Fatalf("127.0.0.1: %+v", got)
	}
	if got := p.For("https://example.com/"); got != nil {
		t.Fatalf("example.com: %+v", got)
	}
}
