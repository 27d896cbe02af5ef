package verify_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/openexhibit/exhibit/capture"
	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/ingest"
	"github.com/openexhibit/exhibit/internal/testenv"
	"github.com/openexhibit/exhibit/sign"
	"github.com/openexhibit/exhibit/storage"
	"github.com/openexhibit/exhibit/storage/local"
	"github.com/openexhibit/exhibit/storage/s3"
	"github.com/openexhibit/exhibit/verify"
)

// backend is a store plus the raw access an attacker with write access to
// the storage would have.
type backend struct {
	name    string
	placed  bool // large content lies at upload keys, with pointers
	store   storage.Store
	rewrite func(t *testing.T, key string, data []byte)
	remove  func(t *testing.T, key string)
}

func localBackend(t *testing.T) backend {
	dir := t.TempDir()
	st, err := local.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	return backend{
		name:  "local",
		store: st,
		rewrite: func(t *testing.T, key string, data []byte) {
			p := filepath.Join(dir, filepath.FromSlash(key))
			os.Chmod(p, 0o644)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
		},
		remove: func(t *testing.T, key string) {
			if err := os.Remove(filepath.Join(dir, filepath.FromSlash(key))); err != nil {
				t.Fatal(err)
			}
		},
	}
}

func newSigner(t *testing.T) *sign.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sign.NewSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func trustOnly(t *testing.T, s *sign.Signer) *sign.Verifier {
	t.Helper()
	tf, err := sign.NewTrustFile(s, "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	v, err := sign.NewVerifier(tf)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// upper is a test capture reader that records a fact and makes a derivative
// (the original upper-cased), so derivative checks are exercised.
type upper struct{}

func (upper) ID() string           { return "test-upper/1" }
func (upper) MediaTypes() []string { return []string{"text/*"} }
func (upper) Read(_ context.Context, src capture.Source) (*capture.Result, error) {
	data := make([]byte, src.Size())
	if _, err := src.ReadAt(data, 0); err != nil && err != io.EOF {
		return nil, err
	}
	return &capture.Result{
		Metadata: map[string]int{"lines": bytes.Count(data, []byte("\n"))},
		Derivatives: []capture.Derivative{{Name: "upper.txt", Kind: "test", MediaType: "text/plain",
			Transform: capture.Transform{Name: "upper", Version: "1"},
			Write: func(_ context.Context, w io.Writer) error {
				_, err := w.Write(bytes.ToUpper(data))
				return err
			}}},
	}, nil
}

type fixture struct {
	b      backend
	signer *sign.Signer
	v      *verify.Verifier
	id     hashing.Digest
	rec    custody.Record
}

func setup(t *testing.T, b backend) *fixture {
	t.Helper()
	uppers, err := capture.NewRegistry(upper{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := newSigner(t)
	trust := trustOnly(t, s)
	in, err := ingest.New(ctx, ingest.Options{Store: b.store, Signer: s, Verifier: trust, Case: "c1",
		Readers: uppers})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "note.txt")
	os.WriteFile(p, []byte("a witness statement\nsecond line\n"), 0o644)
	res := in.File(ctx, p)
	if res.Err != nil || res.Status != ingest.Archived {
		t.Fatalf("ingest: %+v", res)
	}
	id, _ := hashing.ParseDigest(res.Item)
	f := &fixture{b: b, signer: s, v: &verify.Verifier{Store: b.store, Trust: trust}, id: id}
	data := f.get(t, custody.RecordKey(id))
	st, err := custody.ParseStatement(data)
	if err != nil {
		t.Fatal(err)
	}
	f.rec = st.Predicate
	if len(f.rec.Derivatives) != 1 || f.rec.Metadata == nil {
		t.Fatalf("record lacks derivative or metadata: %+v", f.rec)
	}
	return f
}

func (f *fixture) get(t *testing.T, key string) []byte {
	t.Helper()
	rc, err := f.b.store.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func flip(data []byte, at int) []byte {
	out := bytes.Clone(data)
	out[at%len(out)] ^= 0x01
	return out
}

// tamperCases is the tamper matrix: each change must fail verify, naming the check.
var tamperCases = []struct {
	name      string
	tamper    func(t *testing.T, f *fixture)
	wantCheck string
}{
	{"flip a byte of the original", func(t *testing.T, f *fixture) {
		k := f.rec.Original.Key
		f.b.rewrite(t, k, flip(f.get(t, k), 3))
	}, "original digests"},
	{"append to the original", func(t *testing.T, f *fixture) {
		k := f.rec.Original.Key
		f.b.rewrite(t, k, append(f.get(t, k), 'x'))
	}, "original digests"},
	{"flip a byte of the metadata", func(t *testing.T, f *fixture) {
		k := f.rec.Metadata.Key
		f.b.rewrite(t, k, flip(f.get(t, k), 10))
	}, "metadata"},
	{"flip a byte of the record copy", func(t *testing.T, f *fixture) {
		k := custody.RecordKey(f.id)
		f.b.rewrite(t, k, flip(f.get(t, k), 40))
	}, "record copy"},
	{"flip a byte of the record bundle signature", func(t *testing.T, f *fixture) {
		k := custody.RecordBundleKey(f.id)
		f.b.rewrite(t, k, flipBase64Field(t, f.get(t, k), `"sig":`))
	}, "record signature"},
	{"flip a byte of the record bundle payload", func(t *testing.T, f *fixture) {
		k := custody.RecordBundleKey(f.id)
		f.b.rewrite(t, k, flipBase64Field(t, f.get(t, k), `"payload":`))
	}, "record signature"},
	{"flip a byte of the original bundle", func(t *testing.T, f *fixture) {
		k := custody.OriginalBundleKey(f.id)
		f.b.rewrite(t, k, flipBase64Field(t, f.get(t, k), `"signature":`))
	}, "original signature"},
	{"flip a byte of the derivative", func(t *testing.T, f *fixture) {
		k := f.rec.Derivatives[0].Key
		f.b.rewrite(t, k, flip(f.get(t, k), 0))
	}, "derivative upper.txt"},
	{"swap in another key", func(t *testing.T, f *fixture) {
		evil := newSigner(t)
		stmt := f.get(t, custody.RecordKey(f.id))
		rb, err := evil.SignStatement(context.Background(), stmt, nil)
		if err != nil {
			t.Fatal(err)
		}
		ob, err := evil.SignDigestBundle(context.Background(), f.id.Sum, nil)
		if err != nil {
			t.Fatal(err)
		}
		f.b.rewrite(t, custody.RecordBundleKey(f.id), rb)
		f.b.rewrite(t, custody.OriginalBundleKey(f.id), ob)
	}, "record signature"},
	{"swap in another key for the original bundle only", func(t *testing.T, f *fixture) {
		ob, err := newSigner(t).SignDigestBundle(context.Background(), f.id.Sum, nil)
		if err != nil {
			t.Fatal(err)
		}
		f.b.rewrite(t, custody.OriginalBundleKey(f.id), ob)
	}, "original signature"},
	{"delete the original", func(t *testing.T, f *fixture) { f.b.remove(t, f.rec.Original.Key) }, "original digests"},
	{"delete the metadata", func(t *testing.T, f *fixture) { f.b.remove(t, f.rec.Metadata.Key) }, "metadata"},
	{"delete the derivative", func(t *testing.T, f *fixture) { f.b.remove(t, f.rec.Derivatives[0].Key) }, "derivative upper.txt"},
	{"delete the record copy", func(t *testing.T, f *fixture) { f.b.remove(t, custody.RecordKey(f.id)) }, "record copy"},
	{"delete the record bundle", func(t *testing.T, f *fixture) { f.b.remove(t, custody.RecordBundleKey(f.id)) }, "record bundle"},
	{"delete the original bundle", func(t *testing.T, f *fixture) { f.b.remove(t, custody.OriginalBundleKey(f.id)) }, "original signature"},
}

// flipBase64Field changes one base64 character inside the first JSON string
// value after field, keeping the bundle parseable.
func flipBase64Field(t *testing.T, data []byte, field string) []byte {
	t.Helper()
	i := bytes.Index(data, []byte(field))
	if i < 0 {
		t.Fatalf("no %s in bundle:\n%s", field, data)
	}
	q := bytes.IndexByte(data[i+len(field):], '"')
	at := i + len(field) + q + 1 + 5
	out := bytes.Clone(data)
	if out[at] == 'A' {
		out[at] = 'B'
	} else {
		out[at] = 'A'
	}
	return out
}

// pointerCases tamper with the pointers of a backend that places content.
var pointerCases = []struct {
	name      string
	tamper    func(t *testing.T, f *fixture)
	wantCheck string
}{
	{"point the original's address elsewhere", func(t *testing.T, f *fixture) {
		p := custody.NewPointer(f.rec.Original, custody.NewUploadKey())
		f.b.rewrite(t, custody.ObjectKey(f.id), p.Marshal())
	}, "original pointer"},
	{"point the original's address at the derivative", func(t *testing.T, f *fixture) {
		p := custody.NewPointer(f.rec.Derivatives[0].Object, f.rec.Derivatives[0].Key)
		f.b.rewrite(t, custody.ObjectKey(f.id), p.Marshal())
	}, "original pointer"},
	{"delete the original's pointer", func(t *testing.T, f *fixture) { f.b.remove(t, custody.ObjectKey(f.id)) }, "original pointer"},
	{"put the original at its address", func(t *testing.T, f *fixture) {
		f.b.rewrite(t, custody.ObjectKey(f.id), f.get(t, f.rec.Original.Key))
	}, "original pointer"},
	{"point the derivative's address elsewhere", func(t *testing.T, f *fixture) {
		d := f.rec.Derivatives[0]
		addr, _ := d.StoredKey()
		f.b.rewrite(t, addr, custody.NewPointer(d.Object, custody.NewUploadKey()).Marshal())
	}, "derivative upper.txt pointer"},
}

func runTamperMatrix(t *testing.T, newBackend func(t *testing.T) backend) {
	t.Run("intact", func(t *testing.T) {
		f := setup(t, newBackend(t))
		ir := f.v.Item(context.Background(), f.id)
		if ir.Status != verify.Warn { // warn: no timestamp authority configured
			t.Fatalf("intact item: status %s\n%+v", ir.Status, ir.Checks)
		}
		for _, c := range ir.Checks {
			if c.Status != verify.Pass && c.Name != "timestamps" {
				t.Errorf("check %s: %s", c.Name, c.Status)
			}
		}
	})
	t.Run("not found", func(t *testing.T) {
		f := setup(t, newBackend(t))
		other := hashing.Bytes([]byte("never ingested")).SHA256
		if ir := f.v.Item(context.Background(), other); ir.Status != verify.NotFound {
			t.Fatalf("status %s, want not-found", ir.Status)
		}
	})
	cases := tamperCases
	if b := newBackend(t); b.placed {
		cases = append(cases, pointerCases...)
		t.Run("placed", func(t *testing.T) {
			f := setup(t, b)
			for _, o := range []custody.Object{f.rec.Original, f.rec.Derivatives[0].Object} {
				if !custody.IsUploadKey(o.Key) {
					t.Fatalf("the record names %s, want an upload key", o.Key)
				}
			}
			// Programs tell the derivative's pointer check from its digests.
			ids := map[string]string{}
			for _, c := range f.v.Item(context.Background(), f.id).Checks {
				ids[c.Name] = c.ID + " " + c.Subject
			}
			for name, want := range map[string]string{"original pointer": "original-pointer ",
				"derivative upper.txt pointer": "derivative-pointer upper.txt", "derivative upper.txt": "derivative upper.txt"} {
				if ids[name] != want {
					t.Errorf("check %q has ID and subject %q, want %q", name, ids[name], want)
				}
			}
		})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, newBackend(t))
			tc.tamper(t, f)
			ir := f.v.Item(context.Background(), f.id)
			want := verify.Fail
			if tc.name == "swap in another key" {
				// Both bundles by a key the trust file lacks: from the
				// archive alone, a key the verifier was not given looks the
				// same; the custody log's ingested event tells them apart.
				want = verify.Untrusted
			}
			if ir.Status != want {
				t.Fatalf("status %s, want %s\n%+v", ir.Status, want, ir.Checks)
			}
			named := false
			for _, c := range ir.Checks {
				if c.Status == want && c.Name == tc.wantCheck {
					named = true
				}
			}
			if !named {
				t.Fatalf("no failed %q check:\n%+v", tc.wantCheck, ir.Checks)
			}
		})
	}
}

func TestTamperLocal(t *testing.T) { runTamperMatrix(t, localBackend) }

// TestTamperS3 runs the same matrix on a real MinIO, tampering through the
// S3 API with the store's own credentials.
func TestTamperS3(t *testing.T) {
	runTamperMatrix(t, func(t *testing.T) backend { return s3Backend(t, 0) })
}

// TestTamperS3Placed runs it with every staged object placed at an upload
// key (see custody.Pointer), adding the pointers to the matrix.
func TestTamperS3Placed(t *testing.T) {
	runTamperMatrix(t, func(t *testing.T) backend { return s3Backend(t, 1) })
}

// s3Backend is a fresh bucket on the test MinIO, with the store's
// SmallObjectMax (0 for the default).
func s3Backend(t *testing.T, smallObjectMax int64) backend {
	env := testenv.MinIO(t)
	bucket := testenv.NewBucket(t, env, false)
	st, err := s3.Open(context.Background(), s3.Options{Endpoint: env.Endpoint, AccessKey: env.AccessKey,
		SecretKey: env.SecretKey, Bucket: bucket, Prefix: "archive", SmallObjectMax: smallObjectMax})
	if err != nil {
		t.Fatal(err)
	}
	c := testenv.Client(t, env)
	return backend{
		name:   "s3",
		placed: smallObjectMax > 0,
		store:  st,
		rewrite: func(t *testing.T, key string, data []byte) {
			_, err := c.PutObject(context.Background(), bucket, "archive/"+key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
		},
		remove: func(t *testing.T, key string) {
			if err := c.RemoveObject(context.Background(), bucket, "archive/"+key, minio.RemoveObjectOptions{}); err != nil {
				t.Fatal(err)
			}
		},
	}
}
