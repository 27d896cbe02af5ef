package cli_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"filippo.io/age"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/openexhibit/exhibit/cli"
	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/internal/testenv"
	"github.com/rogpeppe/go-internal/testscript"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"golang.org/x/mod/sumdb/note"
)

// The scripts in testdata run the exhibit command as a user would: each
// "exec exhibit …" starts this test binary as the exhibit program.
// Scripts that test neither passphrases nor key files init with
// --insecure-no-password: decrypting a cosign key (scrypt) costs about 0.3 s
// per command, and seconds with -race, twice per command.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"exhibit": func() { os.Exit(cli.Main()) },
	})
}

func params(dir string, setup func(*testscript.Env) error) testscript.Params {
	return testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		UpdateScripts:       os.Getenv("UPDATE_SCRIPTS") != "",
		Setup: func(e *testscript.Env) error {
			e.Setenv("EXHIBIT_HOME", filepath.Join(e.WorkDir, "exhibit"))
			e.Setenv("HOME", filepath.Join(e.WorkDir, "home"))
			// Real image fixtures of the capture packages.
			fixtures, err := filepath.Abs(filepath.Join("..", "capture"))
			if err != nil {
				return err
			}
			e.Setenv("FIXTURES", fixtures)
			if setup != nil {
				return setup(e)
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"code":       cmdCode,
			"flip":       cmdFlip,
			"itemid":     cmdItemID,
			"countfiles": cmdCountFiles,
			"s3":         cmdS3,
			"mkfile":     cmdMkfile,
			"kmskey":     cmdKMSKey,
			"agekey":     cmdAgeKey,
			"reckey":     cmdRecKey,
			"waitgrow":   cmdWaitGrow,
			"stamps":     cmdStamps,
			"tsaproxy":   cmdTSAProxy,
			"clobber":    cmdClobber,
			"logsize":    cmdLogSize,
			"forgecp":    cmdForgeCheckpoint,
			"logvkey":    cmdLogVKey,
			"jsonset":    cmdJSONSet,
			"rewrite":    cmdRewrite,
			"mkname":     cmdMkname,
			"zipdir":     cmdZipdir,
		},
	}
}

// TestScripts runs the scripts that need nothing but the exhibit program.
func TestScripts(t *testing.T) {
	testscript.Run(t, params("testdata/script", nil))
}

// TestScriptsS3 runs the scripts that use a real MinIO.
func TestScriptsS3(t *testing.T) {
	env := testenv.MinIO(t)
	testscript.Run(t, params("testdata/s3", func(e *testscript.Env) error {
		e.Setenv("EXHIBIT_S3_ENDPOINT", env.Endpoint)
		e.Setenv("EXHIBIT_S3_ACCESS_KEY", env.AccessKey)
		e.Setenv("EXHIBIT_S3_SECRET_KEY", env.SecretKey)
		e.Setenv("EXHIBIT_S3_INSECURE_HTTP", "true")
		// One bucket per script, so scripts cannot see each other's objects.
		e.Setenv("BUCKET", fmt.Sprintf("script-%d-%x", os.Getpid(), rand.Uint64()))
		return nil
	}))
}

// TestScriptsCosign runs the scripts that check our bundles with the real
// cosign binary, including bundles signed through a KMS plugin.
func TestScriptsCosign(t *testing.T) {
	cosign := testenv.Cosign(t)
	plugins := buildKMSPlugin(t)
	testscript.Run(t, params("testdata/cosign", func(e *testscript.Env) error {
		e.Setenv("COSIGN", cosign)
		e.Setenv("PATH", plugins+string(os.PathListSeparator)+e.Getenv("PATH"))
		return nil
	}))
}

// TestScriptsTSA runs the scripts that timestamp with the real
// timestamp-server and check the timestamps with exhibit and cosign.
func TestScriptsTSA(t *testing.T) {
	cosign := testenv.Cosign(t)
	tsa := testenv.TSA(t)
	testscript.Run(t, params("testdata/tsa", func(e *testscript.Env) error {
		e.Setenv("COSIGN", cosign)
		e.Setenv("TSA", tsa)
		return nil
	}))
}

