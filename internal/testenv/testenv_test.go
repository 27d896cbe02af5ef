package testenv

import (
	"fmt"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// recorder is a testing.TB that records Skip and Fatal instead of stopping.
type recorder struct {
	testing.TB
	skipped, fatal string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Skip(args ...any)          { r.skipped = fmt.Sprint(args...) }
func (r *recorder) Fatal(args ...any)         { r.fatal = fmt.Sprint(args...) }
func (r *recorder) Fatalf(f string, a ...any) { r.fatal = fmt.Sprintf(f, a...) }

// The rules are tested as they apply without -short; TestShort tests -short.
func init() { short = func() bool { return false } }

// TestShort: under -short, everything that needs a service or an outside
// program skips, even when it is there and even in CI.
func TestShort(t *testing.T) {
	short = func() bool { return true }
	defer func() { short = func() bool { return false } }()
	t.Setenv("CI", "true")
	t.Setenv(EnvCosign, "/bin/sh")
	for name, call := range map[string]func(testing.TB){
		"Required": func(tb testing.TB) { Required(tb, EnvCosign, "the cosign binary") },
		"Program":  func(tb testing.TB) { Program(tb, "dash", "sh") },
	} {
		r := &recorder{TB: t}
		call(r)
		if !strings.Contains(r.skipped, "-short") || !strings.Contains(r.skipped, "make test") {
			t.Errorf("%s under -short: skipped %q, failed %q; want a skip that names -short and make test", name, r.skipped, r.fatal)
		}
	}
}

func TestRequired(t *testing.T) {
	const name = "EXHIBIT_TEST_TESTENV_PROBE"
	cases := []struct {
		ci, value          string
		wantSkip, wantFail bool
	}{
		{ci: "", value: "x"},
		{ci: "true", value: "x"},
		{ci: "", value: "", wantSkip: true},
		{ci: "false", value: "", wantSkip: true},
		{ci: "true", value: "", wantFail: true},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("CI=%q,value=%q", c.ci, c.value), func(t *testing.T) {
			t.Setenv("CI", c.ci)
			t.Setenv(name, c.value)
			r := &recorder{TB: t}
			got := Required(r, name, "a probe")
			if got != c.value {
				t.Errorf("Required() = %q, want %q", got, c.value)
			}
			if (r.skipped != "") != c.wantSkip || (r.fatal != "") != c.wantFail {
				t.Fatalf("skipped %q, failed %q; want skip %v, fail %v", r.skipped, r.fatal, c.wantSkip, c.wantFail)
			}
			for _, msg := range []string{r.skipped, r.fatal} {
				if msg != "" && (!strings.Contains(msg, "make test") || !strings.Contains(msg, name)) {
					t.Errorf("message %q should name %s and `make test`", msg, name)
				}
			}
		})
	}
}

func TestCosignNotExecutable(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvCosign, dir)
	r := &recorder{TB: t}
	Cosign(r)
	if r.fatal == "" {
		t.Fatalf("Cosign accepted a folder")
	}
}

func TestBucketName(t *testing.T) {
	seen := map[string]bool{}
	for _, name := range []string{
		"TestX",
		"TestConformance/RoundTrip/large-unknown-size",
		"Test" + strings.Repeat("VeryLongName", 20),
		"Test/../../weird name ÄÖ\x00",
		"---",
		"",
	} {
		b := bucketName(name)
		if err := s3utils.CheckValidBucketNameStrict(b); err != nil {
			t.Errorf("bucketName(%q) = %q: %v", name, b, err)
		}
		if seen[b] {
			t.Errorf("bucketName(%q) = %q repeats", name, b)
		}
		seen[b] = true
		if again := bucketName(name); again == b {
			t.Errorf("bucketName(%q) gave %q twice", name, b)
		}
	}
}

func TestTSA(t *testing.T) {
	cases := []struct {
		ci, value          string
		wantSkip, wantFail bool
	}{
		{value: "http://127.0.0.1:1/api/v1/timestamp"},
		{value: "", wantSkip: true},
		{ci: "true", value: "", wantFail: true},
		{value: "127.0.0.1:1", wantFail: true},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("CI=%q,value=%q", c.ci, c.value), func(t *testing.T) {
			t.Setenv("CI", c.ci)
			t.Setenv(EnvTSA, c.value)
			r := &recorder{TB: t}
			got := TSA(r)
			if (r.skipped != "") != c.wantSkip || (r.fatal != "") != c.wantFail {
				t.Fatalf("skipped %q, failed %q; want skip %v, fail %v", r.skipped, r.fatal, c.wantSkip, c.wantFail)
			}
			if !c.wantSkip && !c.wantFail && got != c.value {
				t.Fatalf("TSA() = %q, want %q", got, c.value)
			}
		})
	}
}

func TestProgram(t *testing.T) {
	cases := []struct {
		ci                 string
		names              []string
		wantPath           bool
		wantSkip, wantFail bool
	}{
		{ci: "true", names: []string{"sh"}, wantPath: true},
		{ci: "", names: []string{"exhibit-no-such-program", "sh"}, wantPath: true},
		{ci: "", names: []string{"exhibit-no-such-program"}, wantSkip: true},
		{ci: "true", names: []string{"exhibit-no-such-program"}, wantFail: true},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("CI=%q,%s", c.ci, strings.Join(c.names, ",")), func(t *testing.T) {
			t.Setenv("CI", c.ci)
			r := &recorder{TB: t}
			got := Program(r, "probe-pkg", c.names...)
			if (got != "") != c.wantPath {
				t.Errorf("Program() = %q, want a path: %v", got, c.wantPath)
			}
			if (r.skipped != "") != c.wantSkip || (r.fatal != "") != c.wantFail {
				t.Fatalf("skipped %q, failed %q; want skip %v, fail %v", r.skipped, r.fatal, c.wantSkip, c.wantFail)
			}
			for _, msg := range []string{r.skipped, r.fatal} {
				if msg != "" && (!strings.Contains(msg, "probe-pkg") || !strings.Contains(msg, "make tools")) {
					t.Errorf("message %q should name the package and `make tools`", msg)
				}
			}
		})
	}
}
