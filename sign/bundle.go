package sign

import (
	"context"
	"crypto/sha256"
	"errors"
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

// BundleOptions say how a bundle is made and checked.
type BundleOptions struct {
	// Verifier checks the bundle, and each timestamp, before it is
	// returned (nil: unchecked; only tests should do that).
	Verifier *Verifier
	// Timestamper adds an RFC 3161 timestamp from each of its TSAs over the
	// bundle's signature (nil: no timestamps).
	Timestamper *Timestamper
	// RequireTimestamp makes a TSA that gives no verified timestamp fatal;
	// otherwise the bundle goes without it and Signed.Missed says so.
	RequireTimestamp bool
	// MinTimestamps, when above zero, makes a bundle with fewer verified
	// timestamps (from distinct TSAs) fatal, while TSAs beyond that may
	// miss: N of the configured TSAs, so that one TSA that is down does not
	// stop ingest and one that is compromised cannot date a bundle alone.
	MinTimestamps int
}

// Signed is a bundle just made and checked.
type Signed struct {
	// Bundle is the sigstore bundle (v0.3) as JSON.
	Bundle []byte
	// Timestamps are the timestamps in the bundle, verified.
	Timestamps []TimestampResult
	// Missed lists the TSAs that gave no usable timestamp (only when
	// RequireTimestamp is off): show them to the user.
	Missed []*TSAError
}

// SignStatement signs an in-toto statement as a DSSE envelope and returns
// the sigstore bundle (v0.3) as JSON, without timestamps. The bundle is
// checked with v before it is returned, so a bundle that would not verify is
// never written.
func (s *Signer) SignStatement(ctx context.Context, statement []byte, v *Verifier) ([]byte, error) {
	out, err := s.StatementBundle(ctx, statement, BundleOptions{Verifier: v})
	if err != nil {
		return nil, err
	}
	return out.Bundle, nil
}

// StatementBundle signs an in-toto statement as a DSSE envelope, adds the
// timestamps o asks for, and checks the result with o.Verifier.
func (s *Signer) StatementBundle(ctx context.Context, statement []byte, o BundleOptions) (*Signed, error) {
	pb, err := sgsign.Bundle(&sgsign.DSSEData{Data: statement, PayloadType: InTotoPayloadType},
		keypair{s}, sgsign.BundleOptions{Context: ctx})
	if err != nil {
		return nil, fmt.Errorf("sign: statement bundle: %w", err)
	}
	sigs := pb.GetDsseEnvelope().GetSignatures()
	if len(sigs) != 1 {
		return nil, fmt.Errorf("sign: statement bundle: %d signatures, want 1", len(sigs))
	}
	return s.finish(ctx, pb, sigs[0].GetSig(), o, func(b []byte) (*Verified, error) {
		vd, err := o.Verifier.VerifyStatement(b, nil)
		if err != nil {
			return nil, fmt.Errorf("sign: the statement bundle just made does not verify: %w", err)
		}
		return vd, nil
	})
}

// SignDigestBundle makes a message-signature bundle (v0.3), without
// timestamps, for an artifact whose SHA-256 was computed while streaming it,
// so the artifact is never held in memory. The bundle is checked with v
// before it is returned.
func (s *Signer) SignDigestBundle(ctx context.Context, sha256Sum []byte, v *Verifier) ([]byte, error) {
	out, err := s.DigestBundle(ctx, sha256Sum, BundleOptions{Verifier: v})
	if err != nil {
		return nil, err
	}
	return out.Bundle, nil
}

// DigestBundle makes a message-signature bundle over a SHA-256, adds the
// timestamps o asks for, and checks the result with o.Verifier.
func (s *Signer) DigestBundle(ctx context.Context, sha256Sum []byte, o BundleOptions) (*Signed, error) {
	if len(sha256Sum) != sha256.Size {
		return nil, fmt.Errorf("sign: digest is %d bytes, want %d", len(sha256Sum), sha256.Size)
	}
	sig, err := s.SignDigest(ctx, sha256Sum)
	if err != nil {
		return nil, err
	}
	pb := &protobundle.Bundle{
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
	return s.finish(ctx, pb, sig, o, func(b []byte) (*Verified, error) {
		vd, err := o.Verifier.VerifyDigest(b, sha256Sum)
		if err != nil {
			return nil, fmt.Errorf("sign: the digest bundle just made does not verify: %w", err)
		}
		return vd, nil
	})
}

// finish timestamps the signature, embeds every timestamp received, encodes
// the bundle and checks it as a whole, once: the check verifies each
// embedded timestamp, in embedding order. Timestamps that do not verify are
// fatal when o.RequireTimestamp is set; otherwise they move to Missed and the
// bundle is encoded and checked again without them (the rare path).
func (s *Signer) finish(ctx context.Context, pb *protobundle.Bundle, sig []byte, o BundleOptions, check func([]byte) (*Verified, error)) (*Signed, error) {
	if o.RequireTimestamp && (o.Timestamper == nil || len(o.Timestamper.URLs) == 0) {
		return nil, errors.New("sign: a timestamp is required but no timestamp authority is configured")
	}
	if o.MinTimestamps > 0 && (o.Timestamper == nil || len(o.Timestamper.URLs) < o.MinTimestamps) {
		return nil, fmt.Errorf("sign: %d timestamps are required but fewer timestamp authorities are configured", o.MinTimestamps)
	}
	out := &Signed{}
	var tsd []*protocommon.RFC3161SignedTimestamp
	var from []string // the TSA URL of each timestamp in tsd
	if o.Timestamper != nil && len(o.Timestamper.URLs) > 0 {
		resps, missed := o.Timestamper.timestampAll(ctx, sig)
		if len(missed) > 0 && o.RequireTimestamp {
			return nil, requiredErr(missed)
		}
		out.Missed = missed
		for i, resp := range resps {
			if resp != nil {
				tsd = append(tsd, &protocommon.RFC3161SignedTimestamp{SignedTimestamp: resp})
				from = append(from, o.Timestamper.URLs[i])
			}
		}
	}
	for pass := 1; ; pass++ {
		pb.VerificationMaterial.TimestampVerificationData = nil
		if len(tsd) > 0 {
			pb.VerificationMaterial.TimestampVerificationData = &protobundle.TimestampVerificationData{Rfc3161Timestamps: tsd}
		}
		b, err := marshalBundle(pb)
		if err != nil {
			return nil, err
		}
		out.Bundle = b
		if o.Verifier == nil {
			return out, nil
		}
		vd, err := check(b)
		if err != nil {
			return nil, err
		}
		if len(vd.Timestamps) != len(tsd) {
			return nil, fmt.Errorf("sign: the bundle just made carries %d timestamps, %d were embedded", len(vd.Timestamps), len(tsd))
		}
		var failed []*TSAError
		var keep []*protocommon.RFC3161SignedTimestamp
		var keptFrom []string
		for i, r := range vd.Timestamps {
			if !r.OK() {
				failed = append(failed, &TSAError{URL: from[i], Attempts: 1, Err: r.Err})
				continue
			}
			keep = append(keep, tsd[i])
			keptFrom = append(keptFrom, from[i])
		}
		if len(failed) == 0 {
			out.Timestamps = vd.Timestamps
			if o.MinTimestamps > 0 && len(out.Timestamps) < o.MinTimestamps {
				return nil, requiredErr(out.Missed)
			}
			return out, nil
		}
		if o.RequireTimestamp {
			return nil, requiredErr(failed)
		}
		if pass > 1 {
			// Only timestamps that verified were kept: a failure now means
			// that the verifier is not deterministic.
			return nil, fmt.Errorf("sign: the timestamps of the bundle just made do not verify: %w", failed[0])
		}
		out.Missed = append(out.Missed, failed...)
		tsd, from = keep, keptFrom
	}
}

// requiredErr reports the TSAs that gave no usable timestamp when one from
// each is required.
func requiredErr(missed []*TSAError) error {
	errs := make([]error, len(missed))
	for i, m := range missed {
		errs[i] = m
	}
	return fmt.Errorf("sign: a timestamp is required: %w", errors.Join(errs...))
}

func marshalBundle(b *protobundle.Bundle) ([]byte, error) {
	out, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("sign: encode bundle: %w", err)
	}
	return append(out, '\n'), nil
}
