// Package s3 is the storage.Store kept in a bucket of an S3-compatible server
// (MinIO, AWS S3 and others), spoken to through minio-go.
//
// It owns the bucket layout below Options.Prefix: the object at key "a/b" is
// <prefix>/a/b, and <prefix>/.tmp/ holds large staged content until it is
// committed, and the markers of placements (keys whose first element is
// ".tmp" are therefore refused). StageAt (storage.Placer) uploads large
// content to its final key instead, so that nothing is copied; see
// place.go for its crash protocol.
//
// Guarantees, as far as the server keeps its side of the protocol:
//   - Write-once. Every write to a final key is conditional (If-None-Match: *),
//     so of two concurrent writers at most one succeeds and an existing object
//     is never replaced; a HEAD first makes the common "already stored" case
//     cost nothing. A refused condition (412) is reported as storage.ErrExists.
//     MinIO checks the condition under its namespace lock; servers that ignore
//     If-None-Match would silently lose this guarantee. A write whose reply
//     was lost and whose retry then met its own object reports ErrExists;
//     the object at the key is complete either way.
//   - Atomic. Content appears at its key only when a single PUT or a
//     CompleteMultipartUpload succeeds; failed and canceled multipart uploads
//     are aborted (CleanupStale removes any that a crash left behind).
//   - Checked. Each write carries a CRC64NVME checksum computed locally over
//     the bytes read; the server verifies it, and after the write the store
//     compares the size and checksum the server reports with its own. A
//     mismatch removes the new object and returns storage.ErrIntegrity, as do
//     a wrong PutOptions.Size or PutOptions.SHA256 (checked before the object
//     becomes visible). A large staged object is copied on the server at
//     Commit, part by part in the ranges it was uploaded in; MinIO keeps no
//     checksum for such a copy, so Commit compares the copied parts' ETags
//     (the MD5 of their bytes) with those the uploaded parts got, and reads
//     the copy back to check its CRC64NVME when they differ or are not
//     content hashes (encrypted objects). Get verifies the stored
//     full-object checksum, when the object has one, and the length, at the
//     end of the read.
//   - Mutable objects (storage.Swapper, for the custody log's checkpoint)
//     are the one exception to write-once: Swap is a conditional PUT with
//     If-Match on the ETag Load returned (If-None-Match: * to create), so
//     the server decides every race. On a versioned bucket each Swap adds
//     a version; earlier checkpoints stay readable as old versions.
//   - Memory stays bounded: streaming holds Options.Concurrency+1 parts of
//     Options.PartSize (48 MiB by default) while parts go up concurrently;
//     Stage holds content up to Options.SmallObjectMax in memory.
//   - Retention. PutOptions.Retention and LegalHold become S3 Object Lock
//     headers; when the bucket has no Object Lock the write is refused rather
//     than silently unprotected.
//
// This package must not import anything from this module but storage.
package s3

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/openexhibit/exhibit/storage"
)

// Defaults and limits.
const (
	// DefaultPartSize is the multipart part size when Options.PartSize is 0.
	DefaultPartSize = 16 << 20
	// MinPartSize is the smallest part size S3 accepts.
	MinPartSize = 5 << 20
	// DefaultSmallObjectMax is Options.SmallObjectMax when it is 0.
	DefaultSmallObjectMax = 32 << 20
	// DefaultMaxRetries is Options.MaxRetries when it is 0.
	DefaultMaxRetries = 3
	// DefaultConcurrency is Options.Concurrency when it is 0.
	DefaultConcurrency = 2

	maxPartSize = 5 << 30 // largest part, and largest part copy, S3 accepts
	maxParts    = 10000
	// maxObject is the largest object the part limits allow.
	maxObject    = maxPartSize * maxParts
	openTimeout  = 10 * time.Second
	dialTimeout  = 5 * time.Second
	tmpElement   = ".tmp"
	cleanupLimit = 2 * time.Minute // bound on best-effort removals after a failure
)

