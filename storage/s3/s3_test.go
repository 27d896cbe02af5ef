package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/crc64nvme"
	"github.com/minio/minio-go/v7"

	"github.com/openexhibit/exhibit/internal/testenv"
	"github.com/openexhibit/exhibit/storage"
	"github.com/openexhibit/exhibit/storage/storagetest"
)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// openTest opens a store on a fresh bucket of the test MinIO, with the
// options changed by mod.
func openTest(t testing.TB, objectLock bool, mod func(*Options)) (*Store, testenv.S3Env) {
	t.Helper()
	env := testenv.MinIO(t)
	opts := Options{
		Endpoint:  env.Endpoint,
		AccessKey: env.AccessKey,
		SecretKey: env.SecretKey,
		Bucket:    testenv.NewBucket(t, env, objectLock),
		Prefix:    "evidence/case-1",
	}
	if mod != nil {
		mod(&opts)
	}
	s, err := Open(testCtx(t), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s, env
}

// smallParts sends content over 1 KiB through a temporary object, in
// parts of the smallest size, so that small tests reach multipart code.
func smallParts(o *Options) {
	o.PartSize = MinPartSize
	o.SmallObjectMax = 1 << 10
}

// wrapTransport remakes the client of s as Open does, with its HTTP
// transport wrapped by wrap.
func wrapTransport(t testing.TB, s *Store, wrap func(http.RoundTripper) http.RoundTripper) {
	t.Helper()
	c, err := newClient(s.opts, wrap)
	if err != nil {
		t.Fatal(err)
	}
	s.client, s.core = c, minio.Core{Client: c}
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, _ := openTest(t, false, nil)
		return s
	})
}

// TestConformanceSmallParts runs the suite with tiny thresholds, so that
// large objects go through multipart uploads and staging through temporary
// objects and server-side copies, on a bucket without a prefix.
func TestConformanceSmallParts(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, _ := openTest(t, false, func(o *Options) {
			smallParts(o)
			o.Prefix = ""
		})
		return s
	})
}

// TestConformanceVersioned runs the suite on an Object Lock bucket, which is
// always versioned: conditional writes must hold there too.
func TestConformanceVersioned(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, _ := openTest(t, true, func(o *Options) {
			o.PartSize = MinPartSize
			o.SmallObjectMax = 1 << 20
		})
		return s
	})
}

