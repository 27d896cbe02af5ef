package sign

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"golang.org/x/mod/sumdb/note"
)

// TrustMediaType identifies a trust file of version 1: keys only. Version 2
// adds TimestampAuthorities and Logs, which verifiers of version 1 refuse as
// unknown fields. [TrustFile.Marshal] writes the lowest version that holds
// the content, so a file with keys only stays readable by older verifiers.
// Both versions are read, and version 1 files that list TSAs (as written
// before version 2 covered them) are still accepted.
const TrustMediaType = "application/vnd.exhibit.trust+json;version=1"

// TrustMediaTypeV2 is the media type of a trust file that lists TSAs or logs.
const TrustMediaTypeV2 = "application/vnd.exhibit.trust+json;version=2"

// TrustMediaTypeV3 is the media type of a trust file that pins an archive
// descriptor (TrustedLog.Descriptor), which version 2 verifiers refuse as
// an unknown field.
const TrustMediaTypeV3 = "application/vnd.exhibit.trust+json;version=3"

// TrustFile lists the keys and timestamp authorities a verifier accepts. It
// is kept by the verifier (never read from the archive it checks) and is
// specified in docs/formats.md.
type TrustFile struct {
	// MediaType is the media type as read; Marshal writes the one the
	// content needs instead (see [TrustMediaType]).
	MediaType string       `json:"mediaType"`
	Keys      []TrustedKey `json:"keys"`
	// TimestampAuthorities are the TSAs whose RFC 3161 timestamps count as
	// trusted time; none means that no time is proven.
	TimestampAuthorities []TrustedTSA `json:"timestampAuthorities,omitempty"`
	// Logs are the custody logs whose checkpoints the verifier accepts:
	// one per archive, named by its origin.
	Logs []TrustedLog `json:"logs,omitempty"`
}

// TrustedLog is one archive's custody log: its origin and the verifier
// key (signed-note format, "<origin>+<hash>+<base64 key>") of its log key.
type TrustedLog struct {
	Origin      string    `json:"origin"`
	VerifierKey string    `json:"verifierKey"`
	AddedAt     time.Time `json:"addedAt"`
	// Descriptor is "sha256:<hex>" of the archive descriptor
	// (exhibit-archive.json) as init wrote or found it: the descriptor is
	// written once, so a verifier refuses any other (a downgrade of its
	// log or retention). Empty in trust files written before it existed.
	Descriptor string `json:"descriptor,omitempty"`
}

// PinDescriptor records the digest of the descriptor of the archive whose
// log is origin, on every trusted key of that log.
func (t *TrustFile) PinDescriptor(origin, digest string) {
	for i := range t.Logs {
		if t.Logs[i].Origin == origin {
			t.Logs[i].Descriptor = digest
		}
	}
}

// Descriptors returns the descriptor digests pinned for the log origin.
func (t *TrustFile) Descriptors(origin string) []string {
	var out []string
	for _, l := range t.Logs {
		if l.Origin == origin && l.Descriptor != "" {
			out = append(out, l.Descriptor)
		}
	}
	return out
}

// AddLog trusts a custody log's verifier key, whose name must be the
// log's origin (idempotent).
func (t *TrustFile) AddLog(vkey string, now time.Time) error {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return fmt.Errorf("sign: log verifier key: %w", err)
	}
	for _, l := range t.Logs {
		if l.VerifierKey == vkey {
			return nil
		}
	}
	t.Logs = append(t.Logs, TrustedLog{Origin: v.Name(), VerifierKey: vkey, AddedAt: now.UTC()})
	return nil
}

// LogVerifiers returns the trusted keys of the log named origin; none is
// an error (the trust file does not trust that log).
func (t *TrustFile) LogVerifiers(origin string) (note.Verifiers, error) {
	var vs []note.Verifier
	for _, l := range t.Logs {
		if l.Origin != origin {
			continue
		}
		v, err := note.NewVerifier(l.VerifierKey)
		if err != nil {
			return nil, fmt.Errorf("sign: trust file log %s: %w", origin, err)
		}
		vs = append(vs, v)
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("sign: the trust file trusts no key of the custody log %s", origin)
	}
	return note.VerifierList(vs...), nil
}

