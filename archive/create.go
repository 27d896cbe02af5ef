package archive

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/internal/files"
	"github.com/openexhibit/exhibit/sign"
	"github.com/openexhibit/exhibit/storage"
)

// CreateOptions say what Create makes.
type CreateOptions struct {
	// Options: Location, S3, Home, Credentials, Operator and TSA are used;
	// Key names an existing key file or KMS key to use (empty: a new
	// KeyFile is made in Home).
	Options
	// ObjectLock makes an S3 bucket with Object Lock that retains every
	// object this long (nil: none; a folder cannot lock).
	ObjectLock *Retention
	// InsecureNoPassword writes the new keys unencrypted.
	InsecureNoPassword bool
	// TrustLog is the verifier key of an existing archive's custody log,
	// to join it (compared out of band with what its creator printed).
	TrustLog string
}

// Created is what Create made, and what to compare out of band.
type Created struct {
	Archive        string       `json:"archive"`
	Key            string       `json:"key"`
	KeyFingerprint string       `json:"keyFingerprint"`
	Trust          string       `json:"trust"`
	ObjectLock     string       `json:"objectLock,omitempty"`
	TSAs           []TrustedTSA `json:"tsas,omitempty"`
	// Log is the origin of the archive's custody log and LogVerifierKey
	// its key, to give to verifiers (both empty: the archive has no log).
	Log            string `json:"log,omitempty"`
	LogVerifierKey string `json:"logVerifierKey,omitempty"`
	// KeyRef is the signing key as the configuration names it (relative to
	// the home folder, or a KMS URI); TSAURLs are the TSAs trusted.
	KeyRef  string   `json:"-"`
	TSAURLs []string `json:"-"`
}

// TrustedTSA is a timestamp authority Create trusted, with what to compare
// out of band.
type TrustedTSA struct {
	URL             string `json:"url"`
	Root            string `json:"root"`
	RootFingerprint string `json:"rootFingerprint"`
	Leaf            string `json:"leaf"`
	LeafFingerprint string `json:"leafFingerprint"`
}

// CheckTSAURL checks that u is an http(s) URL.
func CheckTSAURL(u string) error {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return configErr("timestamp authority %q: want an http(s) URL of its timestamp endpoint, e.g. https://tsa.example/api/v1/timestamp", u)
	}
	return nil
}

// fetchTSAs asks each TSA for its certificate chain.
func fetchTSAs(ctx context.Context, urls []string) ([]sign.TrustedTSA, []TrustedTSA, error) {
	var trusted []sign.TrustedTSA
	var shown []TrustedTSA
	seen := map[string]bool{}
	for _, u := range urls {
		if err := CheckTSAURL(u); err != nil {
			return nil, nil, err
		}
		if seen[u] {
			continue
		}
		seen[u] = true
		chain, err := sign.FetchTSAChain(ctx, nil, u)
		if err != nil {
			return nil, nil, withKind(KindIO, err, "check the URL (the TSA's timestamp endpoint) and that the TSA is up, then run init again")
		}
		t, err := sign.NewTrustedTSA(u, chain)
		if err != nil {
			return nil, nil, err
		}
		trusted = append(trusted, t)
		root, leaf := chain[len(chain)-1], chain[0]
		shown = append(shown, TrustedTSA{URL: u, Root: root.Subject.String(), RootFingerprint: sign.CertFingerprint(root),
			Leaf: leaf.Subject.String(), LeafFingerprint: sign.CertFingerprint(leaf)})
	}
	return trusted, shown, nil
}

