package export

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/csv"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/sign"
)

// Tag files: everything outside data/ that the tag manifests list.
const (
	verifyMD      = "VERIFY.md"
	indexCSV      = "index.csv"
	reportHTML    = "report.html"
	reportPDF     = "report.pdf"
	caseJSONLD    = "case.jsonld"
	trustDir      = "trust/"
	trustJSON     = trustDir + "trust.json"
	trustedRoot   = trustDir + "trusted_root.json"
	logPEM        = trustDir + "log.pem"
	logVerifier   = trustDir + "log.vkey"
	tsaRootsPEM   = trustDir + "tsa-roots.pem"
	tsaCertsPEM   = trustDir + "tsa-certs.pem"
	keysDir       = trustDir + "keys/"
	exportedAtKey = "Exhibit-Exported-At"
	recipientKey  = "Exhibit-Recipient"
)

// keyFile is the file of a signing key, by fingerprint.
func keyFile(fingerprint string) string {
	return keysDir + strings.TrimPrefix(fingerprint, "sha256:") + ".pub"
}

// trust is the package's trust material, as written.
type trust struct {
	file *sign.TrustFile
	// keys are the signing keys' fingerprints, sorted.
	keys []string
	// tsas are the TSAs' certificate fingerprints, by URI.
	tsas map[string][]string
	vkey string
}

// writeTags writes bag-info and the payload manifests, the trust
// material, index.csv, VERIFY.md, report.html and case.jsonld.
func (x *exporter) writeTags(ctx context.Context) error {
	now := time.Now().UTC()
	info := []infoField{}
	if x.o.Organization != "" {
		info = append(info, infoField{"Source-Organization", x.o.Organization})
	}
	if x.o.Contact != "" {
		info = append(info, infoField{"Contact-Name", x.o.Contact})
	}
	info = append(info,
		infoField{"Bagging-Date", now.Format("2006-01-02")},
		infoField{"Bag-Software-Agent", "exhibit " + x.o.Version},
		infoField{"External-Description", fmt.Sprintf("Disclosure package of %s (%s)", exhibits(len(x.exhibits)), x.o.Content)},
		infoField{recipientKey, x.o.Recipient},
		infoField{exportedAtKey, now.Format(time.RFC3339)},
		infoField{"Exhibit-Content", x.o.Content.String()},
	)
	if x.o.Case != "" {
		info = append(info, infoField{"Exhibit-Case", x.o.Case})
	}
	if err := x.bag.writeDeclaration(info); err != nil {
		return err
	}
	tr, err := x.writeTrust()
	if err != nil {
		return err
	}
	if err := x.bag.put(indexCSV, x.index()); err != nil {
		return err
	}
	guide := x.verifyGuide(tr)
	if err := x.bag.put(verifyMD, []byte(guide)); err != nil {
		return err
	}
	report, err := x.report(tr, guide)
	if err != nil {
		return err
	}
	if err := x.bag.put(reportHTML, report); err != nil {
		return err
	}
	if x.o.PDF != "" {
		pdf, err := renderPDF(ctx, x.o.PDF, x.bag.dir)
		if err != nil {
			return err
		}
		if err := x.bag.put(reportPDF, pdf); err != nil {
			return err
		}
	}
	doc, err := x.caseDocument(now)
	if err != nil {
		return err
	}
	return x.bag.put(caseJSONLD, doc)
}

