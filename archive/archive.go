// Package archive is Exhibit as a library: it creates and opens an archive
// (its store, trust file, signing key, custody log and the checkpoint this
// home folder remembers), ingests, verifies, reads events and gets items.
// The command line, the worker and the exporters are front ends of this
// package: they turn flags, jobs or requests into Options and calls, and
// render the results.
//
// A home folder holds one custodian's keys (the signing key unless it is
// in a KMS, the custody log key), the trust file and the newest log
// checkpoint this home has verified. Passphrases come from the caller's
// Credentials; the library never prompts and never reads the environment.
// Errors that a front end branches on carry a Kind (KindOf).
//
// archive composes ingest, verify, sign, custody and storage; it must not
// import cli or anything that imports it.
package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"golang.org/x/mod/sumdb/note"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/sign"
	"github.com/openexhibit/exhibit/storage"
)

// Files in the home folder.
const (
	// KeyFile is the signing key init makes (cosign's format).
	KeyFile = "cosign.key"
	// PubFile is the signing key's public key (also for KMS keys).
	PubFile = "cosign.pub"
	// TrustFile is the trust file (keys, TSAs, logs a verifier trusts).
	TrustFile = "trust.json"
	// TrustedRootFile is the same trust as cosign's trusted_root.json.
	TrustedRootFile = "trusted_root.json"
)

// Options say which archive to open and how.
type Options struct {
	// Location is the archive: a folder or an S3 bucket and prefix.
	Location Location
	// S3 is how to reach an S3 archive.
	S3 S3Config
	// Store, when set, is used instead of opening Location (a decorated
	// store, an in-memory one in tests).
	Store storage.Store
	// Home is the home folder (absolute).
	Home string
	// Key is the signing key: a file (relative to Home) or a KMS URI.
	// Empty: the archive can be read and verified, not written.
	Key string
	// Trust is the trust file (relative to Home); default TrustFile.
	Trust string
	// Credentials supply key passphrases (nil: none, keys must be plain).
	Credentials Credentials
	// Operator is who acts, as recorded in records and events.
	Operator string
	// TSA lists the timestamp authorities that timestamp bundles and
	// checkpoints; the trust file must hold their chains.
	TSA []string
	// Retention applies S3 Object Lock to every object written (nil: none).
	Retention *Retention
	// LegalHold places a legal hold on every object ingested.
	LegalHold bool
	// Note receives notes on what an operation could not do and why it
	// went on (the custody log is read-only, or absent); Warn, warnings (a
	// checkpoint published without a timestamp). Nil: discarded.
	Note, Warn func(msg string)
	// Tool is the program acting, as recorded in records.
	Tool custody.Tool
}

// Retention is an Object Lock retention: mode and period in days.
type Retention struct {
	Mode string `yaml:"mode" json:"mode"` // compliance or governance
	Days int    `yaml:"days" json:"days"`
}

// StorageMode is the Object Lock mode: governance when so configured, else
// compliance.
func (r *Retention) StorageMode() storage.RetentionMode {
	if r.Mode == "governance" {
		return storage.Governance
	}
	return storage.Compliance
}

// Period is the retention period.
func (r *Retention) Period() time.Duration { return time.Duration(r.Days) * 24 * time.Hour }

// now is the retention of an object written now: none for a nil Retention.
func (r *Retention) now() storage.Retention {
	if r == nil {
		return storage.Retention{}
	}
	return storage.Retention{Mode: r.StorageMode(), Until: time.Now().Add(r.Period())}
}

// Archive is an open archive. Its methods may be called one at a time.
type Archive struct {
	o         Options
	store     storage.Store
	desc      *custody.Archive
	trust     *sign.Verifier
	trustFile *sign.TrustFile
	// keys are the keys opened once, for the Archive's life (a worker
	// runs many ingests, and each opening costs a key derivation).
	keys struct {
		sync.Mutex
		signer *sign.Signer
		log    note.Signer
	}
}

// Open opens an existing archive and the trust file. Nothing is decrypted
// yet: keys are opened by the operations that need them.
func Open(ctx context.Context, o Options) (*Archive, error) {
	if o.Trust == "" {
		o.Trust = TrustFile
	}
	st := o.Store
	if st == nil {
		var err error
		if st, err = openStore(ctx, o.Location, o.S3); err != nil {
			return nil, err
		}
	}
	desc, err := readDescriptor(ctx, st)
	if err != nil {
		return nil, err
	}
	trust, tf, err := loadTrust(o.path(o.Trust))
	if err != nil {
		return nil, err
	}
	return &Archive{o: o, store: st, desc: desc, trust: trust, trustFile: tf}, nil
}

func (a *Archive) note(msg string) {
	if a.o.Note != nil {
		a.o.Note(msg)
	}
}

// Store is the archive's store.
func (a *Archive) Store() storage.Store { return a.store }

// Location is the URL of the archive's store.
func (a *Archive) Location() string { return a.store.Location() }

// Trust is the trust file's verifier.
func (a *Archive) Trust() *sign.Verifier { return a.trust }

