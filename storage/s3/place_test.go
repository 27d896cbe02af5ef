package s3

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/openexhibit/exhibit/internal/testenv"
	"github.com/openexhibit/exhibit/storage"
	"github.com/openexhibit/exhibit/storage/storagetest"
)

// versions lists every object version in the bucket (delete markers
// included) as "key" or "key (delete marker)".
func versions(t *testing.T, c *minio.Client, bucket string) []string {
	t.Helper()
	var out []string
	for oi := range c.ListObjectsIter(testCtx(t), bucket, minio.ListObjectsOptions{Recursive: true, WithVersions: true}) {
		if oi.Err != nil {
			t.Fatal(oi.Err)
		}
		name := oi.Key
		if oi.IsDeleteMarker {
			name += " (delete marker)"
		}
		out = append(out, name)
	}
	return out
}

// loseReply sends the first PUT of an object whose name ends in suffix and
// then reports the connection lost, as a reply lost on the way back would:
// the client retries a write that has landed.
type loseReply struct {
	http.RoundTripper
	suffix string
	lost   atomic.Bool
}

func (f *loseReply) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := f.RoundTripper.RoundTrip(req)
	if err == nil && req.Method == http.MethodPut && strings.HasSuffix(req.URL.Path, f.suffix) && f.lost.CompareAndSwap(false, true) {
		resp.Body.Close()
		return nil, errors.New("connection reset by test")
	}
	return resp, err
}

// refuseRetention fails every request that sets an object's retention, as
// a process stopped between its link and its retention would.
type refuseRetention struct {
	http.RoundTripper
	refused atomic.Int32
}

func (f *refuseRetention) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && req.URL.Query().Has("retention") {
		f.refused.Add(1)
		return nil, errors.New("connection reset by test")
	}
	return f.RoundTripper.RoundTrip(req)
}