// Create makes a new archive, or joins an existing one, from the home
// folder o.Home: the signing key (unless o.Key names one), the custody log
// key of a new archive, the archive descriptor, the published public key,
// and the trust files (TrustFile, PubFile, TrustedRootFile), written last
// so that a Create that failed can simply be run again.
func Create(ctx context.Context, o CreateOptions) (res *Created, err error) {
	l := o.Location
	if o.ObjectLock != nil && !l.IsS3() {
		return nil, configErr("--object-lock needs an S3 archive: a local folder cannot enforce retention")
	}
	// The TSAs' chains first: a TSA that cannot be reached stops Create
	// before anything is written.
	tsas, shownTSAs, err := fetchTSAs(ctx, o.TSA)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Home, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", o.Home, err)
	}

	// The key: a KMS URI or existing file as given, or a new cosign key.
	keyRef := o.Key
	if keyRef == "" {
		keyRef = KeyFile
		made, err := newKeyFile(ctx, o)
		if err != nil {
			return nil, err
		}
		// A key made for an archive that Create then refuses (a join
		// without TrustLog, say) is not left behind.
		defer func() {
			if made && err != nil {
				os.Remove(filepath.Join(o.Home, KeyFile))
			}
		}()
	}
	signer, err := sign.LoadSigner(ctx, o.path(keyRef), func(create bool) ([]byte, error) {
		return passphrase(ctx, o.Credentials, SigningKey, create)
	})
	if err != nil {
		return nil, err
	}
	pub, err := signer.PublicKeyPEM()
	if err != nil {
		return nil, err
	}

	st := o.Store
	if st == nil {
		if st, err = createStore(ctx, l, o.S3, o.ObjectLock != nil); err != nil {
			return nil, err
		}
	}
	desc := custody.Archive{MediaType: custody.ArchiveMediaType, CreatedAt: time.Now().UTC(), Keys: []string{signer.Fingerprint()}}
	if r := o.ObjectLock; r != nil {
		desc.RetentionMode, desc.RetentionDays = r.Mode, r.Days
	}
	origin, vkey, existing, err := initLog(ctx, st, o)
	if err != nil {
		return nil, err
	}
	desc.Log = origin
	// An existing archive keeps its descriptor (write-once), which initLog
	// read and checked; a new one gets this one.
	if existing == nil {
		if existing, err = putDescriptor(ctx, st, &desc, o.ObjectLock.now()); err != nil {
			return nil, err
		}
	}
	if err := putIfAbsent(ctx, st, custody.PublicKeyKey(signer.Fingerprint()), pub, o.ObjectLock.now()); err != nil {
		return nil, err
	}

	tf, err := writeTrust(o.Home, signer, pub, o.Operator, tsas, vkey, existing)
	if err != nil {
		return nil, err
	}
	res = &Created{Archive: st.Location(), Key: o.path(keyRef), KeyFingerprint: signer.Fingerprint(),
		Trust: filepath.Join(o.Home, TrustFile), TSAs: shownTSAs, Log: origin, LogVerifierKey: vkey,
		KeyRef: keyRef, TSAURLs: tf.TSAURIs()}
	if r := o.ObjectLock; r != nil {
		res.ObjectLock = fmt.Sprintf("%s:%dd", r.Mode, r.Days)
	}
	return res, nil
}

// writeTrust writes the home folder's trust files: the trust file
// (signer's key, the TSAs, the log key vkey when there is a log, with the
// archive descriptor's digest pinned), the public key pub and cosign's
// trusted root.
func writeTrust(home string, signer *sign.Signer, pub []byte, operator string, tsas []sign.TrustedTSA, vkey string, desc *custody.Archive) (*sign.TrustFile, error) {
	tf, err := sign.NewTrustFile(signer, operator, time.Now())
	if err != nil {
		return nil, err
	}
	for _, t := range tsas {
		if err := tf.AddTSA(t); err != nil {
			return nil, err
		}
	}
	if vkey != "" {
		if err := tf.AddLog(vkey, time.Now()); err != nil {
			return nil, err
		}
		// The descriptor is write-once: verifiers refuse any other.
		tf.PinDescriptor(desc.Log, desc.Digest())
	}
	tdata, err := tf.Marshal()
	if err != nil {
		return nil, err
	}
	rootData, err := tf.CosignTrustedRoot()
	if err != nil {
		return nil, err
	}
	for name, data := range map[string][]byte{TrustFile: tdata, PubFile: pub, TrustedRootFile: rootData} {
		if err := files.Replace(filepath.Join(home, name), data, 0o644); err != nil {
			return nil, err
		}
	}
	return tf, nil
}