func TestObjectLock(t *testing.T) {
	s, env := openTest(t, true, func(o *Options) {
		o.PartSize = MinPartSize
		o.SmallObjectMax = 1 << 20
	})
	ctx := testCtx(t)
	caps, err := s.Capabilities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !caps.ObjectLock || !caps.Versioning {
		t.Fatalf("Capabilities() = %+v, want object lock and versioning", caps)
	}
	raw := testenv.Client(t, env)
	until := time.Now().Add(time.Hour).Truncate(time.Second).UTC()

	cases := []struct {
		name      string
		size      int64
		staged    bool
		retention storage.Retention
		legalHold bool
	}{
		{"compliance-and-hold", 100, false, storage.Retention{Mode: storage.Compliance, Until: until}, true},
		{"governance", 100, false, storage.Retention{Mode: storage.Governance, Until: until}, false},
		{"hold-only", 100, false, storage.Retention{}, true},
		{"multipart", 12 << 20, false, storage.Retention{Mode: storage.Compliance, Until: until}, true},
		{"staged-copy", 3 << 20, true, storage.Retention{Mode: storage.Compliance, Until: until}, true},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := storage.PutOptions{Size: c.size, Retention: c.retention, LegalHold: c.legalHold}
			var obj storage.Object
			var err error
			if c.staged {
				var st storage.Staged
				st, err = s.Stage(ctx, storagetest.Content(uint64(i), c.size), c.size)
				if err != nil {
					t.Fatal(err)
				}
				obj, err = st.Commit(ctx, c.name, opts)
			} else {
				obj, err = s.Put(ctx, c.name, storagetest.Content(uint64(i), c.size), opts)
			}
			if err != nil {
				t.Fatalf("write with retention: %v", err)
			}
			st, err := s.Stat(ctx, c.name)
			if err != nil {
				t.Fatal(err)
			}
			for what, o := range map[string]storage.Object{"written": obj, "Stat": st} {
				if o.Retention.Mode != c.retention.Mode || !o.Retention.Until.Equal(c.retention.Until) || o.LegalHold != c.legalHold {
					t.Errorf("%s object reports retention %+v hold %v, want %+v hold %v", what, o.Retention, o.LegalHold, c.retention, c.legalHold)
				}
				if o.VersionID == "" {
					t.Errorf("%s object has no version ID in a versioned bucket", what)
				}
			}
			// Deleting the protected version is refused, even with the
			// governance bypass, for all but governance-only objects.
			err = raw.RemoveObject(ctx, s.opts.Bucket, s.prefix+c.name, minio.RemoveObjectOptions{VersionID: obj.VersionID})
			if err == nil {
				t.Fatalf("RemoveObject of a retained version succeeded")
			}
			if c.retention.Mode == storage.Governance && !c.legalHold {
				if err := raw.RemoveObject(ctx, s.opts.Bucket, s.prefix+c.name, minio.RemoveObjectOptions{VersionID: obj.VersionID, GovernanceBypass: true}); err != nil {
					t.Fatalf("RemoveObject with governance bypass: %v", err)
				}
				return
			}
			err = raw.RemoveObject(ctx, s.opts.Bucket, s.prefix+c.name, minio.RemoveObjectOptions{VersionID: obj.VersionID, GovernanceBypass: true})
			if err == nil {
				t.Fatalf("RemoveObject with governance bypass of a compliance or held version succeeded")
			}
			if _, err := s.Stat(ctx, c.name); err != nil {
				t.Fatalf("after refused removals: %v", err)
			}
		})
	}
}

func TestRetentionNeedsObjectLock(t *testing.T) {
	s, _ := openTest(t, false, nil)
	ctx := testCtx(t)
	caps, err := s.Capabilities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if caps.ObjectLock {
		t.Fatalf("Capabilities() = %+v on a bucket without object lock", caps)
	}
	ret := storage.Retention{Mode: storage.Compliance, Until: time.Now().Add(time.Hour)}
	for _, opts := range []storage.PutOptions{{Size: -1, Retention: ret}, {Size: -1, LegalHold: true}} {
		_, err := s.Put(ctx, "k", strings.NewReader("v"), opts)
		if err == nil || !strings.Contains(err.Error(), "Object Lock") {
			t.Errorf("Put(%+v) on a bucket without object lock: error = %v, want a refusal naming Object Lock", opts, err)
		}
	}
	bad := []storage.PutOptions{
		{Size: -1, Retention: storage.Retention{Mode: "FOREVER", Until: time.Now().Add(time.Hour)}},
		{Size: -1, Retention: storage.Retention{Mode: storage.Compliance, Until: time.Now().Add(-time.Hour)}},
		{Size: -1, Retention: storage.Retention{Until: time.Now().Add(time.Hour)}},
	}
	for _, opts := range bad {
		if _, err := s.Put(ctx, "k", strings.NewReader("v"), opts); err == nil {
			t.Errorf("Put(%+v) succeeded, want an error", opts)
		}
	}
	if _, err := s.Stat(ctx, "k"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("refused Put left something: %v", err)
	}
}

