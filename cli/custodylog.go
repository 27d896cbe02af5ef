package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"golang.org/x/mod/sumdb/note"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/custody/ledger"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/sign"
	"github.com/openexhibit/exhibit/storage"
	"github.com/openexhibit/exhibit/verify"
)

// Files of the custody log in the home folder.
const (
	// logKeyFile holds the archive's log key (Ed25519), encrypted like
	// cosign.key.
	logKeyFile = "log.key"
	// logStateDir holds, per log origin, the newest checkpoint this home
	// has verified (as the Go checksum database client remembers its
	// latest tree), so that a rollback or a fork of the archive's log is
	// noticed.
	logStateDir = "logstate"
	// originPrefix starts every origin init makes.
	originPrefix = "exhibit.archive/"
)

// errNoLog: the archive has no custody log (made before logs existed).
var errNoLog = errors.New("the archive has no custody log (it was created before Exhibit kept one)")

// untrustedLogError: the trust file lists no key of the archive's log.
type untrustedLogError struct {
	origin string
	err    error
}

func (e *untrustedLogError) Error() string {
	return fmt.Sprintf("%v: add the verifier key of the archive's log %s to the trust file (exhibit init printed it)", e.err, e.origin)
}

func (e *untrustedLogError) Unwrap() error { return e.err }

// newOrigin returns a fresh, random log origin for a new archive.
func newOrigin() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return originPrefix + hex.EncodeToString(b[:])
}

// noteKeys returns the signed-note signer and verifier keys of an Ed25519
// key named origin.
func noteKeys(origin string, priv ed25519.PrivateKey) (skey, vkey string, err error) {
	vkey, err = note.NewEd25519VerifierKey(origin, priv.Public().(ed25519.PublicKey))
	if err != nil {
		return "", "", err
	}
	// vkey is name+hash+base64(alg||pub); the signer key has the same name
	// and hash, with the seed.
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return "", "", errors.New("unexpected verifier key format")
	}
	seed := append([]byte{1}, priv.Seed()...) // 1 is note's Ed25519 algorithm
	skey = "PRIVATE+KEY+" + parts[0] + "+" + parts[1] + "+" + base64.StdEncoding.EncodeToString(seed)
	return skey, vkey, nil
}

// newLogKeyFile makes the archive's log key, writes it to the home folder
// (encrypted with pass, or plain when pass is empty) and returns its
// verifier key.
func newLogKeyFile(home, origin string, pass []byte) (string, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	_, vkey, err := noteKeys(origin, priv)
	if err != nil {
		return "", err
	}
	var block *pem.Block
	if len(pass) > 0 {
		der, err := cryptoutils.MarshalPrivateKeyToEncryptedDER(priv, func(bool) ([]byte, error) { return pass, nil })
		if err != nil {
			return "", fmt.Errorf("encrypt log key: %w", err)
		}
		block = &pem.Block{Type: string(cryptoutils.EncryptedSigstorePrivateKeyPEMType), Bytes: der}
	} else {
		der, err := cryptoutils.MarshalPrivateKeyToDER(priv)
		if err != nil {
			return "", err
		}
		block = &pem.Block{Type: string(cryptoutils.PrivateKeyPEMType), Bytes: der}
	}
	data := append([]byte("# custody log key of "+origin+"\n# verifier key "+vkey+"\n"), pem.EncodeToMemory(block)...)
	if err := writeFileExcl(filepath.Join(home, logKeyFile), data, 0o600); err != nil {
		return "", fmt.Errorf("write log key: %w", err)
	}
	return vkey, nil
}

// logKeyComments returns the origin and verifier key written as comments
// in an existing log key file (an init that stopped before writing the
// archive descriptor is run again with the same key).
func logKeyComments(home string) (origin, vkey string, ok bool) {
	data, err := os.ReadFile(filepath.Join(home, logKeyFile))
	if err != nil {
		return "", "", false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if o, found := strings.CutPrefix(line, "# custody log key of "); found {
			origin = o
		}
		if v, found := strings.CutPrefix(line, "# verifier key "); found {
			vkey = v
		}
	}
	if v, err := note.NewVerifier(vkey); err != nil || v.Name() != origin {
		return "", "", false
	}
	return origin, vkey, true
}