// TrustedKey is one accepted signing key.
type TrustedKey struct {
	// Fingerprint is "sha256:<hex>" of the PKIX DER; it must match PublicKey.
	Fingerprint string `json:"fingerprint"`
	// PublicKey is the PKIX public key in PEM form.
	PublicKey string `json:"publicKey"`
	// Operator names who holds the key (informational).
	Operator string `json:"operator,omitempty"`
	// Ref is where the private key lives (file name or KMS URI; informational).
	Ref string `json:"ref,omitempty"`
	// AddedAt is when the key was trusted (informational).
	AddedAt time.Time `json:"addedAt"`
}

// NewTrustFile returns a trust file holding the given signer's key.
func NewTrustFile(s *Signer, operator string, now time.Time) (*TrustFile, error) {
	t := &TrustFile{MediaType: TrustMediaType}
	return t, t.Add(s, operator, now)
}

// Add trusts the signer's public key (idempotent).
func (t *TrustFile) Add(s *Signer, operator string, now time.Time) error {
	for _, k := range t.Keys {
		if k.Fingerprint == s.fingerprint {
			return nil
		}
	}
	pemBytes, err := s.PublicKeyPEM()
	if err != nil {
		return err
	}
	ref := s.ref
	if !IsKMSRef(ref) {
		ref = ""
	}
	t.Keys = append(t.Keys, TrustedKey{Fingerprint: s.fingerprint, PublicKey: string(pemBytes),
		Operator: operator, Ref: ref, AddedAt: now.UTC()})
	return nil
}

// Marshal encodes the trust file as indented JSON, with the media type its
// content needs (see neededMediaType) whatever t.MediaType says.
func (t *TrustFile) Marshal() ([]byte, error) {
	c := *t
	c.MediaType = t.neededMediaType()
	b, err := json.MarshalIndent(&c, "", "  ")
	return append(b, '\n'), err
}

// neededMediaType is the lowest version that holds t: version 2 when it lists
// TSAs or logs, which version 1 verifiers refuse, else version 1.
func (t *TrustFile) neededMediaType() string {
	for _, l := range t.Logs {
		if l.Descriptor != "" {
			return TrustMediaTypeV3
		}
	}
	if len(t.TimestampAuthorities) > 0 || len(t.Logs) > 0 {
		return TrustMediaTypeV2
	}
	return TrustMediaType
}

// ReadTrustFile loads and checks a trust file.
func ReadTrustFile(path string) (*TrustFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sign: read trust file: %w", err)
	}
	return ParseTrustFile(data)
}

// ParseTrustFile decodes a trust file and checks that every fingerprint
// matches its key.
func ParseTrustFile(data []byte) (*TrustFile, error) {
	var t TrustFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("sign: trust file: %w", err)
	}
	if t.MediaType != TrustMediaType && t.MediaType != TrustMediaTypeV2 && t.MediaType != TrustMediaTypeV3 {
		return nil, fmt.Errorf("sign: trust file: media type %q, want %q, %q or %q", t.MediaType, TrustMediaType, TrustMediaTypeV2, TrustMediaTypeV3)
	}
	// Version 1 with TSAs is accepted: such files were written before
	// version 2 covered TSAs. Logs were always version 2.
	if t.MediaType == TrustMediaType && len(t.Logs) > 0 {
		return nil, fmt.Errorf("sign: trust file: logs need media type %q", TrustMediaTypeV2)
	}
	for i, l := range t.Logs {
		v, err := note.NewVerifier(l.VerifierKey)
		if err != nil {
			return nil, fmt.Errorf("sign: trust file log %d: %w", i+1, err)
		}
		if v.Name() != l.Origin {
			return nil, fmt.Errorf("sign: trust file log %d: key named %q for origin %q", i+1, v.Name(), l.Origin)
		}
		if l.Descriptor != "" {
			if t.MediaType != TrustMediaTypeV3 {
				return nil, fmt.Errorf("sign: trust file log %d: a descriptor needs media type %q", i+1, TrustMediaTypeV3)
			}
			if b, err := hex.DecodeString(strings.TrimPrefix(l.Descriptor, "sha256:")); err != nil || len(b) != sha256.Size || !strings.HasPrefix(l.Descriptor, "sha256:") {
				return nil, fmt.Errorf("sign: trust file log %d: descriptor %q: want sha256:<64 hex>", i+1, l.Descriptor)
			}
		}
	}
	if len(t.Keys) == 0 {
		return nil, errors.New("sign: trust file lists no keys")
	}
	for i, k := range t.Keys {
		pub, err := cryptoutils.UnmarshalPEMToPublicKey([]byte(k.PublicKey))
		if err != nil {
			return nil, fmt.Errorf("sign: trust file key %d: %w", i, err)
		}
		fp, _, err := KeyID(pub)
		if err != nil {
			return nil, err
		}
		if fp != k.Fingerprint {
			return nil, fmt.Errorf("sign: trust file key %d: fingerprint %s does not match its public key (%s)", i, k.Fingerprint, fp)
		}
	}
	seen := map[string]bool{}
	for i, a := range t.TimestampAuthorities {
		if _, err := a.check(); err != nil {
			return nil, fmt.Errorf("sign: trust file timestamp authority %d (%s): %w", i+1, a.URI(), err)
		}
		if seen[a.URI()] {
			return nil, fmt.Errorf("sign: trust file lists timestamp authority %s twice", a.URI())
		}
		seen[a.URI()] = true
	}
	return &t, nil
}

