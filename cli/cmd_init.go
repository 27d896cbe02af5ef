package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/sign"
	"github.com/openexhibit/exhibit/storage"
	"github.com/openexhibit/exhibit/storage/local"
	"github.com/openexhibit/exhibit/storage/s3"
	"github.com/urfave/cli/v2"
	"golang.org/x/mod/sumdb/note"
)

type initOptions struct {
	home, archive, key, operator string
	objectLock                   string
	insecureNoPassword           bool
	tsa                          []string
	// trustLog is the verifier key of an existing archive's custody log,
	// given to join that archive.
	trustLog string
}

// Names of the files init writes into the home folder.
const (
	keyFile         = "cosign.key"
	pubFile         = "cosign.pub"
	trustFile       = "trust.json"
	trustedRootFile = "trusted_root.json"
)

func initCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "init",
		Usage:     "create a signing key, a trust file and an archive (a folder or an S3 bucket)",
		ArgsUsage: " ",
		Description: "init writes into the home folder (--home, EXHIBIT_HOME): cosign.key (ECDSA P-256, encrypted with\n" +
			"the passphrase from EXHIBIT_PASSWORD or a prompt), cosign.pub, trust.json (the keys verify\n" +
			"accepts), trusted_root.json (for cosign) and config.yaml; and creates the archive. With --key\n" +
			"hashivault://NAME (or another sigstore KMS URI, or an existing key file) no key is generated.\n" +
			"Each --tsa URL (an RFC 3161 timestamp endpoint, e.g. https://tsa.example/api/v1/timestamp) is\n" +
			"asked for its certificate chain (URL/certchain), which goes into trust.json and\n" +
			"trusted_root.json: compare the fingerprints printed with those the TSA's operator publishes.\n" +
			"A new archive gets a custody log: its Ed25519 log key goes to log.key (encrypted like cosign.key)\n" +
			"and its verifier key into trust.json. Joining an archive that has a log needs --trust-log with\n" +
			"the verifier key its creator's init printed; commands that log events then also need that\n" +
			"home's log.key copied into this one (EXHIBIT_LOG_PASSWORD if its passphrase differs).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "object-lock", Usage: "S3 only: create the bucket with Object Lock and retain every object, e.g. compliance:365d or governance:30d"},
			&cli.BoolFlag{Name: "insecure-no-password", Usage: "write the private key unencrypted (anyone who can read it can sign as you)"},
			&cli.StringSliceFlag{Name: "tsa", Usage: "RFC 3161 timestamp authority URL to trust and use (repeatable; env EXHIBIT_TSA, comma-separated)"},
			&cli.StringFlag{Name: "trust-log", Usage: "joining an existing archive: the verifier key of its custody log, as the init that created it printed (compare it out of band)"},
		},
		Action: func(c *cli.Context) error {
			wantJSON(c, e)
			home, err := homeDir(c)
			if err != nil {
				return err
			}
			cfg, err := loadConfig(c, home, true)
			if err != nil {
				return err
			}
			o := initOptions{home: home, archive: cfg.Archive, key: cfg.Key, operator: cfg.Operator,
				objectLock: c.String("object-lock"), insecureNoPassword: c.Bool("insecure-no-password"), tsa: cfg.TSA,
				trustLog: c.String("trust-log")}
			if c.IsSet("tsa") {
				o.tsa = c.StringSlice("tsa")
			}
			res, err := runInit(c.Context, o, cfg)
			if err != nil {
				return err
			}
			if e.json {
				return writeJSON(e.stdout, schemaInit, res)
			}
			fmt.Fprintf(e.stdout, "archive      %s\nkey          %s (%s)\ntrust file   %s\nconfig       %s\n",
				res.Archive, res.KeyFingerprint, res.Key, res.Trust, res.Config)
			for _, t := range res.TSAs {
				fmt.Fprintf(e.stdout, "tsa          %s\n             root %q %s\n             leaf %q %s\n", t.URL, t.Root, t.RootFingerprint, t.Leaf, t.LeafFingerprint)
			}
			if len(res.TSAs) == 0 {
				fmt.Fprintf(e.stdout, "tsa          none: bundles carry no trusted time (see --tsa)\n")
			}
			if res.Log != "" {
				fmt.Fprintf(e.stdout, "custody log  %s\n             verifier key %s\n", res.Log, res.LogVerifierKey)
			} else {
				fmt.Fprintf(e.stdout, "custody log  none: the archive was created before Exhibit kept one\n")
			}
			fmt.Fprintln(e.stdout)
			fmt.Fprintf(e.stdout, "Next: exhibit ingest --case NAME FILE_OR_FOLDER...\n")
			return nil
		},
	}
}