// loadLogSigner decrypts the home folder's log key (with EXHIBIT_LOG_PASSWORD
// when set, else the signing key's passphrase) and checks that it is the key
// of the log named origin. Errors wrap fs.ErrNotExist when there is no key.
func loadLogSigner(home, origin string) (note.Signer, error) {
	path := filepath.Join(home, logKeyFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("custody log key %s: %w", path, err)
	}
	rest := data
	for len(rest) > 0 && rest[0] == '#' {
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			rest = rest[i+1:]
		} else {
			rest = nil
		}
	}
	var pf cryptoutils.PassFunc
	if block, _ := pem.Decode(rest); block != nil && block.Type == string(cryptoutils.EncryptedSigstorePrivateKeyPEMType) {
		pw, ok := os.LookupEnv("EXHIBIT_LOG_PASSWORD")
		if !ok {
			p, err := passphrase(false)
			if err != nil {
				return nil, withCode(ExitKey, fmt.Errorf("custody log key %s: %w", path, err), "")
			}
			pw = string(p)
		}
		pf = func(bool) ([]byte, error) { return []byte(pw), nil }
	}
	k, err := cryptoutils.UnmarshalPEMToPrivateKey(rest, pf)
	if err != nil {
		if strings.Contains(err.Error(), "decryption failed") {
			return nil, withCode(ExitKey, &logPassphraseError{path},
				"the log key is encrypted with the passphrase given at init (set EXHIBIT_LOG_PASSWORD if it differs from the signing key's)")
		}
		return nil, withCode(ExitKey, fmt.Errorf("custody log key %s: %w", path, err), "")
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, withCode(ExitKey, fmt.Errorf("custody log key %s: not an Ed25519 key", path), "")
	}
	skey, _, err := noteKeys(origin, priv)
	if err != nil {
		return nil, err
	}
	return note.NewSigner(skey)
}

// logPassphraseError: the custody log key does not open with the
// passphrase given. It is a sign.ErrPassphrase, named for the log key.
type logPassphraseError struct{ path string }

func (e *logPassphraseError) Error() string {
	return "wrong passphrase for the custody log key " + e.path
}
func (e *logPassphraseError) Is(target error) bool { return target == sign.ErrPassphrase }

// custodyLog is an archive's log as this home sees it.
type custodyLog struct {
	log    *ledger.Log
	store  storage.Store
	origin string
	home   string
	// writable is true when the log key was loaded; keyErr is why a log
	// key this home holds did not open (a wrong passphrase), when it did not.
	writable bool
	keyErr   error
	// remembered is the newest checkpoint this home verified before (nil:
	// none).
	remembered *custody.Checkpoint
	// verifiers are the trusted log keys.
	verifiers note.Verifiers
	// trust is the trust file's verifier (trusted keys and TSAs), when
	// opened by openLogFor.
	trust *sign.Verifier
	// retention is the archive's Object Lock retention, which item
	// pointers get like the log's own objects (nil: none).
	retention *RetentionConfig
}

// logMode says what a command needs of the log key.
type logMode int

const (
	logRead     logMode = iota // never load the key
	logWrite                   // load the key or fail
	logTryWrite                // load the key if it is there and opens
)

// openLog opens the custody log of the archive st (desc: its descriptor,
// as openStore returned it) with the keys the trust file lists for its
// origin. It returns errNoLog for an archive without a log, when the trust
// file trusts no log (else a *verify.DescriptorError).
// With logTryWrite a key that is missing or does not open gives a
// read-only log and the reason in msg.
//
// Checkpoints this Log publishes are timestamped by the configured TSAs;
// when none answers, the checkpoint is published with an empty token (a
// recorded absence, reported by verify like a missing one) and a warning
// goes to stamp.warn, unless stamp.require makes it an error.
func openLog(ctx context.Context, home string, cfg *Config, st storage.Store, desc *custody.Archive, tf *sign.TrustFile, mode logMode, stamp stampPolicy) (cl *custodyLog, msg string, err error) {
	// What the descriptor declares is checked against the trust file
	// first: an edited descriptor must not switch the log off.
	if err := verify.CheckDescriptor(tf, desc); err != nil {
		return nil, "", err
	}
	if desc.Log == "" {
		return nil, "", errNoLog
	}
	ls, ok := storage.Swapping(st)
	if !ok {
		return nil, "", fmt.Errorf("archive %s cannot keep a custody log (no compare-and-swap)", st.Location())
	}
	vs, err := tf.LogVerifiers(desc.Log)
	if err != nil {
		return nil, "", &exitError{code: ExitUsage, err: &untrustedLogError{origin: desc.Log, err: err}}
	}
	opts := ledger.Options{Origin: desc.Log, Verifiers: vs}
	writable := false
	var keyErr error
	if mode != logRead {
		s, err := loadLogSigner(home, desc.Log)
		switch {
		case err == nil:
			opts.Signer, writable = s, true
		case mode == logTryWrite:
			msg = "read-only: the custody log key could not be used (" + err.Error() + "); no event is logged"
			if errors.Is(err, fs.ErrNotExist) {
				msg = "read-only: this home folder has no custody log key (" + logKeyFile + "); no event is logged"
			} else {
				keyErr = err
			}
		default:
			if errors.Is(err, fs.ErrNotExist) {
				return nil, "", withCode(ExitKey, fmt.Errorf("no custody log key in %s: this command logs an event and cannot without it", home),
					"use the home folder that created the archive, or copy its "+logKeyFile+" here")
			}
			return nil, "", err
		}
		if writable {
			ts, err := timestamper(cfg, tf, false)
			if err != nil {
				return nil, "", err
			}
			if ts != nil {
				opts.Timestamper = checkpointStamper{ts: ts, stampPolicy: stamp}
			}
			if r := cfg.Retention; r != nil {
				opts.Retention = r.retention
			}
		}
	}
	l, err := ledger.New(ls, opts)
	if err != nil {
		return nil, "", err
	}
	cl = &custodyLog{log: l, store: st, origin: desc.Log, home: home, writable: writable, keyErr: keyErr, verifiers: vs, retention: cfg.Retention}
	if cl.remembered, err = cl.loadRemembered(); err != nil {
		return nil, "", err
	}
	if cl.remembered != nil {
		l.Trust(*cl.remembered)
	}
	if mode == logWrite {
		// A command that must log checks the log before it does anything:
		// it will not act on an archive whose log it cannot extend.
		if _, _, err := l.Latest(ctx); err != nil {
			return nil, "", logFailure(err)
		}
	}
	return cl, msg, nil
}