// Options say where the bucket is and how to talk to it.
type Options struct {
	// Endpoint is the server's host:port, without a scheme.
	Endpoint string
	// Secure selects TLS (https).
	Secure bool
	// AccessKey and SecretKey are the credentials.
	AccessKey, SecretKey string
	// Region is the bucket's region; empty asks the server.
	Region string
	// Bucket is the bucket's name.
	Bucket string
	// Prefix is prepended to every key, with a "/" between; empty for none.
	Prefix string
	// PartSize is the multipart part size in bytes (default 16 MiB, at least
	// 5 MiB). Content of unknown size can be at most 10,000 parts long, so
	// raise it for objects above 156 GiB.
	PartSize uint64
	// Concurrency is how many parts of one object are sent, or copied on
	// the server, at once (default 2). Streaming holds Concurrency+1 parts
	// in memory: one being read while the others are sent.
	Concurrency int
	// MaxRetries is how many times a request is tried (default 3), which
	// keeps a dead server from stalling for minutes.
	MaxRetries int
	// SmallObjectMax is the largest content Stage keeps in memory (default
	// 32 MiB); larger content is staged in a temporary object.
	SmallObjectMax int64
}

func (o *Options) normalize() error {
	switch {
	case o.Endpoint == "":
		return errors.New("no endpoint: give the server's host:port")
	case strings.Contains(o.Endpoint, "://"):
		return fmt.Errorf("endpoint %q has a scheme: give host:port only, and set Secure for https", o.Endpoint)
	}
	if err := s3utils.CheckValidBucketNameStrict(o.Bucket); err != nil {
		return fmt.Errorf("bucket %q: %w", o.Bucket, err)
	}
	o.Prefix = strings.Trim(o.Prefix, "/")
	if o.Prefix != "" {
		if err := storage.ValidKey(o.Prefix); err != nil {
			return fmt.Errorf("prefix %q: must be a clean slash-separated path", o.Prefix)
		}
	}
	switch {
	case o.PartSize == 0:
		o.PartSize = DefaultPartSize
	case o.PartSize < MinPartSize || o.PartSize > maxPartSize:
		return fmt.Errorf("part size %d: must be between 5 MiB and 5 GiB", o.PartSize)
	}
	if o.MaxRetries <= 0 {
		o.MaxRetries = DefaultMaxRetries
	}
	switch {
	case o.Concurrency == 0:
		o.Concurrency = DefaultConcurrency
	case o.Concurrency < 0:
		return fmt.Errorf("concurrency %d: must not be negative", o.Concurrency)
	}
	switch {
	case o.SmallObjectMax == 0:
		o.SmallObjectMax = DefaultSmallObjectMax
	case o.SmallObjectMax < 0:
		return fmt.Errorf("small object maximum %d: must not be negative", o.SmallObjectMax)
	}
	return nil
}

// newClient makes the client for o. wrap, when not nil, wraps its HTTP
// transport (tests use it to fail or corrupt requests).
func newClient(o Options, wrap func(http.RoundTripper) http.RoundTripper) (*minio.Client, error) {
	tr, err := minio.DefaultTransport(o.Secure)
	if err != nil {
		return nil, err
	}
	// A silent network must fail in seconds, not after the 30 s default.
	tr.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	var rt http.RoundTripper = tr
	if wrap != nil {
		rt = wrap(tr)
	}
	return minio.New(o.Endpoint, &minio.Options{
		Creds:           credentials.NewStaticV4(o.AccessKey, o.SecretKey, ""),
		Secure:          o.Secure,
		Transport:       rt,
		Region:          o.Region,
		TrailingHeaders: true,
		MaxRetries:      o.MaxRetries,
	})
}

// Store is a storage.Store in an S3 bucket. Create one with Open. All
// methods may be called concurrently.
type Store struct {
	client *minio.Client
	core   minio.Core
	opts   Options
	prefix string // "" or "<Options.Prefix>/"

	mu     sync.Mutex
	locked bool // the bucket is known to have Object Lock (it cannot be turned off)

	readBacks atomic.Int64 // copies checked by reading them back, for tests
}

var _ storage.Store = (*Store)(nil)

// Open connects to the bucket described by opts and checks, within a few
// seconds, that it exists and the credentials are accepted. Errors wrap
// storage.ErrUnavailable (server unreachable), storage.ErrDenied (credentials
// refused) or storage.ErrNotFound (no such bucket), and say what to check.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if err := opts.normalize(); err != nil {
		return nil, fmt.Errorf("storage/s3: open: %w", err)
	}
	s, err := newStore(opts)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	ok, err := s.client.BucketExists(pctx, opts.Bucket)
	if err != nil {
		return nil, s.connectError("open", ctx, err)
	}
	if !ok {
		return nil, fmt.Errorf("storage/s3: open %s: %w: bucket %q does not exist on %s; run `exhibit init` to create it", s.Location(), storage.ErrNotFound, opts.Bucket, opts.Endpoint)
	}
	return s, nil
}