type initResult struct {
	Archive        string    `json:"archive"`
	Key            string    `json:"key"`
	KeyFingerprint string    `json:"keyFingerprint"`
	Trust          string    `json:"trust"`
	Config         string    `json:"config"`
	ObjectLock     string    `json:"objectLock,omitempty"`
	TSAs           []initTSA `json:"tsas,omitempty"`
	// Log is the origin of the archive's custody log and LogVerifierKey
	// its key, to give to verifiers (both empty: the archive has no log).
	Log            string `json:"log,omitempty"`
	LogVerifierKey string `json:"logVerifierKey,omitempty"`
}

// initTSA is a timestamp authority init trusted, with what to compare
// out of band.
type initTSA struct {
	URL             string `json:"url"`
	Root            string `json:"root"`
	RootFingerprint string `json:"rootFingerprint"`
	Leaf            string `json:"leaf"`
	LeafFingerprint string `json:"leafFingerprint"`
}

// fetchTSAs asks each TSA for its certificate chain.
func fetchTSAs(ctx context.Context, urls []string) ([]sign.TrustedTSA, []initTSA, error) {
	var trusted []sign.TrustedTSA
	var shown []initTSA
	seen := map[string]bool{}
	for _, u := range urls {
		if err := checkTSAURL(u); err != nil {
			return nil, nil, err
		}
		if seen[u] {
			continue
		}
		seen[u] = true
		chain, err := sign.FetchTSAChain(ctx, nil, u)
		if err != nil {
			return nil, nil, withCode(ExitIO, err, "check the URL (the TSA's timestamp endpoint) and that the TSA is up, then run init again")
		}
		t, err := sign.NewTrustedTSA(u, chain)
		if err != nil {
			return nil, nil, err
		}
		trusted = append(trusted, t)
		root, leaf := chain[len(chain)-1], chain[0]
		shown = append(shown, initTSA{URL: u, Root: root.Subject.String(), RootFingerprint: sign.CertFingerprint(root),
			Leaf: leaf.Subject.String(), LeafFingerprint: sign.CertFingerprint(leaf)})
	}
	return trusted, shown, nil
}

func checkTSAURL(u string) error {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return usageErr("timestamp authority %q: want an http(s) URL of its timestamp endpoint, e.g. https://tsa.example/api/v1/timestamp", u)
	}
	return nil
}