// stamps DST [SRC] replaces the RFC 3161 timestamps of bundle DST with those
// of bundle SRC, or removes them.
func cmdStamps(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: stamps dst.json [src.json]")
	}
	load := func(p string) map[string]any {
		data, err := os.ReadFile(ts.MkAbs(p))
		ts.Check(err)
		var m map[string]any
		ts.Check(json.Unmarshal(data, &m))
		return m
	}
	dst := load(args[0])
	vm := dst["verificationMaterial"].(map[string]any)
	delete(vm, "timestampVerificationData")
	if len(args) == 2 {
		vm["timestampVerificationData"] = load(args[1])["verificationMaterial"].(map[string]any)["timestampVerificationData"]
	}
	out, err := json.Marshal(dst)
	ts.Check(err)
	p := ts.MkAbs(args[0])
	os.Chmod(p, 0o644)
	ts.Check(os.WriteFile(p, out, 0o644))
}

// tsaproxy start VAR | tsaproxy stop: a loopback proxy to the test TSA whose
// URL goes into $VAR, so that a script can take "its" TSA down.
func cmdTSAProxy(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: tsaproxy start VAR | tsaproxy stop")
	}
	switch args[0] {
	case "start":
		target, err := url.Parse(ts.Getenv("TSA"))
		ts.Check(err)
		target.Path = ""
		srv := httptest.NewServer(httputil.NewSingleHostReverseProxy(target))
		proxies.Store(ts, srv)
		ts.Defer(srv.Close)
		ts.Setenv(args[1], srv.URL+"/api/v1/timestamp")
	case "stop":
		srv, ok := proxies.Load(ts)
		if !ok {
			ts.Fatalf("tsaproxy: none started")
		}
		srv.(*httptest.Server).Close()
	default:
		ts.Fatalf("tsaproxy: unknown verb %s", args[0])
	}
}

var proxies sync.Map // *testscript.TestScript -> *httptest.Server

// buildKMSPlugin builds the test KMS plugin (sigstore-kms-exhibittest) and
// returns the folder that holds it.
func buildKMSPlugin(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "sigstore-kms-exhibittest"),
		"github.com/openexhibit/exhibit/internal/cmd/sigstore-kms-exhibittest")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build KMS plugin: %v\n%s", err, out)
	}
	return dir
}

// code N PROGRAM ARGS... runs a program and checks its exit code.
func cmdCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: code N program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("code: %v", err)
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		got = ee.ExitCode()
	} else if err != nil {
		ts.Fatalf("code: %v", err)
	}
	if got != want {
		ts.Fatalf("exit code %d, want %d", got, want)
	}
}

// flip FILE OFFSET flips the lowest bit of one byte (negative: from the end).
func cmdFlip(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: flip file offset")
	}
	p := ts.MkAbs(args[0])
	off, _ := strconv.Atoi(args[1])
	os.Chmod(p, 0o644)
	data, err := os.ReadFile(p)
	ts.Check(err)
	if off < 0 {
		off += len(data)
	}
	data[off] ^= 1
	ts.Check(os.WriteFile(p, data, 0o644))
}

// itemid FILE VAR sets VAR to the file's item ID, VAR_HEX to its hex and
// VAR_OBJ to the key of its archived original.
func cmdItemID(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: itemid file var")
	}
	data, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	d := hashing.Bytes(data).SHA256
	ts.Setenv(args[1], d.String())
	ts.Setenv(args[1]+"_HEX", d.Hex())
	ts.Setenv(args[1]+"_OBJ", "objects/sha256/"+d.Hex()[:2]+"/"+d.Hex())
}