func newStore(opts Options) (*Store, error) {
	c, err := newClient(opts, nil)
	if err != nil {
		return nil, fmt.Errorf("storage/s3: open %s: %w", opts.Endpoint, err)
	}
	s := &Store{client: c, core: minio.Core{Client: c}, opts: opts}
	if opts.Prefix != "" {
		s.prefix = opts.Prefix + "/"
	}
	return s, nil
}

// connectError explains a failure of the first request to the server.
// ctx is the caller's context: a deadline of our own is the server's fault.
func (s *Store) connectError(op string, ctx context.Context, err error) error {
	where := fmt.Sprintf("storage/s3: %s %s", op, s.Location())
	if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w: no answer from %s within %v; check that the server is running and that the endpoint is right", where, storage.ErrUnavailable, s.opts.Endpoint, openTimeout)
	}
	switch classify(err) {
	case storage.ErrUnavailable:
		return fmt.Errorf("%s: %w: %w; check that the server at %s is running and that the endpoint is right", where, storage.ErrUnavailable, err, s.opts.Endpoint)
	case storage.ErrDenied:
		return fmt.Errorf("%s: %w: %w; check the access key and secret key", where, storage.ErrDenied, err)
	case storage.ErrNotFound:
		return fmt.Errorf("%s: %w: bucket %q does not exist on %s; run `exhibit init` to create it", where, storage.ErrNotFound, s.opts.Bucket, s.opts.Endpoint)
	}
	return wrapErr(op, s.Location(), err)
}

// CreateBucket makes the bucket named in opts, with S3 Object Lock when
// objectLock is true. It is idempotent: an existing bucket is fine, except
// that one without Object Lock cannot gain it, which is an error when
// objectLock is asked for.
func CreateBucket(ctx context.Context, opts Options, objectLock bool) error {
	if err := opts.normalize(); err != nil {
		return fmt.Errorf("storage/s3: create bucket: %w", err)
	}
	s, err := newStore(opts)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	exists, err := s.client.BucketExists(pctx, opts.Bucket)
	if err != nil {
		return s.connectError("create bucket", ctx, err)
	}
	if !exists {
		err := s.client.MakeBucket(ctx, opts.Bucket, minio.MakeBucketOptions{Region: opts.Region, ObjectLocking: objectLock})
		if err != nil && errCode(err) != "BucketAlreadyOwnedByYou" {
			if errCode(err) == "BucketAlreadyExists" {
				return fmt.Errorf("storage/s3: create bucket %s: the name is taken by another account; choose another bucket name", opts.Bucket)
			}
			return wrapErr("create bucket", opts.Bucket, err)
		}
	}
	if !objectLock {
		return nil
	}
	on, err := s.fetchObjectLock(ctx)
	if err != nil {
		return wrapErr("create bucket", opts.Bucket, err)
	}
	if !on {
		return fmt.Errorf("storage/s3: create bucket %s: the bucket exists without Object Lock, which can only be turned on when a bucket is created; choose a new bucket name, or go without object lock", opts.Bucket)
	}
	return nil
}

// Location returns s3://bucket or s3://bucket/prefix.
func (s *Store) Location() string {
	u := url.URL{Scheme: "s3", Host: s.opts.Bucket}
	if s.opts.Prefix != "" {
		u.Path = "/" + s.opts.Prefix
	}
	return u.String()
}

// Endpoint returns the server's host:port.
func (s *Store) Endpoint() string { return s.opts.Endpoint }

// Capabilities reports whether the bucket has Object Lock and versioning.
func (s *Store) Capabilities(ctx context.Context) (storage.Capabilities, error) {
	lock, err := s.objectLock(ctx)
	if err != nil {
		return storage.Capabilities{}, wrapErr("capabilities", s.Location(), err)
	}
	v, err := s.client.GetBucketVersioning(ctx, s.opts.Bucket)
	if err != nil {
		return storage.Capabilities{}, wrapErr("capabilities", s.Location(), err)
	}
	return storage.Capabilities{ObjectLock: lock, Versioning: v.Enabled()}, nil
}