func runInit(ctx context.Context, o initOptions, cfg *Config) (res *initResult, err error) {
	a, err := parseArchive(o.archive)
	if err != nil {
		return nil, err
	}
	var ret *RetentionConfig
	if o.objectLock != "" {
		if !a.isS3() {
			return nil, usageErr("--object-lock needs an S3 archive: a local folder cannot enforce retention")
		}
		if ret, err = parseRetention(o.objectLock); err != nil {
			return nil, usageErr("%v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(o.home, configName)); err == nil {
		return nil, usageErr("%s is already set up (%s exists): use another --home, or edit its config.yaml", o.home, configName)
	}
	// The TSAs' chains first: a TSA that cannot be reached stops init
	// before anything is written.
	tsas, shownTSAs, err := fetchTSAs(ctx, o.tsa)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.home, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", o.home, err)
	}

	// The key: a KMS URI or existing file as given, or a new cosign key.
	keyRef := o.key
	if keyRef == "" {
		keyRef = keyFile
		made, err := newKeyFile(o.home, o.insecureNoPassword)
		if err != nil {
			return nil, err
		}
		// A key made for an archive that init then refuses (a join without
		// --trust-log, say) is not left behind.
		defer func() {
			if made && err != nil {
				os.Remove(filepath.Join(o.home, keyFile))
			}
		}()
	}
	signer, err := sign.LoadSigner(ctx, inHome(o.home, keyRef), passphrase)
	if err != nil {
		return nil, err
	}
	pub, err := signer.PublicKeyPEM()
	if err != nil {
		return nil, err
	}

	// The archive.
	var st storage.Store
	if a.isS3() {
		opts, err := s3Options(cfg, a)
		if err != nil {
			return nil, err
		}
		if err := s3.CreateBucket(ctx, opts, ret != nil); err != nil {
			return nil, fmt.Errorf("create bucket %s: %w", a.bucket, err)
		}
		if st, err = s3.Open(ctx, opts); err != nil {
			return nil, err
		}
	} else {
		if st, err = local.Create(a.dir); err != nil {
			return nil, fmt.Errorf("create archive %s: %w", a.dir, err)
		}
	}
	desc := custody.Archive{MediaType: custody.ArchiveMediaType, CreatedAt: time.Now().UTC(), Keys: []string{signer.Fingerprint()}}
	if ret != nil {
		desc.RetentionMode, desc.RetentionDays = ret.Mode, ret.Days
	}
	origin, vkey, existing, err := initLog(ctx, st, o)
	if err != nil {
		return nil, err
	}
	desc.Log = origin
	// An existing archive keeps its descriptor (write-once), which initLog
	// read and checked; a new one gets this one.
	if existing == nil {
		if existing, err = putDescriptor(ctx, st, &desc, ret.retention()); err != nil {
			return nil, err
		}
	}
	if err := putIfAbsent(ctx, st, custody.PublicKeyKey(signer.Fingerprint()), pub, ret.retention()); err != nil {
		return nil, err
	}

	// The verifier's files and the configuration, written last so a failed
	// init can simply be run again.
	tf, err := sign.NewTrustFile(signer, o.operator, time.Now())
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
		tf.PinDescriptor(origin, existing.Digest())
	}
	tdata, err := tf.Marshal()
	if err != nil {
		return nil, err
	}
	rootData, err := tf.CosignTrustedRoot()
	if err != nil {
		return nil, err
	}
	for name, data := range map[string][]byte{trustFile: tdata, pubFile: pub, trustedRootFile: rootData} {
		if err := replaceFile(filepath.Join(o.home, name), data, 0o644); err != nil {
			return nil, err
		}
	}
	out := Config{Archive: o.archive, Key: keyRef, Trust: trustFile, Operator: o.operator, S3: cfg.S3,
		Retention: ret, LegalHold: cfg.LegalHold, Jobs: cfg.Jobs, TSA: tf.TSAURIs()}
	if a.isS3() {
		// Credentials stay in the environment, not in a file.
		out.S3.AccessKey, out.S3.SecretKey = "", ""
	} else {
		out.Archive = a.dir
	}
	if err := writeConfig(o.home, &out); err != nil {
		return nil, fmt.Errorf("write configuration: %w", err)
	}
	res = &initResult{Archive: st.Location(), Key: inHome(o.home, keyRef), KeyFingerprint: signer.Fingerprint(),
		Trust: filepath.Join(o.home, trustFile), Config: filepath.Join(o.home, configName), TSAs: shownTSAs,
		Log: origin, LogVerifierKey: vkey}
	if ret != nil {
		res.ObjectLock = fmt.Sprintf("%s:%dd", ret.Mode, ret.Days)
	}
	return res, nil
}