// countfiles DIR N checks the number of regular files under DIR, not
// counting the local store's compare-and-swap lock files (.tmp/swap-*.lock,
// which hold no data and stay once the custody log exists).
func cmdCountFiles(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: countfiles dir n")
	}
	n := 0
	filepath.WalkDir(ts.MkAbs(args[0]), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && !(strings.HasPrefix(d.Name(), "swap-") && strings.HasSuffix(d.Name(), ".lock")) {
			n++
		}
		return nil
	})
	want, _ := strconv.Atoi(args[1])
	if (n == want) == neg {
		ts.Fatalf("%s holds %d files, want %s%d", args[0], n, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

// waitgrow DIR BYTES waits (up to a minute) until a file under DIR holds at
// least BYTES bytes: an ingest is then in the middle of staging.
func cmdWaitGrow(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitgrow dir bytes")
	}
	want, err := strconv.ParseInt(args[1], 10, 64)
	ts.Check(err)
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		found := false
		filepath.WalkDir(ts.MkAbs(args[0]), func(_ string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if fi, err := d.Info(); err == nil && fi.Size() >= want {
					found = true
				}
			}
			return nil
		})
		if found {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	ts.Fatalf("no file under %s reached %d bytes within a minute", args[0], want)
}

// kmskey FILE writes an unencrypted ECDSA P-256 key for the test KMS plugin.
func cmdKMSKey(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: kmskey file")
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	ts.Check(err)
	pemBytes, err := cryptoutils.MarshalPrivateKeyToPEM(k)
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), pemBytes, 0o600))
}

// agekey FILE VAR writes a new age identity file (as age-keygen does) and
// sets VAR to its recipient.
func cmdAgeKey(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: agekey file var")
	}
	id, err := age.GenerateX25519Identity()
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte("# public key: "+id.Recipient().String()+"\n"+id.String()+"\n"), 0o600))
	ts.Setenv(args[1], id.Recipient().String())
}

// reckey ARCHIVE ITEM_HEX original|metadata|derivative VAR sets VAR to the
// key the item's record gives for that object (the first derivative's).
func cmdRecKey(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: reckey archive item-hex original|metadata|derivative var")
	}
	data, err := os.ReadFile(filepath.Join(ts.MkAbs(args[0]), "items", args[1], "record.json"))
	ts.Check(err)
	var st custody.Statement
	ts.Check(json.Unmarshal(data, &st))
	r := st.Predicate
	switch args[2] {
	case "original":
		ts.Setenv(args[3], r.Original.Key)
	case "metadata":
		ts.Setenv(args[3], r.Metadata.Key)
	case "derivative":
		if len(r.Derivatives) == 0 {
			ts.Fatalf("the record has no derivatives")
		}
		ts.Setenv(args[3], r.Derivatives[0].Key)
	default:
		ts.Fatalf("reckey: unknown object %q", args[2])
	}
}

// mkfile FILE SIZE writes SIZE pseudo-random bytes (suffix k, m for KiB, MiB).
func cmdMkfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: mkfile file size")
	}
	mult := 1
	n := args[1]
	switch {
	case strings.HasSuffix(n, "k"):
		mult, n = 1<<10, strings.TrimSuffix(n, "k")
	case strings.HasSuffix(n, "m"):
		mult, n = 1<<20, strings.TrimSuffix(n, "m")
	}
	size, err := strconv.Atoi(n)
	ts.Check(err)
	data := make([]byte, (size*mult+7)/8*8)
	r := rand.New(rand.NewPCG(uint64(size), 7))
	for i := 0; i < len(data); i += 8 {
		binary.LittleEndian.PutUint64(data[i:], r.Uint64())
	}
	data = data[:size*mult]
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), data, 0o644))
}

