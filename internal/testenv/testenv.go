// Package testenv gives tests the outside services they need: a MinIO server,
// an RFC 3161 timestamp authority, the cosign binary and the programs from
// Debian packages that check our output independently (exiftool, GDAL,
// libheif, libwebp). It owns nothing else and is imported only by tests.
//
// Services are found through environment variables that `make test` sets
// (scripts/test.sh starts a throwaway MinIO and timestamp-server and points
// them at them):
//
//	EXHIBIT_TEST_MINIO_ENDPOINT    host:port of a MinIO server (plain HTTP)
//	EXHIBIT_TEST_MINIO_ACCESS_KEY  its root user
//	EXHIBIT_TEST_MINIO_SECRET_KEY  its root password
//	EXHIBIT_TEST_COSIGN            path to a cosign binary
//	EXHIBIT_TEST_TSA               timestamp endpoint of a sigstore timestamp-server
//	                               (http://127.0.0.1:PORT/api/v1/timestamp)
//	EXHIBIT_TEST_CASE_VALIDATE     folder of the CASE/UCO SHACL check with its packages
//
// The rule, applied by [Required]: when a variable is missing, the test is
// skipped with a message that names `make test`, so a plain `go test ./...`
// still works on a bare machine. When CI=true, a missing variable fails the
// test instead: in CI, nothing that needs MinIO or cosign may skip silently.
// Under -short (`make check`, the fast loop) every test that needs a
// service or an outside program is skipped, present or not: those proofs
// are the slow part of the suite, and `make test` runs them.
//
// This package must not import anything else from this module.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Environment variables read by this package.
const (
	EnvMinIOEndpoint  = "EXHIBIT_TEST_MINIO_ENDPOINT"
	EnvMinIOAccessKey = "EXHIBIT_TEST_MINIO_ACCESS_KEY"
	EnvMinIOSecretKey = "EXHIBIT_TEST_MINIO_SECRET_KEY"
	EnvCosign         = "EXHIBIT_TEST_COSIGN"
	EnvTSA            = "EXHIBIT_TEST_TSA"
	EnvWarcio         = "EXHIBIT_TEST_WARCIO"
	EnvPostgres       = "EXHIBIT_TEST_POSTGRES"
	EnvCaseValidate   = "EXHIBIT_TEST_CASE_VALIDATE"
)

// InCI reports whether the tests run in CI (CI=true), where a missing service
// is a failure rather than a reason to skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// Required returns the value of the environment variable name, which the
// test needs for purpose (a few words, such as "a MinIO server").
//
// When the variable is unset or empty, Required stops the test: with
// t.Skip normally, so `go test ./...` works without the services, and with
// t.Fatal when CI=true, so CI never passes by skipping. Either way the
// message says to run the tests through `make test`, which provides them.
func Required(t testing.TB, name, purpose string) string {
	t.Helper()
	skipShort(t, purpose)
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	msg := "this test needs " + purpose + " but " + name + " is not set; run the tests with `make test`, which provides it"
	if InCI() {
		t.Fatal(msg + " (CI=true: tests needing outside services must not skip)")
		return ""
	}
	t.Skip(msg)
	return ""
}

// Postgres makes a database of the test's own on the test PostgreSQL
// server (scripts/postgres.sh; EXHIBIT_TEST_POSTGRES names its database
// exhibit) and returns its URL; the database is dropped when the test
// ends.
func Postgres(t testing.TB) string {
	t.Helper()
	base := Required(t, EnvPostgres, "a PostgreSQL server")
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvPostgres, err)
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("PostgreSQL at %s: %v", u.Host, err)
	}
	defer admin.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	name := "test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c, err := pgx.Connect(ctx, base); err == nil {
			c.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// S3Env is where a test MinIO server listens and how to log in to it.
type S3Env struct {
	// Endpoint is host:port, spoken to over plain HTTP.
	Endpoint  string
	AccessKey string
	SecretKey string
}

// MinIO returns the test MinIO server from the environment, following the
// skip-or-fail rule of [Required].
func MinIO(t testing.TB) S3Env {
	t.Helper()
	const purpose = "a MinIO server"
	return S3Env{
		Endpoint:  Required(t, EnvMinIOEndpoint, purpose),
		AccessKey: Required(t, EnvMinIOAccessKey, purpose),
		SecretKey: Required(t, EnvMinIOSecretKey, purpose),
	}
}

// Client returns a minio-go client for env, for tests that need to look at
// or tamper with a bucket behind a store's back.
func Client(t testing.TB, env S3Env) *minio.Client {
	t.Helper()
	c, err := minio.New(env.Endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(env.AccessKey, env.SecretKey, ""),
		MaxRetries: 2,
	})
	if err != nil {
		t.Fatalf("testenv: minio client for %s: %v", env.Endpoint, err)
	}
	return c
}

// NewBucket creates a bucket with a fresh unique name on env, with S3
// Object Lock when objectLock is true, and returns its name.
//
// At cleanup it removes every object version and then the bucket, best
// effort: objects under COMPLIANCE retention cannot be removed, by design.
// That is harmless, because the test MinIO keeps its data in a temporary
// folder that scripts/minio.sh deletes.
func NewBucket(t testing.TB, env S3Env, objectLock bool) string {
	t.Helper()
	c := Client(t, env)
	name := bucketName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.MakeBucket(ctx, name, minio.MakeBucketOptions{ObjectLocking: objectLock}); err != nil {
		t.Fatalf("testenv: create bucket %s on %s: %v", name, env.Endpoint, err)
	}
	t.Cleanup(func() { removeBucket(t, c, name) })
	return name
}