// CosignTrustedRoot is a sigstore trusted root with no authorities, which
// cosign needs (--trusted-root) to verify key-signed bundles offline. A trust
// file with timestamp authorities makes its own with
// [TrustFile.CosignTrustedRoot].
const CosignTrustedRoot = `{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}` + "\n"

// Verifier checks bundles against the keys of a trust file. Safe for
// concurrent use.
type Verifier struct {
	keys     map[string]trusted // by bundle hint
	material root.TrustedMaterial
	tsas     []*trustedTSA
}

type trusted struct {
	fingerprint string
	verifier    signature.Verifier
}

// NewVerifier builds a verifier that accepts exactly the keys of t.
func NewVerifier(t *TrustFile) (*Verifier, error) {
	v := &Verifier{keys: map[string]trusted{}}
	for _, k := range t.Keys {
		pub, err := cryptoutils.UnmarshalPEMToPublicKey([]byte(k.PublicKey))
		if err != nil {
			return nil, fmt.Errorf("sign: trusted key %s: %w", k.Fingerprint, err)
		}
		sv, err := signature.LoadVerifier(pub, crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("sign: trusted key %s: %w", k.Fingerprint, err)
		}
		_, hint, err := KeyID(pub)
		if err != nil {
			return nil, err
		}
		v.keys[string(hint)] = trusted{fingerprint: k.Fingerprint, verifier: sv}
	}
	for _, a := range t.TimestampAuthorities {
		ta, err := a.check()
		if err != nil {
			return nil, fmt.Errorf("sign: trusted TSA %s: %w", a.URI(), err)
		}
		v.tsas = append(v.tsas, ta)
	}
	v.material = root.NewTrustedPublicKeyMaterial(func(hint string) (root.TimeConstrainedVerifier, error) {
		k, ok := v.keys[hint]
		if !ok {
			return nil, &UntrustedKeyError{Hint: hint}
		}
		return root.NewExpiringKey(k.verifier, time.Time{}, time.Time{}), nil
	})
	return v, nil
}

// UntrustedKeyError: a bundle names a key the trust file does not hold.
type UntrustedKeyError struct{ Hint string }

func (e *UntrustedKeyError) Error() string {
	fp := "unknown"
	if sum, err := base64.StdEncoding.DecodeString(e.Hint); err == nil && len(sum) == sha256.Size {
		fp = "sha256:" + hex.EncodeToString(sum)
	}
	return fmt.Sprintf("signed by a key that is not in the trust file (key %s)", fp)
}

// SignatureError: a bundle is well formed and names a trusted key, but its
// signature or its subject does not verify.
type SignatureError struct{ Err error }

func (e *SignatureError) Error() string { return "signature does not verify: " + e.Err.Error() }
func (e *SignatureError) Unwrap() error { return e.Err }

// FormatError: the bundle cannot be parsed or is not of the expected kind.
type FormatError struct{ Err error }

func (e *FormatError) Error() string { return "malformed bundle: " + e.Err.Error() }
func (e *FormatError) Unwrap() error { return e.Err }

// Verified is what a bundle proved.
type Verified struct {
	// KeyFingerprint names the trusted key that signed.
	KeyFingerprint string
	// Payload is the DSSE payload (the in-toto statement) of a statement bundle.
	Payload []byte
	// Timestamps is the outcome for each RFC 3161 timestamp the bundle
	// carries, in bundle order. A failed one does not fail the signature:
	// callers decide (see [Verified.TimestampErr]).
	Timestamps []TimestampResult
}

// maxBundleTimestamps bounds the timestamps checked per bundle.
const maxBundleTimestamps = 32

