// Package sign owns the archive's signing keys and the sigstore bundles made
// with them: cosign-format encrypted ECDSA P-256 key files or sigstore KMS
// URIs, DSSE envelopes over in-toto statements, message-signature bundles
// over a streamed digest, RFC 3161 timestamps on both (Timestamper, a client
// of timestamp authorities), and verification of all of it against a trust
// file.
//
// Signing and verifying are kept apart: Signer signs, Verifier checks, and a
// Verifier trusts only the keys and timestamp authorities in its TrustFile,
// never a key or certificate carried by a bundle or found in an archive. The
// network is used only by Timestamper and FetchTSAChain, with the caller's
// context. It must not import storage, capture, ingest
// or cli.
package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"golang.org/x/crypto/nacl/secretbox"
	"golang.org/x/crypto/scrypt"
)

// Errors that callers branch on.
var (
	// ErrPassphrase: the key file could not be decrypted with the passphrase given.
	ErrPassphrase = errors.New("wrong passphrase for the signing key")
	// ErrKey: the key is missing, unreadable or of an unsupported kind.
	ErrKey = errors.New("unusable signing key")
)

// PassFunc returns the passphrase of a key file. confirm is true when a new
// key is being made, so an interactive caller can ask twice.
type PassFunc func(confirm bool) ([]byte, error)

// GenerateKey makes a new ECDSA P-256 key pair. With a non-empty passphrase
// the private key is in cosign's encrypted format ("ENCRYPTED SIGSTORE
// PRIVATE KEY", scrypt + secretbox); with an empty one it is a plain PKCS#8
// PEM, which callers must only allow behind an explicitly insecure option.
func GenerateKey(passphrase []byte) (privPEM, pubPEM []byte, err error) {
	var pf cryptoutils.PassFunc
	if len(passphrase) > 0 {
		pf = func(bool) ([]byte, error) { return passphrase, nil }
	}
	priv, pub, err := cryptoutils.GeneratePEMEncodedECDSAKeyPair(elliptic.P256(), pf)
	if err != nil {
		return nil, nil, fmt.Errorf("sign: generate key: %w", err)
	}
	return priv, pub, nil
}