// writeTrust writes what the recipient needs to check every claim: the
// signing keys (PEM, as cosign reads them), a trust file for exhibit
// verify-export, cosign's trusted root with the TSAs' chains, the TSAs'
// certificates for openssl, and the custody log's verifier key (as a
// signed-note key and as a PEM for openssl).
func (x *exporter) writeTrust() (*trust, error) {
	tf := x.a.TrustFile()
	out := &sign.TrustFile{TimestampAuthorities: tf.TimestampAuthorities}
	tr := &trust{file: out, tsas: map[string][]string{}}
	for _, k := range tf.Keys {
		if x.signers[k.Fingerprint] {
			out.Keys = append(out.Keys, k)
			tr.keys = append(tr.keys, k.Fingerprint)
			if err := x.bag.put(keyFile(k.Fingerprint), []byte(k.PublicKey)); err != nil {
				return nil, err
			}
		}
	}
	sort.Strings(tr.keys)
	if len(tr.keys) == 0 {
		return nil, errors.New("the trust file holds none of the keys that signed the exhibits")
	}
	for _, l := range tf.Logs {
		if l.Origin == x.a.Origin() {
			out.Logs = append(out.Logs, l)
		}
	}
	if len(out.Logs) != 1 {
		return nil, fmt.Errorf("the trust file lists %d keys of the custody log %s; an export needs exactly one", len(out.Logs), x.a.Origin())
	}
	tr.vkey = out.Logs[0].VerifierKey
	pub, err := notePublicKey(tr.vkey)
	if err != nil {
		return nil, err
	}
	if err := x.bag.put(logVerifier, []byte(tr.vkey+"\n")); err != nil {
		return nil, err
	}
	if err := x.bag.put(logPEM, pub); err != nil {
		return nil, err
	}
	data, err := out.Marshal()
	if err != nil {
		return nil, err
	}
	if err := x.bag.put(trustJSON, data); err != nil {
		return nil, err
	}
	root, err := out.CosignTrustedRoot()
	if err != nil {
		return nil, err
	}
	if err := x.bag.put(trustedRoot, root); err != nil {
		return nil, err
	}
	if len(out.TimestampAuthorities) == 0 {
		return tr, nil
	}
	var roots, certs bytes.Buffer
	for _, t := range out.TimestampAuthorities {
		chain, err := t.Chain()
		if err != nil {
			return nil, fmt.Errorf("TSA %s: %w", t.URI(), err)
		}
		for i, c := range chain {
			tr.tsas[t.URI()] = append(tr.tsas[t.URI()], sign.CertFingerprint(c))
			w := &certs
			if i == len(chain)-1 {
				w = &roots
			}
			pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		}
	}
	if err := x.bag.put(tsaRootsPEM, roots.Bytes()); err != nil {
		return nil, err
	}
	return tr, x.bag.put(tsaCertsPEM, certs.Bytes())
}

// notePublicKey returns the Ed25519 public key of a signed-note verifier
// key ("<name>+<hash>+<base64 of 0x01 and the key>") as a PKIX PEM.
func notePublicKey(vkey string) ([]byte, error) {
	parts := strings.SplitN(vkey, "+", 3) // the name holds no "+", the base64 may
	if len(parts) != 3 {
		return nil, errors.New("the custody log's verifier key is not a note key")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != 1 {
		return nil, errors.New("the custody log's verifier key is not an Ed25519 note key")
	}
	der, err := x509.MarshalPKIXPublicKey(ed25519.PublicKey(raw[1:]))
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// indexColumns are index.csv's columns.
var indexColumns = []string{"exhibit", "item", "sha256", "sha512", "size", "media_type", "name", "case", "content",
	"acquired_at", "acquired_clock", "record_timestamp", "signed_by", "verification", "files"}

// index is index.csv: one row per exhibit.
func (x *exporter) index() []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(indexColumns)
	for _, ex := range x.exhibits {
		r := ex.Record
		w.Write([]string{ex.Number, ex.Item.String(), r.Original.Digest["sha256"], r.Original.Digest["sha512"],
			fmt.Sprint(r.Original.Size), r.Original.MediaType, r.Name(), r.Case, ex.Content,
			timeOrEmpty(r.AcquiredAt()), clockOf(r), trustedTime(ex.Timestamps), ex.SignedBy, string(ex.Verified.Verdict),
			strings.Join(ex.Files, " ")})
	}
	w.Flush()
	return buf.Bytes()
}

func timeOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// clockOf names whose clock the record's acquisition time comes from.
func clockOf(r *custody.Record) string {
	if r.Acquisition != nil && r.Acquisition.Clock != custody.ClockHost {
		return r.Acquisition.Clock
	}
	return "ingesting machine"
}

// trustedTime is the earliest verified timestamp, with its TSA.
func trustedTime(ts []sign.TimestampResult) string {
	var best *sign.TimestampResult
	for i := range ts {
		if ts[i].OK() && (best == nil || ts[i].Time.Before(best.Time)) {
			best = &ts[i]
		}
	}
	if best == nil {
		return ""
	}
	return best.Time.UTC().Format(time.RFC3339) + " (" + best.TSA + ")"
}

// exhibits is "1 exhibit", "2 exhibits"…
func exhibits(n int) string {
	if n == 1 {
		return "1 exhibit"
	}
	return fmt.Sprintf("%d exhibits", n)
}