// TimestampErr applies the timestamp policy: every timestamp must verify,
// and at least required of them must be present. It returns the first
// failure, or a *MissingTimestampError.
func (vd *Verified) TimestampErr(required int) error {
	ok := 0
	for _, r := range vd.Timestamps {
		if r.Err != nil {
			return r.Err
		}
		ok++
	}
	if ok < required {
		return &MissingTimestampError{Want: required, Got: ok}
	}
	return nil
}

func (v *Verifier) timestamps(b *bundle.Bundle, sig []byte) ([]TimestampResult, error) {
	raw := b.GetVerificationMaterial().GetTimestampVerificationData().GetRfc3161Timestamps()
	if len(raw) > maxBundleTimestamps {
		return nil, &FormatError{fmt.Errorf("%d timestamps, more than %d", len(raw), maxBundleTimestamps)}
	}
	out := make([]TimestampResult, 0, len(raw))
	for _, ts := range raw {
		out = append(out, v.VerifyTimestamp(ts.GetSignedTimestamp(), sig))
	}
	return out, nil
}

func (v *Verifier) load(data []byte) (*bundle.Bundle, trusted, error) {
	var b bundle.Bundle
	if err := b.UnmarshalJSON(data); err != nil {
		return nil, trusted{}, &FormatError{err}
	}
	if b.GetMediaType() != BundleMediaType {
		return nil, trusted{}, &FormatError{fmt.Errorf("media type %q, want %q", b.GetMediaType(), BundleMediaType)}
	}
	pk := b.GetVerificationMaterial().GetPublicKey()
	if pk == nil {
		return nil, trusted{}, &FormatError{errors.New("no public key hint in the verification material")}
	}
	k, ok := v.keys[pk.GetHint()]
	if !ok {
		return nil, trusted{}, &UntrustedKeyError{Hint: pk.GetHint()}
	}
	return &b, k, nil
}

func (v *Verifier) verifier() (*verify.Verifier, error) {
	// Key-signed bundles without timestamps: the time of signing is not
	// asserted by this check; RFC 3161 timestamps are verified separately.
	return verify.NewVerifier(v.material, verify.WithNoObserverTimestamps())
}

// VerifyStatement checks a DSSE statement bundle. When sha256Sum is given the
// statement must name it among its subjects.
func (v *Verifier) VerifyStatement(data []byte, sha256Sum []byte) (*Verified, error) {
	b, k, err := v.load(data)
	if err != nil {
		return nil, err
	}
	env := b.GetDsseEnvelope()
	if env == nil {
		return nil, &FormatError{errors.New("not a DSSE bundle")}
	}
	if env.GetPayloadType() != InTotoPayloadType {
		return nil, &FormatError{fmt.Errorf("payload type %q, want %q", env.GetPayloadType(), InTotoPayloadType)}
	}
	vf, err := v.verifier()
	if err != nil {
		return nil, err
	}
	art := verify.WithoutArtifactUnsafe()
	if sha256Sum != nil {
		art = verify.WithArtifactDigest("sha256", sha256Sum)
	}
	if _, err := vf.Verify(b, verify.NewPolicy(art, verify.WithKey())); err != nil {
		return nil, &SignatureError{err}
	}
	sigs := env.GetSignatures()
	if len(sigs) != 1 {
		return nil, &FormatError{fmt.Errorf("%d DSSE signatures, want 1", len(sigs))}
	}
	tss, err := v.timestamps(b, sigs[0].GetSig())
	if err != nil {
		return nil, err
	}
	return &Verified{KeyFingerprint: k.fingerprint, Payload: env.GetPayload(), Timestamps: tss}, nil
}

// VerifyDigest checks a message-signature bundle over the artifact whose
// SHA-256 is sha256Sum.
func (v *Verifier) VerifyDigest(data []byte, sha256Sum []byte) (*Verified, error) {
	b, k, err := v.load(data)
	if err != nil {
		return nil, err
	}
	if b.GetMessageSignature() == nil {
		return nil, &FormatError{errors.New("not a message-signature bundle")}
	}
	vf, err := v.verifier()
	if err != nil {
		return nil, err
	}
	if _, err := vf.Verify(b, verify.NewPolicy(verify.WithArtifactDigest("sha256", sha256Sum), verify.WithKey())); err != nil {
		return nil, &SignatureError{err}
	}
	tss, err := v.timestamps(b, b.GetMessageSignature().GetSignature())
	if err != nil {
		return nil, err
	}
	return &Verified{KeyFingerprint: k.fingerprint, Timestamps: tss}, nil
}