// initLog decides the archive's custody log: a new archive gets a new log
// key (kept in the home folder); an existing archive with a log is joined
// only with --trust-log naming its verifier key; an existing archive
// without one stays without (its descriptor is write-once). existing is the
// descriptor of an existing archive, nil for a new one.
func initLog(ctx context.Context, st storage.Store, o initOptions) (origin, vkey string, existing *custody.Archive, err error) {
	old, err := storage.ReadAll(ctx, st, custody.ArchiveKey, 1<<20)
	switch {
	case err == nil:
		desc, err := custody.ParseArchive(old)
		if err != nil {
			return "", "", nil, usageErr("%s holds something that is not an Exhibit archive: %v", st.Location(), err)
		}
		if desc.Log == "" {
			if o.trustLog != "" {
				return "", "", nil, usageErr("--trust-log: the archive %s has no custody log", st.Location())
			}
			return "", "", desc, nil
		}
		if origin, vkey, ok := logKeyComments(o.home); ok && origin == desc.Log && o.trustLog == "" {
			return origin, vkey, desc, nil // this home made the archive in an interrupted init
		}
		if o.trustLog == "" {
			return "", "", nil, usageErr("the archive %s already has a custody log (%s): to join it, pass --trust-log with the verifier key its creator's init printed (compare it out of band)", st.Location(), desc.Log)
		}
		v, err := note.NewVerifier(o.trustLog)
		if err != nil {
			return "", "", nil, usageErr("--trust-log: %v", err)
		}
		if v.Name() != desc.Log {
			return "", "", nil, usageErr("--trust-log: the key is for log %s, the archive's log is %s", v.Name(), desc.Log)
		}
		return desc.Log, o.trustLog, desc, nil
	case !errors.Is(err, storage.ErrNotFound):
		return "", "", nil, fmt.Errorf("archive %s: %w", st.Location(), err)
	}
	if o.trustLog != "" {
		return "", "", nil, usageErr("--trust-log: %s is a new archive, with no log to join", st.Location())
	}
	if origin, vkey, ok := logKeyComments(o.home); ok {
		return origin, vkey, nil, nil // the key of an earlier, interrupted init
	}
	var pass []byte
	if !o.insecureNoPassword {
		p, err := passphrase(true)
		if err != nil {
			return "", "", nil, fmt.Errorf("%w: %w", sign.ErrPassphrase, err)
		}
		if len(p) == 0 {
			return "", "", nil, usageErr("empty passphrase: choose one (or use --insecure-no-password to store the keys unencrypted)")
		}
		pass = p
	}
	origin = newOrigin()
	vkey, err = newLogKeyFile(o.home, origin, pass)
	return origin, vkey, nil, err
}

// newKeyFile makes the signing key in the home folder, unless an earlier,
// interrupted init left one there, and reports whether it made it.
func newKeyFile(home string, insecure bool) (bool, error) {
	path := filepath.Join(home, keyFile)
	if _, err := os.Stat(path); err == nil {
		return false, nil // reuse the key of an earlier, interrupted init
	}
	var pass []byte
	if !insecure {
		p, err := passphrase(true)
		if err != nil {
			return false, fmt.Errorf("%w: %w", sign.ErrPassphrase, err)
		}
		if len(p) == 0 {
			return false, usageErr("empty passphrase: choose one (or use --insecure-no-password to store the key unencrypted)")
		}
		pass = p
	}
	priv, _, err := sign.GenerateKey(pass)
	if err != nil {
		return false, err
	}
	if err := writeFileExcl(path, priv, 0o600); err != nil {
		return false, fmt.Errorf("write key: %w", err)
	}
	return true, nil
}

// putDescriptor writes the descriptor of a new archive, unless another
// init wrote one first.
// putDescriptor writes a new archive's descriptor once and returns the
// descriptor the archive holds, as read back (its digest is what trust
// files pin).
func putDescriptor(ctx context.Context, st storage.Store, d *custody.Archive, ret storage.Retention) (*custody.Archive, error) {
	data, err := jsonIndent(d)
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
		return nil, usageErr("%s holds something that is not an Exhibit archive: %v", st.Location(), err)
	}
	return stored, nil
}

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

// replaceFile writes a file atomically (temp + fsync + rename).
func replaceFile(path string, data []byte, perm fs.FileMode) error {
	tmp := path + ".tmp"
	os.Remove(tmp)
	if err := writeFileExcl(tmp, data, perm); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