// path resolves a path relative to the home folder; KMS URIs and absolute
// paths are returned as they are.
func (o *Options) path(p string) string {
	if p == "" || filepath.IsAbs(p) || strings.Contains(p, "://") {
		return p
	}
	return filepath.Join(o.Home, p)
}

func loadTrust(path string) (*sign.Verifier, *sign.TrustFile, error) {
	tf, err := sign.ReadTrustFile(path)
	if err != nil {
		return nil, nil, configErr("trust file %s: %v (run exhibit init, or pass --trust FILE)", path, err)
	}
	v, err := sign.NewVerifier(tf)
	if err != nil {
		return nil, nil, configErr("trust file %s: %v", path, err)
	}
	return v, tf, nil
}

// signer opens the signing key (once) and checks that the trust file
// trusts it.
func (a *Archive) signer(ctx context.Context) (*sign.Signer, error) {
	a.keys.Lock()
	defer a.keys.Unlock()
	if a.keys.signer != nil {
		return a.keys.signer, nil
	}
	if a.o.Key == "" {
		return nil, withKind(KindKey, errors.New("no signing key configured"), "run exhibit init, or set key: in the configuration / EXHIBIT_KEY")
	}
	s, err := sign.LoadSigner(ctx, a.o.path(a.o.Key), func(create bool) ([]byte, error) {
		return passphrase(ctx, a.o.Credentials, SigningKey, create)
	})
	if err != nil {
		return nil, err
	}
	for _, k := range a.trustFile.Keys {
		if k.Fingerprint == s.Fingerprint() {
			a.keys.signer = s
			return s, nil
		}
	}
	return nil, withKind(KindKey, fmt.Errorf("the signing key %s is not in the trust file", s.Fingerprint()),
		"add the key to the trust file, or use the key that init made")
}

// timestamper builds the client for the configured TSAs, each of which the
// trust file must hold (or no timestamp of it would verify).
func (a *Archive) timestamper(require bool) (*sign.Timestamper, error) {
	if len(a.o.TSA) == 0 {
		if require {
			return nil, configErr("--require-timestamp: no timestamp authority is configured (tsa: in the configuration, or EXHIBIT_TSA)")
		}
		return nil, nil
	}
	trusted := map[string]bool{}
	for _, u := range a.trustFile.TSAURIs() {
		trusted[u] = true
	}
	for _, u := range a.o.TSA {
		if err := CheckTSAURL(u); err != nil {
			return nil, err
		}
		if !trusted[u] {
			return nil, configErr("timestamp authority %s is configured but its certificate chain is not in the trust file, so its timestamps could not be verified: "+
				"add it with `exhibit init --tsa %s` (in a new --home), or remove it from tsa: / EXHIBIT_TSA", u, u)
		}
	}
	return &sign.Timestamper{URLs: a.o.TSA}, nil
}

// actor is who this process acts as in events.
func (a *Archive) actor(fingerprint string) custody.Actor {
	host, _ := os.Hostname()
	return custody.Actor{KeyFingerprint: fingerprint, Operator: a.o.Operator, Host: host}
}

// homeActor is the actor of events of operations that do not sign: the
// home folder's signing key is named by its public key (PubFile, which
// init writes for file and KMS keys alike).
func (a *Archive) homeActor() (custody.Actor, error) {
	data, err := os.ReadFile(filepath.Join(a.o.Home, PubFile))
	if err != nil {
		return custody.Actor{}, withKind(KindKey, fmt.Errorf("read %s: %w", PubFile, err), "events name the home folder's key: run exhibit init")
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(data)
	if err != nil {
		return custody.Actor{}, withKind(KindKey, fmt.Errorf("%s: %w", PubFile, err), "")
	}
	fp, _, err := sign.KeyID(pub)
	if err != nil {
		return custody.Actor{}, err
	}
	return a.actor(fp), nil
}

// errDiffers: a write-once object exists with other bytes.
var errDiffers = errors.New("exists with other content")

// putIfAbsent writes a small object; an existing object with the same
// bytes is fine, other bytes give errDiffers.
func putIfAbsent(ctx context.Context, st storage.Store, key string, data []byte, ret storage.Retention) error {
	return commitIfAbsent(ctx, st, putDeferred(ctx, st, key, data, ret), data)
}

// putDeferred starts putIfAbsent's write, for commitIfAbsent to finish:
// writes started together share one wait for the disk on a store that
// groups its syncs. ret is its Object Lock retention (zero: none).
func putDeferred(ctx context.Context, st storage.Store, key string, data []byte, ret storage.Retention) *storage.Deferred {
	sum := sha256.Sum256(data)
	return storage.PutDeferred(ctx, st, key, data, storage.PutOptions{SHA256: sum[:], ContentType: "application/json", Retention: ret})
}

func commitIfAbsent(ctx context.Context, st storage.Store, w *storage.Deferred, data []byte) error {
	_, err := w.Commit(ctx)
	if errors.Is(err, storage.ErrExists) {
		old, gerr := storage.ReadAll(ctx, st, w.Key(), 1<<20)
		if gerr != nil {
			return gerr
		}
		if bytes.Equal(old, data) {
			return nil
		}
		return fmt.Errorf("%s: %w", w.Key(), errDiffers)
	}
	return err
}