// closedPort returns a 127.0.0.1 address on which nothing listens.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestOpenErrors(t *testing.T) {
	env := testenv.MinIO(t)
	bucket := testenv.NewBucket(t, env, false)
	base := Options{Endpoint: env.Endpoint, AccessKey: env.AccessKey, SecretKey: env.SecretKey, Bucket: bucket}
	cases := []struct {
		name  string
		mod   func(*Options)
		want  error
		hints []string
	}{
		{"unreachable", func(o *Options) { o.Endpoint = closedPort(t) }, storage.ErrUnavailable, []string{"running", "endpoint", "127.0.0.1:"}},
		{"wrong-secret", func(o *Options) { o.SecretKey += "x" }, storage.ErrDenied, []string{"access key", "secret key"}},
		{"unknown-user", func(o *Options) { o.AccessKey = "nobody" }, storage.ErrDenied, []string{"access key"}},
		{"missing-bucket", func(o *Options) { o.Bucket = "no-such-bucket-here" }, storage.ErrNotFound, []string{"exhibit init", "no-such-bucket-here"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := base
			c.mod(&opts)
			start := time.Now()
			_, err := Open(context.Background(), opts)
			if took := time.Since(start); took > 15*time.Second {
				t.Errorf("Open took %v, want a quick failure", took)
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("Open error = %v, want %v", err, c.want)
			}
			t.Logf("Open: %v", err)
			for _, h := range c.hints {
				if !strings.Contains(err.Error(), h) {
					t.Errorf("Open error %q does not mention %q", err, h)
				}
			}
		})
	}
}

func TestOptions(t *testing.T) {
	bad := []Options{
		{Bucket: "b"},
		{Endpoint: "http://127.0.0.1:9000", Bucket: "bucket"},
		{Endpoint: "127.0.0.1:9000", Bucket: "B_"},
		{Endpoint: "127.0.0.1:9000", Bucket: "bucket", Prefix: "a/../b"},
		{Endpoint: "127.0.0.1:9000", Bucket: "bucket", PartSize: 1 << 20},
		{Endpoint: "127.0.0.1:9000", Bucket: "bucket", SmallObjectMax: -1},
	}
	for _, o := range bad {
		if _, err := Open(context.Background(), o); err == nil {
			t.Errorf("Open(%+v) succeeded, want an error", o)
		}
	}
	o := Options{Endpoint: "127.0.0.1:9000", Bucket: "bucket", Prefix: "/a/b/"}
	if err := o.normalize(); err != nil {
		t.Fatal(err)
	}
	if o.Prefix != "a/b" || o.PartSize != DefaultPartSize || o.MaxRetries != DefaultMaxRetries || o.SmallObjectMax != DefaultSmallObjectMax {
		t.Errorf("normalize() = %+v", o)
	}
	s, err := newStore(o)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Location(); got != "s3://bucket/a/b" {
		t.Errorf("Location() = %q", got)
	}
	if name, _ := s.checkKey("put", "x/y"); name != "a/b/x/y" {
		t.Errorf("object name of x/y = %q, want a/b/x/y", name)
	}
	s.prefix = ""
	if name, _ := s.checkKey("put", "x/y"); name != "x/y" {
		t.Errorf("object name of x/y without prefix = %q, want x/y", name)
	}
}

func TestCreateBucket(t *testing.T) {
	env := testenv.MinIO(t)
	raw := testenv.Client(t, env)
	ctx := testCtx(t)
	suffix := fmt.Sprintf("%x", time.Now().UnixNano())
	opts := Options{Endpoint: env.Endpoint, AccessKey: env.AccessKey, SecretKey: env.SecretKey}

	plain, locked := "create-plain-"+suffix, "create-locked-"+suffix
	t.Cleanup(func() {
		raw.RemoveBucket(context.Background(), plain)
		raw.RemoveBucket(context.Background(), locked)
	})

	opts.Bucket = plain
	for range 2 { // idempotent
		if err := CreateBucket(ctx, opts, false); err != nil {
			t.Fatalf("CreateBucket: %v", err)
		}
	}
	err := CreateBucket(ctx, opts, true)
	if err == nil || !strings.Contains(err.Error(), "Object Lock") {
		t.Fatalf("CreateBucket with lock on a bucket without it: error = %v, want a clear refusal", err)
	}

	opts.Bucket = locked
	for range 2 {
		if err := CreateBucket(ctx, opts, true); err != nil {
			t.Fatalf("CreateBucket with lock: %v", err)
		}
	}
	s, err := Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	caps, err := s.Capabilities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !caps.ObjectLock {
		t.Fatalf("bucket made with lock reports %+v", caps)
	}

	opts.Endpoint = closedPort(t)
	if err := CreateBucket(ctx, opts, false); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("CreateBucket on a closed port: error = %v, want ErrUnavailable", err)
	}
}