// objectLock reports whether the bucket has Object Lock. A yes is
// remembered (it cannot be undone); a no is asked again next time.
func (s *Store) objectLock(ctx context.Context) (bool, error) {
	s.mu.Lock()
	locked := s.locked
	s.mu.Unlock()
	if locked {
		return true, nil
	}
	on, err := s.fetchObjectLock(ctx)
	if err != nil {
		return false, err
	}
	if on {
		s.mu.Lock()
		s.locked = true
		s.mu.Unlock()
	}
	return on, nil
}

func (s *Store) fetchObjectLock(ctx context.Context) (bool, error) {
	enabled, _, _, _, err := s.client.GetObjectLockConfig(ctx, s.opts.Bucket)
	if err != nil {
		if errCode(err) == "ObjectLockConfigurationNotFoundError" {
			return false, nil
		}
		return false, err
	}
	return enabled == "Enabled", nil
}

// checkKey validates key and returns its object name in the bucket.
func (s *Store) checkKey(op, key string) (string, error) {
	if err := storage.ValidKey(key); err != nil {
		return "", fmt.Errorf("storage/s3: %s: %w", op, err)
	}
	if key == tmpElement || strings.HasPrefix(key, tmpElement+"/") {
		return "", fmt.Errorf("storage/s3: %s: invalid key %q: keys under %s/ are reserved for temporary objects", op, key, tmpElement)
	}
	return s.prefix + key, nil
}

func (s *Store) tmpPrefix() string { return s.prefix + tmpElement + "/" }

func (s *Store) newTmpName() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return s.tmpPrefix() + hex.EncodeToString(b[:])
}

// errCode returns the S3 error code of err, or "".
func errCode(err error) string {
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		return er.Code
	}
	return ""
}

func isPreconditionFailed(err error) bool {
	var er minio.ErrorResponse
	return errors.As(err, &er) && (er.Code == "PreconditionFailed" || er.StatusCode == 412)
}

// classify returns the storage sentinel that err belongs to, or nil.
func classify(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return nil
	}
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		switch er.Code {
		case "NoSuchKey", "NoSuchBucket", "NoSuchVersion", "NoSuchUpload":
			return storage.ErrNotFound
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled",
			"InvalidToken", "ExpiredToken", "AccountProblem", "XMinioAccountDisabled":
			return storage.ErrDenied
		case "XMinioStorageFull", "XMinioAdminBucketQuotaExceeded", "QuotaExceeded", "InsufficientStorage":
			return storage.ErrFull
		case "EntityTooLarge":
			if strings.Contains(strings.ToLower(er.Message), "quota") {
				return storage.ErrFull
			}
		case "BadDigest", "XAmzContentChecksumMismatch", "XAmzContentSHA256Mismatch", "InvalidDigest":
			return storage.ErrIntegrity
		case "SlowDown", "SlowDownRead", "SlowDownWrite", "ServiceUnavailable", "RequestTimeout",
			"XMinioServerNotInitialized":
			return storage.ErrUnavailable
		}
		switch {
		case strings.Contains(er.Message, "WORM"):
			return storage.ErrDenied // "Object is WORM protected and cannot be overwritten"
		case strings.Contains(er.Message, "minimum free drive threshold"):
			return storage.ErrFull
		}
		switch er.StatusCode {
		case 507:
			return storage.ErrFull
		case 502, 503, 504:
			return storage.ErrUnavailable
		case 403:
			return storage.ErrDenied
		}
		return nil
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
		return storage.ErrUnavailable
	}
	return nil
}

// wrapErr wraps err for operation op on name, adding the storage sentinel
// it belongs to.
func wrapErr(op, name string, err error) error {
	if sentinel := classify(err); sentinel != nil && !errors.Is(err, sentinel) {
		return fmt.Errorf("storage/s3: %s %s: %w: %w", op, name, sentinel, err)
	}
	return fmt.Errorf("storage/s3: %s %s: %w", op, name, err)
}

func b64(sum []byte) string { return base64.StdEncoding.EncodeToString(sum) }