// IsKMSRef reports whether ref names a KMS key (scheme://…) rather than a file.
func IsKMSRef(ref string) bool {
	scheme, _, ok := strings.Cut(ref, "://")
	return ok && scheme != "" && !strings.ContainsAny(scheme, `/\`)
}

// Signer signs with one key. It is safe for concurrent use.
type Signer struct {
	sv          signature.SignerVerifier
	pub         crypto.PublicKey
	fingerprint string
	hint        []byte
	ref         string
}

// LoadSigner opens the key named by ref: a path to a cosign-format key file
// (decrypted with pass) or a sigstore KMS URI such as hashivault://name.
// Decrypting a key file is slow on purpose (scrypt): do it once per process.
func LoadSigner(ctx context.Context, ref string, pass PassFunc) (*Signer, error) {
	if IsKMSRef(ref) {
		sv, err := kms.Get(ctx, ref, crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("sign: KMS key %s: open: %w: %w", ref, ErrKey, err)
		}
		pub, err := sv.PublicKey(options.WithContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("sign: KMS key %s: public key: %w: %w", ref, ErrKey, err)
		}
		return newSigner(sv, pub, ref)
	}
	data, err := os.ReadFile(ref)
	if err != nil {
		return nil, fmt.Errorf("sign: read key: %w: %w", ErrKey, err)
	}
	priv, err := parsePrivateKey(data, pass)
	if err != nil {
		return nil, fmt.Errorf("sign: key %s: %w", ref, err)
	}
	sv, err := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sign: key %s: %w: %w", ref, ErrKey, err)
	}
	return newSigner(sv, priv.Public(), ref)
}

// NewSigner wraps an in-memory ECDSA P-256 private key (tests, KMS stand-ins).
func NewSigner(priv *ecdsa.PrivateKey) (*Signer, error) {
	sv, err := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sign: %w: %w", ErrKey, err)
	}
	return newSigner(sv, priv.Public(), "memory")
}

// scryptLevels are the scrypt parameters cosign's key format allows (those
// of go-securesystemslib's encrypted package: legacy, standard, OWASP); any
// other would let a key file set the cost of opening it.
var scryptLevels = [][3]int{{32768, 8, 1}, {65536, 8, 1}, {131072, 8, 1}}

// DecryptKey opens the body of an "ENCRYPTED SIGSTORE PRIVATE KEY" PEM
// block (cosign's format: JSON naming scrypt and nacl/secretbox) with
// passphrase and returns the private key's PKCS#8 DER. A passphrase that
// does not open it gives ErrPassphrase; a body that is not of that format
// gives ErrKey.
func DecryptKey(body, passphrase []byte) ([]byte, error) {
	var box struct {
		KDF struct {
			Name   string `json:"name"`
			Params struct {
				N int `json:"N"`
				R int `json:"r"`
				P int `json:"p"`
			} `json:"params"`
			Salt []byte `json:"salt"`
		} `json:"kdf"`
		Cipher struct {
			Name  string `json:"name"`
			Nonce []byte `json:"nonce"`
		} `json:"cipher"`
		Ciphertext []byte `json:"ciphertext"`
	}
	if err := json.Unmarshal(body, &box); err != nil {
		return nil, fmt.Errorf("%w: encrypted key: %w", ErrKey, err)
	}
	p := box.KDF.Params
	if box.KDF.Name != "scrypt" || box.Cipher.Name != "nacl/secretbox" || !slices.Contains(scryptLevels, [3]int{p.N, p.R, p.P}) || len(box.Cipher.Nonce) != 24 {
		return nil, fmt.Errorf("%w: encrypted key: unsupported KDF or cipher (want cosign's scrypt and nacl/secretbox)", ErrKey)
	}
	k, err := scrypt.Key(passphrase, box.KDF.Salt, p.N, p.R, p.P, 32)
	if err != nil {
		return nil, fmt.Errorf("%w: encrypted key: %w", ErrKey, err)
	}
	var key [32]byte
	var nonce [24]byte
	copy(key[:], k)
	copy(nonce[:], box.Cipher.Nonce)
	der, ok := secretbox.Open(nil, box.Ciphertext, &nonce, &key)
	if !ok {
		return nil, ErrPassphrase
	}
	return der, nil
}

func parsePrivateKey(data []byte, pass PassFunc) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: not a PEM file", ErrKey)
	}
	var der []byte
	switch block.Type {
	case string(cryptoutils.EncryptedSigstorePrivateKeyPEMType), "ENCRYPTED COSIGN PRIVATE KEY":
		if pass == nil {
			return nil, fmt.Errorf("%w: the key is encrypted and no passphrase was given", ErrPassphrase)
		}
		pw, err := pass(false)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrPassphrase, err)
		}
		if der, err = DecryptKey(block.Bytes, pw); err != nil {
			return nil, err
		}
	case string(cryptoutils.PrivateKeyPEMType):
		der = block.Bytes
	default:
		return nil, fmt.Errorf("%w: unsupported PEM type %q", ErrKey, block.Type)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: want an ECDSA P-256 key", ErrKey)
	}
	return ek, nil
}

func newSigner(sv signature.SignerVerifier, pub crypto.PublicKey, ref string) (*Signer, error) {
	ek, ok := pub.(*ecdsa.PublicKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, fmt.Errorf("sign: %s: %w: want an ECDSA P-256 key (cosign rejects others in some directions)", ref, ErrKey)
	}
	fp, hint, err := KeyID(pub)
	if err != nil {
		return nil, err
	}
	return &Signer{sv: sv, pub: pub, fingerprint: fp, hint: hint, ref: ref}, nil
}

// KeyID returns a public key's fingerprint ("sha256:" + hex of the SHA-256
// of its PKIX DER) and its sigstore bundle hint (the same hash, base64), the
// hint cosign writes into publicKey.hint.
func KeyID(pub crypto.PublicKey) (fingerprint string, hint []byte, err error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", nil, fmt.Errorf("sign: marshal public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:]), []byte(base64.StdEncoding.EncodeToString(sum[:])), nil
}

// Fingerprint is the key's "sha256:<hex>" identity.
func (s *Signer) Fingerprint() string { return s.fingerprint }

// Ref is the key file path or KMS URI the signer was loaded from.
func (s *Signer) Ref() string { return s.ref }

// PublicKeyPEM returns the PKIX public key in PEM form.
func (s *Signer) PublicKeyPEM() ([]byte, error) {
	return cryptoutils.MarshalPublicKeyToPEM(s.pub)
}

// SignDigest signs a SHA-256 digest computed elsewhere (a streamed file).
func (s *Signer) SignDigest(ctx context.Context, digest []byte) ([]byte, error) {
	if len(digest) != sha256.Size {
		return nil, fmt.Errorf("sign: digest is %d bytes, want %d", len(digest), sha256.Size)
	}
	sig, err := s.sv.SignMessage(bytes.NewReader(nil), options.WithContext(ctx),
		options.WithDigest(digest), options.WithCryptoSignerOpts(crypto.SHA256))
	if err != nil {
		return nil, fmt.Errorf("sign: sign digest: %w", err)
	}
	return sig, nil
}

// keypair adapts a Signer to sigstore-go's sign.Keypair.
type keypair struct{ s *Signer }

func (k keypair) GetHashAlgorithm() protocommon.HashAlgorithm {
	return protocommon.HashAlgorithm_SHA2_256
}
func (k keypair) GetSigningAlgorithm() protocommon.PublicKeyDetails {
	return protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256
}
func (k keypair) GetHint() []byte                { return k.s.hint }
func (k keypair) GetKeyAlgorithm() string        { return "ECDSA" }
func (k keypair) GetPublicKey() crypto.PublicKey { return k.s.pub }
func (k keypair) GetPublicKeyPem() (string, error) {
	p, err := k.s.PublicKeyPEM()
	return string(p), err
}
func (k keypair) SignData(ctx context.Context, data []byte) ([]byte, []byte, error) {
	sum := sha256.Sum256(data)
	sig, err := k.s.sv.SignMessage(bytes.NewReader(data), options.WithContext(ctx), options.WithCryptoSignerOpts(crypto.SHA256))
	if err != nil {
		return nil, nil, fmt.Errorf("sign: %w", err)
	}
	return sig, sum[:], nil
}