// rawKeys lists every object name in the bucket, temporary ones included.
func rawKeys(t *testing.T, c *minio.Client, bucket string) []string {
	t.Helper()
	var names []string
	for oi := range c.ListObjectsIter(testCtx(t), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if oi.Err != nil {
			t.Fatal(oi.Err)
		}
		names = append(names, oi.Key)
	}
	return names
}

func TestLargeStage(t *testing.T) {
	s, env := openTest(t, false, func(o *Options) {
		o.PartSize = MinPartSize
		o.SmallObjectMax = 1 << 20
	})
	raw := testenv.Client(t, env)
	ctx := testCtx(t)
	const size = 12 << 20
	for _, announced := range []int64{size, -1} {
		t.Run(fmt.Sprint(announced), func(t *testing.T) {
			key := fmt.Sprintf("large-%d", announced)
			sum := sha256.New()
			st, err := s.Stage(ctx, io.TeeReader(storagetest.Content(5, size), sum), announced)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := st.(*tmpStaged); !ok {
				t.Fatalf("Stage of %d bytes with SmallObjectMax 1 MiB gave %T, want a temporary object", size, st)
			}
			names := rawKeys(t, raw, s.opts.Bucket)
			if len(names) != 1 || !strings.HasPrefix(names[0], s.prefix+".tmp/") {
				t.Fatalf("while staged, bucket holds %q, want one temporary object", names)
			}
			obj, err := st.Commit(ctx, key, storage.PutOptions{Size: size, SHA256: sum.Sum(nil)})
			if err != nil {
				t.Fatalf("Commit: %v", err)
			}
			if obj.Size != size {
				t.Errorf("Commit returned size %d", obj.Size)
			}
			if names := rawKeys(t, raw, s.opts.Bucket); len(names) != 1 || names[0] != s.prefix+key {
				t.Fatalf("after Commit, bucket holds %q, want only %q", names, s.prefix+key)
			}
			rc, err := s.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			got := sha256.New()
			if _, err := io.Copy(got, rc); err != nil {
				t.Fatalf("read back: %v", err)
			}
			rc.Close()
			if !bytes.Equal(got.Sum(nil), sum.Sum(nil)) {
				t.Fatalf("committed content differs from staged content")
			}
			if err := raw.RemoveObject(ctx, s.opts.Bucket, s.prefix+key, minio.RemoveObjectOptions{}); err != nil {
				t.Fatal(err)
			}
		})
	}
	if n := s.readBacks.Load(); n != 0 {
		t.Errorf("Commit read %d copies back; the part ETags should have vouched for them", n)
	}
}

