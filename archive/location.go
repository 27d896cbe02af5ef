package archive

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/storage"
	"github.com/openexhibit/exhibit/storage/local"
	"github.com/openexhibit/exhibit/storage/s3"
)

// Location is where an archive is: a local folder or an S3 bucket and
// prefix. The zero value is no location.
type Location struct {
	Dir            string // local folder, absolute
	Bucket, Prefix string // S3
}

// IsS3 reports whether the archive is in an S3 bucket.
func (l Location) IsS3() bool { return l.Bucket != "" }

// String is the location as ParseLocation reads it.
func (l Location) String() string {
	if !l.IsS3() {
		return l.Dir
	}
	if l.Prefix == "" {
		return "s3://" + l.Bucket
	}
	return "s3://" + l.Bucket + "/" + l.Prefix
}

// ParseLocation parses a folder path or s3://BUCKET/PREFIX.
func ParseLocation(s string) (Location, error) {
	if s == "" {
		return Location{}, configErr("no archive: pass --archive DIR or s3://BUCKET/PREFIX (or set archive: in the configuration)")
	}
	if strings.HasPrefix(s, "s3://") {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return Location{}, configErr("archive %q: want s3://BUCKET/PREFIX", s)
		}
		return Location{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/")}, nil
	}
	if strings.Contains(s, "://") {
		return Location{}, configErr("archive %q: want a folder path or s3://BUCKET/PREFIX", s)
	}
	dir, err := filepath.Abs(s)
	if err != nil {
		return Location{}, configErr("archive %q: %v", s, err)
	}
	return Location{Dir: dir}, nil
}

// S3Config is how to reach an S3-compatible endpoint.
type S3Config struct {
	Endpoint string // host:port
	Region   string
	// InsecureHTTP sends requests (and credentials) without TLS.
	InsecureHTTP         bool
	AccessKey, SecretKey string
}

func (c S3Config) options(l Location) (s3.Options, error) {
	if c.Endpoint == "" {
		return s3.Options{}, configErr("archive s3://%s needs an endpoint: set s3.endpoint in the configuration or EXHIBIT_S3_ENDPOINT (host:port)", l.Bucket)
	}
	if c.AccessKey == "" || c.SecretKey == "" {
		return s3.Options{}, configErr("archive s3://%s needs credentials: set EXHIBIT_S3_ACCESS_KEY and EXHIBIT_S3_SECRET_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)", l.Bucket)
	}
	return s3.Options{Endpoint: c.Endpoint, Secure: !c.InsecureHTTP, Region: c.Region,
		AccessKey: c.AccessKey, SecretKey: c.SecretKey, Bucket: l.Bucket, Prefix: l.Prefix}, nil
}

// OpenStore opens the store of an existing archive at l, for a caller
// that needs no more than its objects (a listing): it checks that the
// store holds an archive descriptor.
func OpenStore(ctx context.Context, l Location, c S3Config) (storage.Store, error) {
	st, err := openStore(ctx, l, c)
	if err != nil {
		return nil, err
	}
	if _, err := readDescriptor(ctx, st); err != nil {
		return nil, err
	}
	return st, nil
}

// openStore opens the store at l. A folder groups its syncs
// (local.GroupCommit): many small objects are written per item, and the
// archive syncs before it reports anything durable.
func openStore(ctx context.Context, l Location, c S3Config) (storage.Store, error) {
	if l.IsS3() {
		o, err := c.options(l)
		if err != nil {
			return nil, err
		}
		s, err := s3.Open(ctx, o)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, configErr("archive %s: %v (run exhibit init to create it)", l, err)
		}
		if err != nil {
			return nil, fmt.Errorf("archive %s: %w", l, err)
		}
		return s, nil
	}
	s, err := local.Open(l.Dir, local.GroupCommit())
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return nil, configErr("archive %s does not exist: run `exhibit init --archive %s`", l.Dir, l.Dir)
		}
		return nil, fmt.Errorf("archive %s: %w", l.Dir, err)
	}
	return s, nil
}

// createStore makes the store of a new archive (or opens the one there):
// a folder, or a bucket, with Object Lock when objectLock is set.
func createStore(ctx context.Context, l Location, c S3Config, objectLock bool) (storage.Store, error) {
	if !l.IsS3() {
		s, err := local.Create(l.Dir)
		if err != nil {
			return nil, fmt.Errorf("create archive %s: %w", l.Dir, err)
		}
		return s, nil
	}
	o, err := c.options(l)
	if err != nil {
		return nil, err
	}
	if err := s3.CreateBucket(ctx, o, objectLock); err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", l.Bucket, err)
	}
	return s3.Open(ctx, o)
}

// readDescriptor reads and parses the archive descriptor of st.
func readDescriptor(ctx context.Context, st storage.Store) (*custody.Archive, error) {
	data, err := storage.ReadAll(ctx, st, custody.ArchiveKey, 1<<20)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, configErr("%s is not an Exhibit archive (no %s): run exhibit init", st.Location(), custody.ArchiveKey)
	}
	if err != nil {
		return nil, fmt.Errorf("archive %s: %w", st.Location(), err)
	}
	desc, err := custody.ParseArchive(data)
	if err != nil {
		return nil, configErr("%s: %v", st.Location(), err)
	}
	return desc, nil
}