// s3 get KEY FILE | put KEY FILE | rm KEY | flip KEY OFFSET | [!] exists KEY |
// locked PREFIX N | pointee KEY VAR, on $BUCKET,
// with raw S3 access (what an attacker with the store's credentials has).
func cmdS3(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || (neg && args[0] != "exists") {
		ts.Fatalf("usage: s3 get|put|rm|flip|exists|locked key [file|offset|versions]")
	}
	c, err := minio.New(ts.Getenv("EXHIBIT_S3_ENDPOINT"), &minio.Options{
		Creds: credentials.NewStaticV4(ts.Getenv("EXHIBIT_S3_ACCESS_KEY"), ts.Getenv("EXHIBIT_S3_SECRET_KEY"), "")})
	ts.Check(err)
	ctx, bucket, key := context.Background(), ts.Getenv("BUCKET"), args[1]
	get := func() []byte {
		o, err := c.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
		ts.Check(err)
		defer o.Close()
		var buf bytes.Buffer
		_, err = buf.ReadFrom(o)
		ts.Check(err)
		return buf.Bytes()
	}
	put := func(data []byte) {
		_, err := c.PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
		ts.Check(err)
	}
	switch args[0] {
	case "exists":
		_, err := c.StatObject(ctx, bucket, key, minio.StatObjectOptions{})
		if found := err == nil; found == neg {
			ts.Fatalf("s3 exists %s: found %v (%v)", key, found, err)
		}
	case "get":
		ts.Check(os.WriteFile(ts.MkAbs(args[2]), get(), 0o644))
	case "put":
		data, err := os.ReadFile(ts.MkAbs(args[2]))
		ts.Check(err)
		put(data)
	case "rm":
		ts.Check(c.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{}))
	case "locked":
		// Every version of every object under the prefix key (at least
		// args[2] versions) is under retention, and deleting it for good is
		// refused.
		want, err := strconv.Atoi(args[2])
		ts.Check(err)
		n := 0
		for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: key, WithVersions: true}) {
			ts.Check(o.Err)
			if o.IsDeleteMarker {
				continue
			}
			n++
			mode, until, err := c.GetObjectRetention(ctx, bucket, o.Key, o.VersionID)
			if err != nil || mode == nil || !until.After(time.Now()) {
				ts.Fatalf("s3 locked %s: version %s has no retention in force (%v, %v, %v)", o.Key, o.VersionID, mode, until, err)
			}
			if err := c.RemoveObject(ctx, bucket, o.Key, minio.RemoveObjectOptions{VersionID: o.VersionID}); err == nil {
				ts.Fatalf("s3 locked %s: version %s was deleted", o.Key, o.VersionID)
			}
		}
		if n < want {
			ts.Fatalf("s3 locked %s: %d versions, want at least %d", key, n, want)
		}
	case "pointee":
		// The upload key the pointer at key names, as "<prefix>/<key>",
		// into the variable args[2].
		p, err := custody.ParsePointer(get())
		ts.Check(err)
		prefix, _, _ := strings.Cut(key, "/objects/")
		ts.Setenv(args[2], prefix+"/"+p.Key)
	case "flip":
		data := get()
		off, _ := strconv.Atoi(args[2])
		data[off] ^= 1
		put(data)
	default:
		ts.Fatalf("s3: unknown verb %s", args[0])
	}
}

// clobber SRC DST overwrites DST (even a read-only archive file) with SRC.
func cmdClobber(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: clobber src dst")
	}
	data, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	p := ts.MkAbs(args[1])
	os.Chmod(p, 0o644)
	ts.Check(os.WriteFile(p, data, 0o644))
}

// logsize ARCHIVE VAR sets VAR to the size of the archive folder's custody
// log checkpoint (its second line), and VAR_PAD to it in 20 digits (as in
// the log's keys).
func cmdLogSize(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: logsize archive var")
	}
	data, err := os.ReadFile(ts.MkAbs(filepath.Join(args[0], "log", "checkpoint")))
	ts.Check(err)
	lines := strings.Split(string(data), "\n")
	if len(lines) < 2 {
		ts.Fatalf("logsize: malformed checkpoint")
	}
	ts.Setenv(args[1], lines[1])
	ts.Setenv(args[1]+"_PAD", strings.Repeat("0", 20-len(lines[1]))+lines[1])
}

