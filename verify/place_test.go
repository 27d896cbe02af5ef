package verify_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/openexhibit/exhibit/capture"
	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/ingest"
	"github.com/openexhibit/exhibit/internal/testenv"
	"github.com/openexhibit/exhibit/storage"
	"github.com/openexhibit/exhibit/storage/s3"
	"github.com/openexhibit/exhibit/verify"
)

// TestPlacedObjectLock ingests into a bucket with Object Lock where every
// staged object is placed at an upload key: the record's retention holds
// for the content and its pointer, a duplicate ingest leaves no object
// version behind, an ingest that meets a pointer left by an interrupted
// run adopts its content and locks it, and verify fails when the
// retention or legal hold of the content or of its pointer is changed.
func TestPlacedObjectLock(t *testing.T) {
	ctx := context.Background()
	env := testenv.MinIO(t)
	bucket := testenv.NewBucket(t, env, true)
	st, err := s3.Open(ctx, s3.Options{Endpoint: env.Endpoint, AccessKey: env.AccessKey,
		SecretKey: env.SecretKey, Bucket: bucket, Prefix: "archive", SmallObjectMax: 1})
	if err != nil {
		t.Fatal(err)
	}
	raw := testenv.Client(t, env)
	uppers, err := capture.NewRegistry(upper{})
	if err != nil {
		t.Fatal(err)
	}
	signer := newSigner(t)
	trust := trustOnly(t, signer)
	in, err := ingest.New(ctx, ingest.Options{Store: st, Signer: signer, Verifier: trust, Readers: uppers,
		Retention: &ingest.Retention{Mode: storage.Governance, Period: 2 * time.Hour}, LegalHold: true})
	if err != nil {
		t.Fatal(err)
	}
	v := &verify.Verifier{Store: st, Trust: trust}
	dir := t.TempDir()
	file := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	uploads := func() []string {
		var out []string
		for oi := range raw.ListObjectsIter(ctx, bucket, minio.ListObjectsOptions{Prefix: "archive/", Recursive: true, WithVersions: true}) {
			if oi.Err != nil {
				t.Fatal(oi.Err)
			}
			if strings.HasPrefix(oi.Key, "archive/"+custody.UploadPrefix) || strings.HasPrefix(oi.Key, "archive/.tmp/") {
				out = append(out, oi.Key)
			}
		}
		return out
	}
	record := func(id hashing.Digest) custody.Record {
		data, err := storage.ReadAll(ctx, st, custody.RecordKey(id), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		s, err := custody.ParseStatement(data)
		if err != nil {
			t.Fatal(err)
		}
		return s.Predicate
	}
	verifyItem := func(id hashing.Digest, want verify.Status, check, object string) {
		t.Helper()
		ir := v.Item(ctx, id)
		if ir.Status != want {
			t.Fatalf("status %s, want %s\n%+v", ir.Status, want, ir.Checks)
		}
		cs := verify.Pass // of an item that warns (no TSA)
		if want == verify.Fail {
			cs = want
		}
		for _, c := range ir.Checks {
			if c.Name == check && c.Object == object && c.Status == cs {
				return
			}
		}
		t.Fatalf("no %s %q check of %s:\n%+v", cs, check, object, ir.Checks)
	}

	// A new item: both placed objects and their pointers are locked.
	res := in.File(ctx, file("a.txt", "a witness statement\n"))
	if res.Err != nil || res.Status != ingest.Archived {
		t.Fatalf("ingest: %+v", res)
	}
	id, _ := hashing.ParseDigest(res.Item)
	rec := record(id)
	addr := custody.ObjectKey(id)
	if !custody.IsUploadKey(rec.Original.Key) || !custody.IsUploadKey(rec.Derivatives[0].Key) {
		t.Fatalf("the record names %s and %s, want upload keys", rec.Original.Key, rec.Derivatives[0].Key)
	}
	verifyItem(id, verify.Warn, "retention", addr)
	verifyItem(id, verify.Warn, "retention", rec.Original.Key)
	before := uploads()
	if len(before) != 2 {
		t.Fatalf("uploads after one item: %q, want the original and the derivative", before)
	}

	// The same bytes again: the new uploads are removed before any lock.
	if res := in.File(ctx, file("a-again.txt", "a witness statement\n")); res.Err != nil || res.Status != ingest.Exists {
		t.Fatalf("second ingest: %+v", res)
	}
	if after := uploads(); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("uploads after a duplicate: %q, want %q", after, before)
	}

	// What a run stopped after its pointer, before its retention, leaves:
	// content without a lock and a locked pointer to it.
	text := "a second statement\n"
	bid := hashing.Bytes([]byte(text)).SHA256
	bKey := custody.NewUploadKey()
	if _, err := raw.PutObject(ctx, bucket, "archive/"+bKey, strings.NewReader(text), int64(len(text)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	set := hashing.Bytes([]byte(text))
	ptr := custody.NewPointer(custody.Object{Digest: set.Map(), Size: set.Size}, bKey).Marshal()
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	if _, err := st.Put(ctx, custody.ObjectKey(bid), bytes.NewReader(ptr), storage.PutOptions{Size: int64(len(ptr)),
		Retention: storage.Retention{Mode: storage.Governance, Until: until}}); err != nil {
		t.Fatal(err)
	}
	res = in.File(ctx, file("b.txt", text))
	if res.Err != nil || res.Status != ingest.Archived {
		t.Fatalf("ingest over a left pointer: %+v", res)
	}
	if got := record(bid).Original.Key; got != bKey {
		t.Fatalf("the record names %s, want the adopted %s", got, bKey)
	}
	verifyItem(bid, verify.Warn, "retention", bKey)

	// Changes to the locks fail verify, naming the object.
	off := minio.LegalHoldDisabled
	on := minio.LegalHoldEnabled
	for _, key := range []string{rec.Original.Key, addr} {
		if err := raw.PutObjectLegalHold(ctx, bucket, "archive/"+key, minio.PutObjectLegalHoldOptions{Status: &off}); err != nil {
			t.Fatal(err)
		}
		verifyItem(id, verify.Fail, "legal hold", key)
		if err := raw.PutObjectLegalHold(ctx, bucket, "archive/"+key, minio.PutObjectLegalHoldOptions{Status: &on}); err != nil {
			t.Fatal(err)
		}
		mode, sooner := minio.Governance, time.Now().Add(10*time.Minute).UTC().Truncate(time.Second)
		if err := raw.PutObjectRetention(ctx, bucket, "archive/"+key, minio.PutObjectRetentionOptions{Mode: &mode, RetainUntilDate: &sooner, GovernanceBypass: true}); err != nil {
			t.Fatal(err)
		}
		verifyItem(id, verify.Fail, "retention", key)
	}
}
