package sign

import (
	"context"
	"crypto/sha256"
	"fmt"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"
)

// Media types of what this package writes.
const (
	// BundleMediaType is the sigstore bundle version written (v0.3).
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// InTotoPayloadType is the DSSE payload type of an in-toto statement.
	InTotoPayloadType = "application/vnd.in-toto+json"
)

// SignStatement signs an in-toto statement as a DSSE envelope and returns
// the sigstore bundle (v0.3) as JSON. The bundle is checked with v before it
// is returned, so a bundle that would not verify is never written.
func (s *Signer) SignStatement(ctx context.Context, statement []byte, v *Verifier) ([]byte, error) {
	b, err := sgsign.Bundle(&sgsign.DSSEData{Data: statement, PayloadType: InTotoPayloadType},
		keypair{s}, sgsign.BundleOptions{Context: ctx})
	if err != nil {
		return nil, fmt.Errorf("sign: statement bundle: %w", err)
	}
	out, err := marshalBundle(b)
	if err != nil {
		return nil, err
	}
	if v != nil {
		if _, err := v.VerifyStatement(out, nil); err != nil {
			return nil, fmt.Errorf("sign: the statement bundle just made does not verify: %w", err)
		}
	}
	return out, nil
}

// SignDigestBundle makes a message-signature bundle (v0.3) for an artifact
// whose SHA-256 was computed while streaming it, so the artifact is never
// held in memory. The bundle is checked with v before it is returned.
func (s *Signer) SignDigestBundle(ctx context.Context, sha256Sum []byte, v *Verifier) ([]byte, error) {
	if len(sha256Sum) != sha256.Size {
		return nil, fmt.Errorf("sign: digest is %d bytes, want %d", len(sha256Sum), sha256.Size)
	}
	sig, err := s.SignDigest(ctx, sha256Sum)
	if err != nil {
		return nil, err
	}
	b := &protobundle.Bundle{
		MediaType: BundleMediaType,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_PublicKey{
				PublicKey: &protocommon.PublicKeyIdentifier{Hint: string(s.hint)},
			},
		},
		Content: &protobundle.Bundle_MessageSignature{
			MessageSignature: &protocommon.MessageSignature{
				MessageDigest: &protocommon.HashOutput{
					Algorithm: protocommon.HashAlgorithm_SHA2_256,
					Digest:    sha256Sum,
				},
				Signature: sig,
			},
		},
	}
	out, err := marshalBundle(b)
	if err != nil {
		return nil, err
	}
	if v != nil {
		if _, err := v.VerifyDigest(out, sha256Sum); err != nil {
			return nil, fmt.Errorf("sign: the digest bundle just made does not verify: %w", err)
		}
	}
	return out, nil
}

func marshalBundle(b *protobundle.Bundle) ([]byte, error) {
	out, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("sign: encode bundle: %w", err)
	}
	return append(out, '\n'), nil
}
