package sign

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TrustedTSA is one timestamp authority whose RFC 3161 timestamps a verifier
// accepts, stored exactly as in sigstore's trusted root
// (timestampAuthorities[]: uri, subject, certChain leaf first, validFor), so
// that the same entry feeds cosign's --trusted-root.
type TrustedTSA struct {
	ca *prototrustroot.CertificateAuthority
}

// NewTrustedTSA makes an entry for the TSA at uri with its chain (leaf
// first, as ParseTSAChain returns it). Its validity starts when the leaf's
// does and has no end.
func NewTrustedTSA(uri string, chain []*x509.Certificate) (TrustedTSA, error) {
	if uri == "" {
		return TrustedTSA{}, errors.New("sign: trusted TSA: no URI")
	}
	if err := checkTSAChain(chain); err != nil {
		return TrustedTSA{}, fmt.Errorf("sign: trusted TSA %s: %w", uri, err)
	}
	certs := make([]*protocommon.X509Certificate, len(chain))
	for i, c := range chain {
		certs[i] = &protocommon.X509Certificate{RawBytes: c.Raw}
	}
	rootCert := chain[len(chain)-1]
	org := ""
	if len(rootCert.Subject.Organization) > 0 {
		org = rootCert.Subject.Organization[0]
	}
	return TrustedTSA{ca: &prototrustroot.CertificateAuthority{
		Uri:       uri,
		Subject:   &protocommon.DistinguishedName{Organization: org, CommonName: rootCert.Subject.CommonName},
		CertChain: &protocommon.X509CertificateChain{Certificates: certs},
		ValidFor:  &protocommon.TimeRange{Start: timestamppb.New(chain[0].NotBefore)},
	}}, nil
}

// URI is the TSA's timestamp endpoint, its name in reports.
func (t TrustedTSA) URI() string { return t.ca.GetUri() }

// Chain returns the TSA's certificates, leaf first.
func (t TrustedTSA) Chain() ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	for i, c := range t.ca.GetCertChain().GetCertificates() {
		cert, err := x509.ParseCertificate(c.GetRawBytes())
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", i+1, err)
		}
		chain = append(chain, cert)
	}
	return chain, nil
}

// MarshalJSON writes the sigstore trusted-root form.
func (t TrustedTSA) MarshalJSON() ([]byte, error) {
	if t.ca == nil {
		return []byte("null"), nil
	}
	return protojson.Marshal(t.ca)
}

// UnmarshalJSON reads the sigstore trusted-root form; unknown fields are
// refused.
func (t *TrustedTSA) UnmarshalJSON(data []byte) error {
	ca := &prototrustroot.CertificateAuthority{}
	if err := protojson.Unmarshal(data, ca); err != nil {
		return err
	}
	t.ca = ca
	return nil
}

// check parses the entry as sigstore-go will and applies ParseTSAChain's
// rules to its chain.
func (t TrustedTSA) check() (*trustedTSA, error) {
	if t.ca == nil || t.URI() == "" {
		return nil, errors.New("no URI")
	}
	chain, err := t.Chain()
	if err != nil {
		return nil, err
	}
	if len(chain) > maxChainCerts {
		return nil, fmt.Errorf("more than %d certificates", maxChainCerts)
	}
	if err := checkTSAChain(chain); err != nil {
		return nil, err
	}
	ta, err := root.ParseTimestampingAuthority(t.ca)
	if err != nil {
		return nil, err
	}
	return &trustedTSA{uri: t.URI(), ta: ta, chain: chain}, nil
}

type trustedTSA struct {
	uri   string
	ta    root.TimestampingAuthority
	chain []*x509.Certificate
}

// issued reports whether c is this TSA's leaf or was issued by one of its CAs.
func (t *trustedTSA) issued(c *x509.Certificate) bool {
	for i, own := range t.chain {
		if bytes.Equal(own.Raw, c.Raw) || (i > 0 && bytes.Equal(own.RawSubject, c.RawIssuer)) {
			return true
		}
	}
	return false
}

// AddTSA trusts a TSA (idempotent). A different chain under a URI already
// trusted is refused: replacing a TSA's chain is a decision to take by
// editing the trust file, not a side effect.
func (t *TrustFile) AddTSA(tsa TrustedTSA) error {
	if _, err := tsa.check(); err != nil {
		return fmt.Errorf("sign: trusted TSA %s: %w", tsa.URI(), err)
	}
	for _, old := range t.TimestampAuthorities {
		if old.URI() != tsa.URI() {
			continue
		}
		a, _ := protojson.Marshal(old.ca.GetCertChain())
		b, _ := protojson.Marshal(tsa.ca.GetCertChain())
		if bytes.Equal(a, b) {
			return nil
		}
		return fmt.Errorf("sign: the trust file already holds another certificate chain for TSA %s", tsa.URI())
	}
	t.TimestampAuthorities = append(t.TimestampAuthorities, tsa)
	return nil
}

// TSAURIs lists the URIs of the trusted TSAs, in trust-file order.
func (t *TrustFile) TSAURIs() []string {
	var out []string
	for _, a := range t.TimestampAuthorities {
		out = append(out, a.URI())
	}
	return out
}