// TestPlacementObjectLock: on a bucket with Object Lock, placed content gets
// its retention and legal hold only once it is kept; a duplicate leaves no
// version behind, locked or not; a placement interrupted between its link
// and its retention is adopted by CleanupStale, one interrupted before its
// link is removed.
func TestPlacementObjectLock(t *testing.T) {
	s, env := openTest(t, true, smallParts)
	raw := testenv.Client(t, env)
	ctx := testCtx(t)
	until := time.Now().Add(time.Hour).Truncate(time.Second).UTC()
	size := int64(3 << 20)
	opts := storage.PutOptions{Size: size, Retention: storage.Retention{Mode: storage.Compliance, Until: until}, LegalHold: true}
	place := func(key string, seed uint64) storage.Placed {
		t.Helper()
		st, err := s.StageAt(ctx, key, storagetest.Content(seed, size), -1)
		if err != nil {
			t.Fatal(err)
		}
		p, ok := st.(storage.Placed)
		if !ok {
			t.Fatalf("StageAt of %d bytes returned %T, want a Placed", size, st)
		}
		obj, err := s.Stat(ctx, key)
		if err != nil || !obj.Retention.IsZero() || obj.LegalHold {
			t.Fatalf("placed content before Keep: %+v, %v; want it there without retention", obj, err)
		}
		return p
	}
	locked := func(key string) {
		t.Helper()
		obj, err := s.Stat(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if obj.Retention.Mode != storage.Compliance || !obj.Retention.Until.Equal(until) || !obj.LegalHold {
			t.Fatalf("%s has retention %+v, hold %v; want compliance until %s and a hold", key, obj.Retention, obj.LegalHold, until)
		}
	}

	obj, err := place("objects/upload/a", 1).Keep(ctx, "objects/sha256/a", []byte("link a\n"), opts)
	if err != nil {
		t.Fatalf("Keep: %v", err)
	}
	if obj.Retention.Mode != storage.Compliance || !obj.LegalHold || obj.VersionID == "" {
		t.Fatalf("Keep returned %+v, want the locked version", obj)
	}
	locked("objects/upload/a")
	locked("objects/sha256/a")
	if err := raw.RemoveObject(ctx, s.opts.Bucket, s.prefix+"objects/upload/a", minio.RemoveObjectOptions{VersionID: obj.VersionID, GovernanceBypass: true}); err == nil {
		t.Fatal("removing kept content succeeded")
	}

	// A duplicate: the same bytes placed again meet the link.
	if _, err := place("objects/upload/b", 1).Keep(ctx, "objects/sha256/a", []byte("link b\n"), opts); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("Keep of a duplicate: %v, want ErrExists", err)
	}
	want := []string{s.prefix + "objects/sha256/a", s.prefix + "objects/upload/a"}
	if got := versions(t, raw, s.opts.Bucket); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("after a duplicate the bucket holds %q, want %q", got, want)
	}

	// Stopped between the link and the retention.
	wrapTransport(t, s, func(rt http.RoundTripper) http.RoundTripper { return &refuseRetention{RoundTripper: rt} })
	if _, err := place("objects/upload/c", 3).Keep(ctx, "objects/sha256/c", []byte("link c\n"), opts); err == nil {
		t.Fatal("Keep succeeded although its retention was refused")
	}
	if obj, err := s.Stat(ctx, "objects/upload/c"); err != nil || !obj.Retention.IsZero() {
		t.Fatalf("content after the refused retention: %+v, %v", obj, err)
	}
	// Stopped before the link.
	place("objects/upload/d", 4)
	wrapTransport(t, s, nil)

	time.Sleep(1100 * time.Millisecond) // server times have one-second resolution
	if err := s.CleanupStale(ctx, 0); err != nil {
		t.Fatalf("CleanupStale: %v", err)
	}
	locked("objects/upload/c")
	want = []string{s.prefix + "objects/sha256/a", s.prefix + "objects/sha256/c", s.prefix + "objects/upload/a", s.prefix + "objects/upload/c"}
	if got := versions(t, raw, s.opts.Bucket); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("after CleanupStale the bucket holds %q, want %q", got, want)
	}

	// A retried link write meets its own link: Keep goes on and locks.
	lose := &loseReply{suffix: "/objects/sha256/e"}
	wrapTransport(t, s, func(rt http.RoundTripper) http.RoundTripper { lose.RoundTripper = rt; return lose })
	if _, err := place("objects/upload/e", 5).Keep(ctx, "objects/sha256/e", []byte("link e\n"), opts); err != nil {
		t.Fatalf("Keep whose link write was retried: %v", err)
	}
	wrapTransport(t, s, nil)
	if !lose.lost.Load() {
		t.Fatal("no reply was lost")
	}
	locked("objects/upload/e")

	// A keep marker left alone (a run stopped between removing its two
	// markers) is swept; the kept content stays.
	note := []byte("objects/sha256/e\nlink e\n")
	if err := s.putMarker(ctx, s.keepMarker("objects/upload/e"), note); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if err := s.CleanupStale(ctx, 0); err != nil {
		t.Fatalf("CleanupStale: %v", err)
	}
	locked("objects/upload/e")
	for _, v := range versions(t, raw, s.opts.Bucket) {
		if strings.Contains(v, ".tmp/") {
			t.Fatalf("CleanupStale left %s", v)
		}
	}

	// Retain adopts as CleanupStale does, and never weakens a retention.
	later := storage.PutOptions{Retention: storage.Retention{Mode: storage.Governance, Until: until.Add(time.Hour)}}
	obj, err = s.Retain(ctx, "objects/upload/c", "", later)
	if err != nil {
		t.Fatalf("Retain: %v", err)
	}
	if obj.Retention.Mode != storage.Compliance || !obj.Retention.Until.Equal(until.Add(time.Hour)) || !obj.LegalHold {
		t.Fatalf("Retain left %+v, hold %v; want compliance to the later date, hold kept", obj.Retention, obj.LegalHold)
	}
	// Governance to a later date, then compliance to a sooner one: the
	// mode grows, the date stays.
	gov := storage.PutOptions{Size: 1, Retention: storage.Retention{Mode: storage.Governance, Until: until.Add(2 * time.Hour)}}
	if _, err := s.Put(ctx, "governed", strings.NewReader("x"), gov); err != nil {
		t.Fatal(err)
	}
	obj, err = s.Retain(ctx, "governed", "", storage.PutOptions{Retention: storage.Retention{Mode: storage.Compliance, Until: until}})
	if err != nil {
		t.Fatalf("Retain to compliance: %v", err)
	}
	if obj.Retention.Mode != storage.Compliance || !obj.Retention.Until.Equal(until.Add(2*time.Hour)) {
		t.Fatalf("Retain left %+v; want compliance until the governance date", obj.Retention)
	}
}