// TestCopiedPartETags pins the server behaviour Commit relies on: a part
// copied from a range of an object gets the MD5 of the range's bytes as its
// ETag, just as an uploaded part does. So copying the parts of one upload
// reproduces their ETags, and copying other bytes does not.
func TestCopiedPartETags(t *testing.T) {
	s, env := openTest(t, false, smallParts)
	raw := testenv.Client(t, env)
	ctx := testCtx(t)
	const size = 2*MinPartSize + 1000
	stage := func(seed uint64) *tmpStaged {
		t.Helper()
		st, err := s.Stage(ctx, storagetest.Content(seed, size), size)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Discard(context.Background()) })
		return st.(*tmpStaged)
	}
	a, b := stage(1), stage(2)
	if len(a.w.parts) != 3 {
		t.Fatalf("staged %d bytes in %d parts of %d, want 3", size, len(a.w.parts), MinPartSize)
	}
	content, err := io.ReadAll(storagetest.Content(1, size))
	if err != nil {
		t.Fatal(err)
	}
	var off int64
	for i, p := range a.w.parts {
		sum := md5.Sum(content[off : off+p.size])
		if got, want := trimETag(p.etag), hex.EncodeToString(sum[:]); got != want {
			t.Errorf("uploaded part %d has ETag %s, want the MD5 of its bytes %s", i+1, got, want)
		}
		off += p.size
	}

	cases := []struct {
		name     string
		src      *tmpStaged
		wantSame bool
	}{
		{"same-bytes", a, true},
		{"other-bytes", b, false}, // b's bytes, checked against a's parts
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := a.w
			w.info.ETag = c.src.w.info.ETag // the precondition on the source
			dst := s.prefix + "copy-" + c.name
			info, same, err := s.copyOnce(ctx, c.src.name, w, dst, minio.PutObjectOptions{})
			if err != nil {
				t.Fatalf("copyOnce: %v", err)
			}
			if same != c.wantSame {
				t.Errorf("copyOnce reports same = %v, want %v", same, c.wantSame)
			}
			// What Commit does next: a mismatch is settled by reading the
			// copy back, and bytes that differ are refused and removed.
			before := s.readBacks.Load()
			_, err = s.confirmCopy(ctx, "copy-"+c.name, dst, info.VersionID, w, same)
			if c.wantSame {
				if err != nil {
					t.Fatalf("confirmCopy: %v", err)
				}
				if s.readBacks.Load() != before {
					t.Errorf("confirmCopy read the copy back although the ETags matched")
				}
				return
			}
			if !errors.Is(err, storage.ErrIntegrity) {
				t.Fatalf("confirmCopy of other bytes: error = %v, want ErrIntegrity", err)
			}
			if s.readBacks.Load() != before+1 {
				t.Errorf("confirmCopy did not read the copy back")
			}
			if _, err := raw.StatObject(ctx, s.opts.Bucket, dst, minio.StatObjectOptions{}); errCode(err) != "NoSuchKey" {
				t.Errorf("the refused copy is still there: %v", err)
			}
		})
	}
}

// failingTransport fails the nth request that uploads a part.
type failingTransport struct {
	http.RoundTripper
	n     int32
	count atomic.Int32
}

func (f *failingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && req.URL.Query().Get("partNumber") != "" && f.count.Add(1) == f.n {
		return nil, errors.New("connection reset by test")
	}
	return f.RoundTripper.RoundTrip(req)
}

// TestPartFails checks that a part that cannot be sent, while others are in
// flight, fails the write and leaves neither object nor upload behind.
func TestPartFails(t *testing.T) {
	s, env := openTest(t, false, func(o *Options) {
		smallParts(o)
		o.MaxRetries = 1
		o.Concurrency = 3
	})
	raw := testenv.Client(t, env)
	ctx := testCtx(t)
	ft := &failingTransport{n: 3}
	wrapTransport(t, s, func(tr http.RoundTripper) http.RoundTripper { ft.RoundTripper = tr; return ft })

	const size = 6 * MinPartSize
	_, err := s.Put(ctx, "k", storagetest.Content(1, size), storage.PutOptions{Size: size})
	if err == nil || !strings.Contains(err.Error(), "connection reset by test") {
		t.Fatalf("Put with a failing part: error = %v, want the part's error", err)
	}
	ft.count.Store(0)
	st, err := s.Stage(ctx, storagetest.Content(1, size), size)
	if err == nil {
		st.Discard(ctx)
		t.Fatalf("Stage with a failing part succeeded")
	}
	if names := rawKeys(t, raw, s.opts.Bucket); len(names) != 0 {
		t.Fatalf("after failed writes, bucket holds %q, want nothing", names)
	}
	for up := range raw.ListIncompleteUploads(ctx, s.opts.Bucket, "", true) {
		t.Errorf("after failed writes, upload of %s is left (err %v)", up.Key, up.Err)
	}
}