// bucketName makes a valid, unique S3 bucket name that hints at the test.
func bucketName(testName string) string {
	// "t-" + up to 38 characters of the test name + "-" + 16 hex digits:
	// at most 57 of the 63 characters S3 allows.
	var b strings.Builder
	b.WriteString("t-")
	dash := true
	for _, r := range strings.ToLower(testName) {
		if b.Len() >= 40 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case !dash:
			b.WriteByte('-')
			dash = true
		}
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:]) // crypto/rand.Read never fails
	return strings.TrimRight(b.String(), "-") + "-" + hex.EncodeToString(rnd[:])
}

func removeBucket(t testing.TB, c *minio.Client, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for up := range c.ListIncompleteUploads(ctx, name, "", true) {
		if up.Err == nil {
			_ = c.RemoveIncompleteUpload(ctx, name, up.Key)
		}
	}
	kept := 0
	for obj := range c.ListObjects(ctx, name, minio.ListObjectsOptions{Recursive: true, WithVersions: true}) {
		if obj.Err != nil {
			t.Logf("testenv: list bucket %s for cleanup: %v", name, obj.Err)
			return
		}
		err := c.RemoveObject(ctx, name, obj.Key, minio.RemoveObjectOptions{VersionID: obj.VersionID, GovernanceBypass: true})
		if err != nil {
			kept++
		}
	}
	if kept > 0 {
		// Retained objects (COMPLIANCE mode or legal hold) stay, by design.
		return
	}
	if err := c.RemoveBucket(ctx, name); err != nil {
		t.Logf("testenv: remove bucket %s: %v", name, err)
	}
}

// TSA returns the timestamp endpoint of the test timestamp authority from
// EXHIBIT_TEST_TSA, following the skip-or-fail rule of [Required]. It fails
// the test when the variable is not an http(s) URL; its certificate chain is
// served at the same URL + "/certchain".
func TSA(t testing.TB) string {
	t.Helper()
	u := Required(t, EnvTSA, "an RFC 3161 timestamp authority (timestamp-server)")
	if u == "" {
		return "" // skipped or failed already
	}
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		t.Fatalf("testenv: %s=%q is not an http(s) URL; run the tests with `make test`", EnvTSA, u)
		return ""
	}
	return u
}

// Cosign returns the path of the cosign binary from EXHIBIT_TEST_COSIGN,
// following the skip-or-fail rule of [Required]. It fails the test when the
// path does not name an executable file.
func Cosign(t testing.TB) string {
	t.Helper()
	p := Required(t, EnvCosign, "the cosign binary")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatalf("testenv: %s=%s: %v; run `make tools` to install cosign", EnvCosign, p, err)
		return ""
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		t.Fatalf("testenv: %s=%s is not an executable file; run `make tools` to install cosign", EnvCosign, p)
		return ""
	}
	return p
}

// CaseValidate returns the folder of the CASE/UCO SHACL check
// (scripts/case-validate, installed with its packages by scripts/tools.sh
// under .tools/case-validate) from EXHIBIT_TEST_CASE_VALIDATE, following
// the skip-or-fail rule of [Required].
func CaseValidate(t testing.TB) string {
	t.Helper()
	dir := Required(t, EnvCaseValidate, "the CASE/UCO SHACL check (scripts/case-validate)")
	if dir == "" {
		return ""
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		t.Fatalf("testenv: %s=%s: %v; run `make tools` to install it", EnvCaseValidate, dir, err)
	}
	return dir
}

// Warcio returns the path of warcio.js's dist/index.js (npm, installed by
// scripts/tools.sh under .tools/npm), for scripts/warc-check.mjs, following
// the skip-or-fail rule of [Required].
func Warcio(t testing.TB) string {
	t.Helper()
	p := Required(t, EnvWarcio, "warcio.js (npm) to check WARC files independently")
	if _, err := os.Stat(p); err != nil {
		msg := "warcio.js is not at " + p + " (" + EnvWarcio + "): run `make tools`"
		if InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// Program returns the path of the first of names found on PATH: an outside
// program from the Debian package pkg that a test needs, such as exiftool
// (libimage-exiftool-perl). Several names cover a program renamed between
// releases (heif-dec was heif-convert).
//
// When none is found, Program follows the skip-or-fail rule of [Required]:
// it skips the test, or fails it when CI=true. The message names the package
// and `make tools`, whose scripts/tools.sh installs it.
func Program(t testing.TB, pkg string, names ...string) string {
	t.Helper()
	skipShort(t, strings.Join(names, " or "))
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	msg := "this test needs " + strings.Join(names, " or ") + " (Debian package " + pkg + ") but it is not on PATH; run `make tools` (scripts/tools.sh installs it) or apt-get install " + pkg
	if InCI() {
		t.Fatal(msg + " (CI=true: tests needing outside programs must not skip)")
		return ""
	}
	t.Skip(msg)
	return ""
}

// short is testing.Short (a variable for this package's own tests of the
// rules, which must run in either mode).
var short = testing.Short

// skipShort skips a test that needs what (a service or an outside
// program) when tests run with -short.
func skipShort(t testing.TB, what string) {
	t.Helper()
	if short() {
		t.Skip("-short: this test needs " + what + "; make test runs it")
	}
}

// HeapPeak samples the heap in use every 10 ms until the function it
// returns is called, which reports the peak as the metric peak-heap-MiB:
// a benchmark's proof that memory stays flat in the size it handles.
func HeapPeak(b *testing.B) func() {
	done := make(chan struct{})
	var peak uint64
	var wg sync.WaitGroup
	wg.Go(func() {
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	}
}