// CosignTrustedRoot returns a sigstore trusted root (JSON) for cosign's
// --trusted-root that lists the trust file's TSAs and nothing else: keys
// are given to cosign with --key, and there is no transparency log.
func (t *TrustFile) CosignTrustedRoot() ([]byte, error) {
	tr := &prototrustroot.TrustedRoot{MediaType: root.TrustedRootMediaType01}
	for _, a := range t.TimestampAuthorities {
		tr.TimestampAuthorities = append(tr.TimestampAuthorities, a.ca)
	}
	out, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(tr)
	if err != nil {
		return nil, fmt.Errorf("sign: encode trusted root: %w", err)
	}
	return append(out, '\n'), nil
}

// TimestampResult is the outcome for one RFC 3161 timestamp of a bundle.
type TimestampResult struct {
	// TSA is the URI of the trusted TSA that signed it; empty when no
	// trusted TSA did.
	TSA string `json:"tsa,omitempty"`
	// Time is the time the TSA asserts; zero unless the timestamp verified,
	// so that no time is ever shown on an unproven claim.
	Time time.Time `json:"time,omitzero"`
	// Err is why it does not verify; nil when it does.
	Err error `json:"-"`
}

// OK reports whether the timestamp verified.
func (r TimestampResult) OK() bool { return r.Err == nil }

// UntrustedTSAError: a timestamp is signed by a TSA the trust file does not
// hold.
type UntrustedTSAError struct {
	// Signer names the certificate in the timestamp (subject, issuer), or
	// says that it carries none.
	Signer string
}

func (e *UntrustedTSAError) Error() string {
	return "timestamp signed by a TSA that is not in the trust file (" + e.Signer +
		"); if you trust it, add its certificate chain to the trust file"
}

// TimestampMismatchError: a timestamp covers other bytes than the bundle's
// signature (it was taken from another bundle, or the signature changed).
type TimestampMismatchError struct {
	// Expected is the hex hash of the bundle's signature; Found is the hash
	// the timestamp covers.
	Expected, Found string
}

func (e *TimestampMismatchError) Error() string {
	return fmt.Sprintf("timestamp covers a different signature: expected hash %s, found %s", e.Expected, e.Found)
}

// TimestampError: a timestamp from a trusted TSA does not verify (bad
// signature, outside the TSA's validity, wrong key usage...).
type TimestampError struct {
	TSA string
	Err error
}

func (e *TimestampError) Error() string {
	return fmt.Sprintf("timestamp from TSA %s does not verify: %v", e.TSA, e.Err)
}

func (e *TimestampError) Unwrap() error { return e.Err }

// MissingTimestampError: fewer verified timestamps than required.
type MissingTimestampError struct {
	Want, Got int
}

func (e *MissingTimestampError) Error() string {
	if e.Got == 0 {
		return fmt.Sprintf("no verified timestamp, %d required", e.Want)
	}
	return fmt.Sprintf("%d verified timestamp(s), %d required", e.Got, e.Want)
}

// TSAs lists the URIs of the TSAs the verifier trusts.
func (v *Verifier) TSAs() []string {
	var out []string
	for _, t := range v.tsas {
		out = append(out, t.uri)
	}
	return out
}

// VerifyTimestamp checks one DER RFC 3161 TimeStampResp against the trusted
// TSAs: it must cover the SHA-256 (or SHA-384/512) of signed and be signed by
// a trusted TSA's chain at a time within that TSA's validity.
func (v *Verifier) VerifyTimestamp(resp, signed []byte) TimestampResult {
	ts, err := ParseTimestampResponse(resp)
	if err != nil {
		return TimestampResult{Err: &FormatError{err}}
	}
	var h crypto.Hash
	switch ts.HashAlgorithm {
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
		h = ts.HashAlgorithm
	default:
		return TimestampResult{Err: &FormatError{fmt.Errorf("timestamp hash algorithm %v not accepted", ts.HashAlgorithm)}}
	}
	hh := h.New()
	hh.Write(signed)
	sum := hh.Sum(nil)
	if !bytes.Equal(sum, ts.HashedMessage) {
		return TimestampResult{Err: &TimestampMismatchError{Expected: hex.EncodeToString(sum), Found: hex.EncodeToString(ts.HashedMessage)}}
	}
	errs := make([]error, len(v.tsas))
	for i, t := range v.tsas {
		got, err := t.ta.Verify(resp, signed)
		if err == nil {
			return TimestampResult{TSA: t.uri, Time: got.Time.UTC()}
		}
		errs[i] = err
	}
	for _, c := range ts.Certificates {
		for i, t := range v.tsas {
			if t.issued(c) {
				return TimestampResult{TSA: t.uri, Err: &TimestampError{TSA: t.uri, Err: errs[i]}}
			}
		}
	}
	return TimestampResult{Err: &UntrustedTSAError{Signer: signerName(ts.Certificates)}}
}

func signerName(certs []*x509.Certificate) string {
	if len(certs) == 0 {
		return "it carries no certificate"
	}
	// The signer is the certificate that issues no other in the token.
	leaf := certs[0]
	for _, c := range certs {
		if !c.IsCA {
			leaf = c
			break
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "signer %q, issuer %q, certificate %s", leaf.Subject.String(), leaf.Issuer.String(), CertFingerprint(leaf))
	return b.String()
}