// stampPolicy says what to do when no TSA timestamps a checkpoint.
type stampPolicy struct {
	require bool
	warn    io.Writer
}

// checkpointStamper timestamps checkpoints with the first configured TSA
// that answers.
type checkpointStamper struct {
	ts *sign.Timestamper
	stampPolicy
}

func (c checkpointStamper) Timestamp(ctx context.Context, signed []byte) ([]byte, error) {
	var errs []error
	for _, u := range c.ts.URLs {
		tok, err := c.ts.Timestamp(ctx, u, signed)
		if err == nil {
			return tok, nil
		}
		errs = append(errs, err)
	}
	err := errors.Join(errs...)
	if c.require || ctx.Err() != nil {
		return nil, err
	}
	if c.warn != nil {
		fmt.Fprintf(c.warn, "warning  custody log checkpoint published without a timestamp: %v\n", err)
	}
	return []byte{}, nil
}

func (cl *custodyLog) statePath() string {
	return filepath.Join(cl.home, logStateDir, url.PathEscape(cl.origin), "latest")
}

// loadRemembered reads the checkpoint this home verified last.
func (cl *custodyLog) loadRemembered() (*custody.Checkpoint, error) {
	data, err := os.ReadFile(cl.statePath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the remembered checkpoint: %w", err)
	}
	c, err := custody.OpenCheckpoint(data, cl.verifiers, cl.origin)
	if err != nil {
		return nil, withCode(ExitVerifyFail, fmt.Errorf("the checkpoint remembered in %s does not verify: %w", cl.statePath(), err),
			"it was written by this program after verifying it: check who changed it or the trust file")
	}
	return &c, nil
}