// logvkey TRUSTFILE VAR sets VAR to the verifier key of the first custody
// log the trust file lists.
func cmdLogVKey(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: logvkey trust.json var")
	}
	data, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	var tf struct {
		Logs []struct {
			VerifierKey string `json:"verifierKey"`
		} `json:"logs"`
	}
	ts.Check(json.Unmarshal(data, &tf))
	if len(tf.Logs) == 0 {
		ts.Fatalf("logvkey: no logs in %s", args[0])
	}
	ts.Setenv(args[1], tf.Logs[0].VerifierKey)
}

// forgecp FILE re-signs the checkpoint FILE with a new key of the same
// name (the origin): a checkpoint no trusted log key signed.
func cmdForgeCheckpoint(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: forgecp checkpoint")
	}
	p := ts.MkAbs(args[0])
	data, err := os.ReadFile(p)
	ts.Check(err)
	body, _, ok := strings.Cut(string(data), "\n\n")
	if !ok {
		ts.Fatalf("forgecp: malformed checkpoint")
	}
	origin, _, _ := strings.Cut(body, "\n")
	skey, _, err := note.GenerateKey(crand.Reader, origin)
	ts.Check(err)
	signer, err := note.NewSigner(skey)
	ts.Check(err)
	msg, err := note.Sign(&note.Note{Text: body + "\n"}, signer)
	ts.Check(err)
	os.Chmod(p, 0o644)
	ts.Check(os.WriteFile(p, msg, 0o644))
}

// cmdJSONSet sets (or with the value "-" deletes) a field of a JSON object
// file and writes the file back re-encoded: jsonset FILE PATH VALUE, PATH
// dot-separated field names, VALUE a JSON value.
func cmdJSONSet(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: jsonset file path value|-")
	}
	p := ts.MkAbs(args[0])
	data, err := os.ReadFile(p)
	ts.Check(err)
	var root map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	ts.Check(dec.Decode(&root))
	obj, names := root, strings.Split(args[1], ".")
	for _, n := range names[:len(names)-1] {
		next, ok := obj[n].(map[string]any)
		if !ok {
			ts.Fatalf("jsonset: %s: no object %q", args[0], n)
		}
		obj = next
	}
	last := names[len(names)-1]
	if args[2] == "-" {
		delete(obj, last)
	} else {
		var v any
		ts.Check(json.Unmarshal([]byte(args[2]), &v))
		obj[last] = v
	}
	out, err := json.Marshal(root)
	ts.Check(err)
	os.Chmod(p, 0o644)
	ts.Check(os.WriteFile(p, out, 0o644))
}

// cmdRewrite overwrites the last bytes of a file in place, keeping its size,
// and sets its modification time back: rewrite FILE.
func cmdRewrite(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: rewrite file")
	}
	p := ts.MkAbs(args[0])
	fi, err := os.Stat(p)
	ts.Check(err)
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	ts.Check(err)
	_, err = f.WriteAt([]byte("rewritten in place"), fi.Size()-18)
	ts.Check(err)
	ts.Check(f.Close())
	ts.Check(os.Chtimes(p, fi.ModTime(), fi.ModTime()))
}

// cmdMkname makes names/<a hostile name>: a newline that starts a forged
// verdict line, a terminal escape, BEL and a byte that is not UTF-8.
func cmdMkname(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: mkname")
	}
	dir := ts.MkAbs("names")
	ts.Check(os.MkdirAll(dir, 0o755))
	ts.Check(os.WriteFile(filepath.Join(dir, "evil\nverdict: INTACT\x1b[2J\a\xff"), []byte("hostile name"), 0o644))
}

// zipdir DIR OUT zips DIR's files (names relative to DIR, in order) into OUT.
func cmdZipdir(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: zipdir dir out")
	}
	root := ts.MkAbs(args[0])
	out, err := os.Create(ts.MkAbs(args[1]))
	ts.Check(err)
	zw := zip.NewWriter(out)
	ts.Check(filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		w, err := zw.Create(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil {
			_, err = w.Write(b)
		}
		return err
	}))
	ts.Check(zw.Close())
	ts.Check(out.Close())
}