// initLog decides the archive's custody log: a new archive gets a new log
// key (kept in the home folder); an existing archive with a log is joined
// only with TrustLog naming its verifier key; an existing archive without
// one stays without (its descriptor is write-once). existing is the
// descriptor of an existing archive, nil for a new one.
func initLog(ctx context.Context, st storage.Store, o CreateOptions) (origin, vkey string, existing *custody.Archive, err error) {
	old, err := storage.ReadAll(ctx, st, custody.ArchiveKey, 1<<20)
	switch {
	case err == nil:
		desc, err := custody.ParseArchive(old)
		if err != nil {
			return "", "", nil, configErr("%s holds something that is not an Exhibit archive: %v", st.Location(), err)
		}
		if desc.Log == "" {
			if o.TrustLog != "" {
				return "", "", nil, configErr("--trust-log: the archive %s has no custody log", st.Location())
			}
			return "", "", desc, nil
		}
		if origin, vkey, ok := logKeyComments(o.Home); ok && origin == desc.Log && o.TrustLog == "" {
			return origin, vkey, desc, nil // this home made the archive in an interrupted init
		}
		if o.TrustLog == "" {
			return "", "", nil, configErr("the archive %s already has a custody log (%s): to join it, pass --trust-log with the verifier key its creator's init printed (compare it out of band)", st.Location(), desc.Log)
		}
		v, err := note.NewVerifier(o.TrustLog)
		if err != nil {
			return "", "", nil, configErr("--trust-log: %v", err)
		}
		if v.Name() != desc.Log {
			return "", "", nil, configErr("--trust-log: the key is for log %s, the archive's log is %s", v.Name(), desc.Log)
		}
		return desc.Log, o.TrustLog, desc, nil
	case !errors.Is(err, storage.ErrNotFound):
		return "", "", nil, fmt.Errorf("archive %s: %w", st.Location(), err)
	}
	if o.TrustLog != "" {
		return "", "", nil, configErr("--trust-log: %s is a new archive, with no log to join", st.Location())
	}
	if origin, vkey, ok := logKeyComments(o.Home); ok {
		return origin, vkey, nil, nil // the key of an earlier, interrupted init
	}
	pass, err := newPassphrase(ctx, o, LogKey)
	if err != nil {
		return "", "", nil, err
	}
	origin = newOrigin()
	vkey, err = newLogKeyFile(o.Home, origin, pass)
	return origin, vkey, nil, err
}

// newPassphrase asks for the passphrase of a new key (nil with
// InsecureNoPassword).
func newPassphrase(ctx context.Context, o CreateOptions, role KeyRole) ([]byte, error) {
	if o.InsecureNoPassword {
		return nil, nil
	}
	p, err := passphrase(ctx, o.Credentials, role, true)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", sign.ErrPassphrase, err)
	}
	if len(p) == 0 {
		return nil, configErr("empty passphrase: choose one (or use --insecure-no-password to store the keys unencrypted)")
	}
	return p, nil
}

// newKeyFile makes the signing key in the home folder, unless an earlier,
// interrupted Create left one there, and reports whether it made it.
func newKeyFile(ctx context.Context, o CreateOptions) (bool, error) {
	path := filepath.Join(o.Home, KeyFile)
	if _, err := os.Stat(path); err == nil {
		return false, nil // reuse the key of an earlier, interrupted init
	}
	pass, err := newPassphrase(ctx, o, SigningKey)
	if err != nil {
		return false, err
	}
	priv, _, err := sign.GenerateKey(pass)
	if err != nil {
		return false, err
	}
	if err := files.WriteNew(path, priv, 0o600); err != nil {
		return false, fmt.Errorf("write key: %w", err)
	}
	return true, nil
}

// putDescriptor writes a new archive's descriptor once and returns the
// descriptor the archive holds, as read back (its digest is what trust
// files pin).
func putDescriptor(ctx context.Context, st storage.Store, d *custody.Archive, ret storage.Retention) (*custody.Archive, error) {
	data, err := d.Marshal()
	if err != nil {
		return nil, err
	}
	err = putIfAbsent(ctx, st, custody.ArchiveKey, data, ret)
	if err == nil {
		return custody.ParseArchive(data)
	}
	if !errors.Is(err, errDiffers) {
		return nil, err
	}
	// Created since initLog looked (another init at the same time):
	// joining it is fine if it is one.
	old, err := storage.ReadAll(ctx, st, custody.ArchiveKey, 1<<20)
	if err != nil {
		return nil, err
	}
	stored, err := custody.ParseArchive(old)
	if err != nil {
		return nil, configErr("%s holds something that is not an Exhibit archive: %v", st.Location(), err)
	}
	return stored, nil
}