// remember stores a verified checkpoint as the newest this home knows, if
// it is newer than the one stored. Two processes racing may leave the
// smaller of two checkpoints that both extend the previous one; never an
// older one than was there.
func (cl *custodyLog) remember(c custody.Checkpoint, signed []byte) error {
	if len(signed) == 0 || (cl.remembered != nil && c.Size <= cl.remembered.Size) {
		return nil
	}
	if cur, err := cl.loadRemembered(); err == nil && cur != nil && cur.Size >= c.Size {
		return nil
	}
	path := cl.statePath()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("remember checkpoint: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".latest-*")
	if err != nil {
		return fmt.Errorf("remember checkpoint: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(signed); err != nil {
		f.Close()
		return fmt.Errorf("remember checkpoint: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("remember checkpoint: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("remember checkpoint: %w", err)
	}
	cl.remembered = &c
	return nil
}

// appended is one event the log holds, with its index.
type appended struct {
	Index int64
	Event *custody.Event
}

// append adds events in batches of at most ledger.MaxBatch (one
// checkpoint each), writes each item event's pointer, and remembers the
// newest checkpoint.
func (cl *custodyLog) append(ctx context.Context, events []*custody.Event) ([]appended, error) {
	var out []appended
	for start := 0; start < len(events); start += ledger.MaxBatch {
		end := min(start+ledger.MaxBatch, len(events))
		a, err := cl.log.Append(ctx, events[start:end])
		if err != nil {
			return out, fmt.Errorf("custody log: append %d events: %w", end-start, err)
		}
		for i, ev := range events[start:end] {
			out = append(out, appended{Index: a.First + int64(i), Event: ev})
		}
		if err := cl.remember(a.Checkpoint, a.Signed); err != nil {
			return out, err
		}
	}
	if err := cl.putPointers(ctx, out); err != nil {
		return out, err
	}
	if err := storage.Sync(ctx, cl.store); err != nil {
		return out, fmt.Errorf("custody log: %w", err)
	}
	return out, nil
}

// putPointers writes one pointer per run of an item's consecutive events
// (verify.PointerKey): write-once, holding the events' bytes. All are
// started before any is committed (see putDeferred).
func (cl *custodyLog) putPointers(ctx context.Context, events []appended) error {
	type pointer struct {
		w           *storage.Deferred
		data        []byte
		first, last int64
	}
	var ps []pointer
	defer func() {
		for _, p := range ps {
			p.w.Discard(context.WithoutCancel(ctx))
		}
	}()
	for start := 0; start < len(events); {
		item := events[start].Event.Item
		end := start + 1
		for end < len(events) && events[end].Event.Item == item && events[end].Index == events[end-1].Index+1 {
			end++
		}
		if item != "" {
			id, err := hashing.ParseDigest(item)
			if err != nil {
				return err
			}
			var entries [][]byte
			for _, a := range events[start:end] {
				data, err := a.Event.Marshal()
				if err != nil {
					return err
				}
				entries = append(entries, data)
			}
			first := events[start].Index
			data := verify.EncodePointer(entries)
			ps = append(ps, pointer{putDeferred(ctx, cl.store, verify.PointerKey(id, first), data, cl.retention.retention()), data, first, events[end-1].Index})
		}
		start = end
	}
	for _, p := range ps {
		if err := commitIfAbsent(ctx, cl.store, p.w, p.data); err != nil {
			return fmt.Errorf("custody log: write the pointer to events %d to %d (they are logged; verify will not find them): %w", p.first, p.last, err)
		}
	}
	return nil
}

// hasIngested reports whether the item has a pointer to an ingested event.
func hasIngested(ctx context.Context, st storage.Store, id hashing.Digest) (bool, error) {
	ps, err := verify.ReadPointers(ctx, st, id)
	if err != nil {
		return false, err
	}
	for _, p := range ps {
		for _, e := range p.Entries {
			if ev, err := custody.ParseEvent(e); err == nil && ev.Type == custody.EventIngested {
				return true, nil
			}
		}
	}
	return false, nil
}

// actor is who this process acts as in events.
func actor(fingerprint, operator string) custody.Actor {
	host, _ := os.Hostname()
	return custody.Actor{KeyFingerprint: fingerprint, Operator: operator, Host: host}
}

// homeKeyFingerprint is the fingerprint of the home folder's signing key
// (cosign.pub, which init writes for file and KMS keys alike), for events
// of commands that do not sign.
func homeKeyFingerprint(home string) (string, error) {
	data, err := os.ReadFile(filepath.Join(home, pubFile))
	if err != nil {
		return "", withCode(ExitKey, fmt.Errorf("read %s: %w", pubFile, err), "events name the home folder's key: run exhibit init")
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(data)
	if err != nil {
		return "", withCode(ExitKey, fmt.Errorf("%s: %w", pubFile, err), "")
	}
	fp, _, err := sign.KeyID(pub)
	return fp, err
}

// logAccess appends an accessed event for item id on behalf of command.
func logAccess(ctx context.Context, cl *custodyLog, home, operator string, id hashing.Digest, command string) error {
	fp, err := homeKeyFingerprint(home)
	if err != nil {
		return err
	}
	ev := &custody.Event{V: custody.EventVersion, Type: custody.EventAccessed, Item: id.String(), Time: time.Now().UTC(),
		Actor: actor(fp, operator), Command: command}
	_, err = cl.append(ctx, []*custody.Event{ev})
	return err
}

// openLogFor opens the log of the archive for a command that reads items,
// with the trust file the command loaded (loadVerifier: trust and tf), which
// the log keeps. mode says what it needs of the log key. An archive without
// a log gives a nil log and a note.
func openLogFor(ctx context.Context, e *env, home string, cfg *Config, st storage.Store, desc *custody.Archive, trust *sign.Verifier, tf *sign.TrustFile, mode logMode) (*custodyLog, string, error) {
	cl, msg, err := openLog(ctx, home, cfg, st, desc, tf, mode, stampPolicy{warn: e.stderr})
	if errors.Is(err, errNoLog) {
		return nil, err.Error() + ": no event is logged", nil
	}
	if cl != nil {
		cl.trust = trust
	}
	return cl, msg, err
}