// TestStagedObjectChanged checks that a temporary object replaced behind the
// store's back is not committed, and that the refusal is not mistaken for
// "key exists" (both are 412 answers from the server).
func TestStagedObjectChanged(t *testing.T) {
	s, env := openTest(t, false, smallParts)
	raw := testenv.Client(t, env)
	ctx := testCtx(t)
	st, err := s.Stage(ctx, storagetest.Content(1, 8<<10), -1)
	if err != nil {
		t.Fatal(err)
	}
	tmp := st.(*tmpStaged)
	if _, err := raw.PutObject(ctx, s.opts.Bucket, tmp.name, strings.NewReader("forged"), 6, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = st.Commit(ctx, "k", storage.PutOptions{Size: -1})
	if !errors.Is(err, storage.ErrIntegrity) || errors.Is(err, storage.ErrExists) {
		t.Fatalf("Commit of a replaced temporary object: error = %v, want ErrIntegrity", err)
	}
	if _, err := s.Stat(ctx, "k"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("after refused Commit, Stat = %v, want ErrNotFound", err)
	}
	if names := rawKeys(t, raw, s.opts.Bucket); len(names) != 0 {
		t.Fatalf("after refused Commit, bucket holds %q, want nothing", names)
	}
}

// TestHugeAnnouncedSize: a size no S3 object can have is refused before
// anything is allocated for it or sent, for Put and for Stage.
func TestHugeAnnouncedSize(t *testing.T) {
	s, env := openTest(t, false, nil)
	raw := testenv.Client(t, env)
	ctx := testCtx(t)
	for _, size := range []int64{maxObject + 1, 1 << 62} {
		_, err := s.Put(ctx, "k", strings.NewReader("small"), storage.PutOptions{Size: size})
		if !errors.Is(err, storage.ErrIntegrity) || !strings.Contains(err.Error(), "over the") {
			t.Errorf("Put announcing %d bytes: %v, want ErrIntegrity saying the limit", size, err)
		}
		if _, err := s.Stage(ctx, strings.NewReader("small"), size); !errors.Is(err, storage.ErrIntegrity) {
			t.Errorf("Stage announcing %d bytes: %v, want ErrIntegrity", size, err)
		}
	}
	if names := rawKeys(t, raw, s.opts.Bucket); len(names) != 0 {
		t.Errorf("after refused writes, bucket holds %q, want nothing", names)
	}
}

func TestCleanupStale(t *testing.T) {
	s, env := openTest(t, false, smallParts)
	raw := testenv.Client(t, env)
	core := minio.Core{Client: raw}
	ctx := testCtx(t)

	// What a crash leaves: a staged temporary object and an unfinished upload.
	st, err := s.Stage(ctx, storagetest.Content(1, 4<<10), -1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.NewMultipartUpload(ctx, s.opts.Bucket, s.prefix+"unfinished", minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "kept", strings.NewReader("evidence"), storage.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	uploads := func() int {
		n := 0
		for up := range raw.ListIncompleteUploads(ctx, s.opts.Bucket, "", true) {
			if up.Err != nil {
				t.Fatal(up.Err)
			}
			n++
		}
		return n
	}

	if err := s.CleanupStale(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if n, u := len(rawKeys(t, raw, s.opts.Bucket)), uploads(); n != 2 || u != 1 {
		t.Fatalf("CleanupStale(1h) left %d objects and %d uploads, want 2 and 1 (nothing is that old)", n, u)
	}
	time.Sleep(1100 * time.Millisecond) // server times have one-second resolution
	// Through a decorator, as the archive calls it: the cleanup is found.
	if err := storage.CleanupStale(ctx, storagetest.Wrap(s), 0); err != nil {
		t.Fatal(err)
	}
	if names, u := rawKeys(t, raw, s.opts.Bucket), uploads(); len(names) != 1 || names[0] != s.prefix+"kept" || u != 0 {
		t.Fatalf("CleanupStale(0) left %q and %d uploads, want only the kept object", names, u)
	}
	if err := st.Discard(ctx); err != nil {
		t.Fatalf("Discard of a cleaned-up temporary object: %v", err)
	}
}

// TestWrappedSwap: the custody log's compare-and-swap on MinIO is found
// through a decorator that knows nothing of it.
func TestWrappedSwap(t *testing.T) {
	s, _ := openTest(t, false, nil)
	ctx := testCtx(t)
	ss, ok := storage.Swapping(storagetest.Wrap(s))
	if !ok {
		t.Fatal("storage.Swapping(wrapped S3 store): no Swapper found")
	}
	v, err := ss.Swap(ctx, "log/checkpoint", storage.NoVersion, []byte("c1"), storage.SwapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ss.Swap(ctx, "log/checkpoint", storage.NoVersion, []byte("c2"), storage.SwapOptions{}); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("second create through the wrapper: %v, want ErrConflict", err)
	}
	data, got, err := ss.Load(ctx, "log/checkpoint", 64)
	if err != nil || string(data) != "c1" || got != v {
		t.Fatalf("Load: %q at %q, %v; want c1 at %q", data, got, err, v)
	}
}

func TestVerifyingReader(t *testing.T) {
	content := []byte("evidence bytes")
	good := crcString(crc64nvme.Checksum(content))
	cases := []struct {
		name string
		size int64
		want string
		err  error
	}{
		{"good", int64(len(content)), good, nil},
		{"no-checksum", int64(len(content)), "", nil},
		{"bad-checksum", int64(len(content)), crcString(1), storage.ErrIntegrity},
		{"short", int64(len(content)) + 1, good, io.ErrUnexpectedEOF},
		{"long", int64(len(content)) - 1, good, storage.ErrIntegrity},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := &verifyingReader{rc: io.NopCloser(bytes.NewReader(content)), key: "k", size: c.size, want: c.want}
			if c.want != "" {
				v.crc = crc64nvme.New()
			}
			_, err := io.ReadAll(v)
			if c.err == nil && err != nil || c.err != nil && !errors.Is(err, c.err) {
				t.Fatalf("ReadAll error = %v, want %v", err, c.err)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		err  error
		want error
	}{
		{minio.ErrorResponse{Code: "NoSuchKey", StatusCode: 404}, storage.ErrNotFound},
		{minio.ErrorResponse{Code: "NoSuchBucket", StatusCode: 404}, storage.ErrNotFound},
		{minio.ErrorResponse{Code: "AccessDenied", StatusCode: 403}, storage.ErrDenied},
		{minio.ErrorResponse{Code: "SignatureDoesNotMatch", StatusCode: 403}, storage.ErrDenied},
		{minio.ErrorResponse{Code: "InvalidAccessKeyId", StatusCode: 403}, storage.ErrDenied},
		{minio.ErrorResponse{Code: "InvalidRequest", Message: "Object is WORM protected and cannot be overwritten", StatusCode: 400}, storage.ErrDenied},
		{minio.ErrorResponse{Code: "XMinioStorageFull", StatusCode: 507}, storage.ErrFull},
		{minio.ErrorResponse{Code: "Whatever", Message: "Storage backend has reached its minimum free drive threshold. Please delete a few objects to proceed.", StatusCode: 500}, storage.ErrFull},
		{minio.ErrorResponse{Code: "XMinioAdminBucketQuotaExceeded", StatusCode: 400}, storage.ErrFull},
		{minio.ErrorResponse{Code: "EntityTooLarge", Message: "bucket quota exceeded", StatusCode: 400}, storage.ErrFull},
		{minio.ErrorResponse{Code: "EntityTooLarge", Message: "Your proposed upload exceeds the maximum allowed object size.", StatusCode: 400}, nil},
		{minio.ErrorResponse{Code: "XAmzContentChecksumMismatch", StatusCode: 400}, storage.ErrIntegrity},
		{minio.ErrorResponse{Code: "SlowDownWrite", StatusCode: 503}, storage.ErrUnavailable},
		{minio.ErrorResponse{Code: "PreconditionFailed", StatusCode: 412}, nil},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, storage.ErrUnavailable},
		{fmt.Errorf("put: %w", context.DeadlineExceeded), storage.ErrUnavailable},
		{fmt.Errorf("put: %w", context.Canceled), nil},
		{errors.New("something else"), nil},
	}
	for _, c := range cases {
		if got := classify(c.err); got != c.want {
			t.Errorf("classify(%v) = %v, want %v", c.err, got, c.want)
		}
		wrapped := wrapErr("put", "k", fmt.Errorf("layer: %w", c.err))
		if c.want != nil && !errors.Is(wrapped, c.want) {
			t.Errorf("wrapErr(%v) = %v, does not wrap %v", c.err, wrapped, c.want)
		}
		if !errors.Is(wrapped, c.err) && !strings.Contains(wrapped.Error(), c.err.Error()) {
			t.Errorf("wrapErr(%v) = %v lost the cause", c.err, wrapped)
		}
	}
}

// corruptingTransport flips one byte in the body of every upload (object
// PUT or part), as a faulty network or proxy would.
type corruptingTransport struct {
	http.RoundTripper
	corrupted atomic.Int32
}

func (c *corruptingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && req.Body != nil && req.ContentLength > 100 && req.Header.Get("X-Amz-Copy-Source") == "" {
		c.corrupted.Add(1)
		req.Body = &flipReader{rc: req.Body, at: 100}
		req.GetBody = nil // no retry with the true bytes
	}
	return c.RoundTripper.RoundTrip(req)
}

type flipReader struct {
	rc  io.ReadCloser
	at  int64
	off int64
}

func (f *flipReader) Read(p []byte) (int, error) {
	n, err := f.rc.Read(p)
	if f.at >= f.off && f.at < f.off+int64(n) {
		p[f.at-f.off] ^= 1
	}
	f.off += int64(n)
	return n, err
}

func (f *flipReader) Close() error { return f.rc.Close() }

// TestCorruptedOnTheWire checks that the server refuses bytes changed in
// transit, in a single PUT and in a multipart upload: the payload is sent
// unsigned, so the CRC64NVME checksum header is what catches it.
func TestCorruptedOnTheWire(t *testing.T) {
	s, env := openTest(t, false, func(o *Options) {
		smallParts(o)
		o.MaxRetries = 1
	})
	raw := testenv.Client(t, env)
	ctx := testCtx(t)
	ct := &corruptingTransport{}
	wrapTransport(t, s, func(tr http.RoundTripper) http.RoundTripper { ct.RoundTripper = tr; return ct })
	for _, size := range []int64{64 << 10, 3 * MinPartSize} {
		before := ct.corrupted.Load()
		_, err := s.Put(ctx, fmt.Sprintf("k%d", size), storagetest.Content(1, size), storage.PutOptions{Size: size})
		if !errors.Is(err, storage.ErrIntegrity) {
			t.Errorf("Put of %d bytes corrupted in transit: error = %v, want ErrIntegrity", size, err)
		}
		if ct.corrupted.Load() == before {
			t.Fatalf("Put of %d bytes: no upload went through the corrupting transport", size)
		}
	}
	if names := rawKeys(t, raw, s.opts.Bucket); len(names) != 0 {
		t.Fatalf("after corrupted writes, bucket holds %q, want nothing", names)
	}
}
