package wacz

import (
	"archive/zip"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"

	"github.com/openexhibit/exhibit/capture"
	"github.com/openexhibit/exhibit/capture/warc"
	"github.com/openexhibit/exhibit/custody"
)

// ReaderID names the WACZ reader and its output version.
const ReaderID = "wacz/1"

// Reader is the capture.Reader of WACZ files: an incoming WACZ (a
// capture made elsewhere, a platform's export) is checked, never trusted,
// and the result goes into the metadata document; the page attachments of
// a capture (screenshot, PDF, DOM, text, media files) become derivatives, each
// byte-identical to its WARC record's block, which the record names by its
// place in the original so that verify can compare them.
type Reader struct{}

// New returns the WACZ reader.
func New() *Reader { return &Reader{} }

// ID implements capture.Reader.
func (*Reader) ID() string { return ReaderID }

// MediaTypes implements capture.Reader: a WACZ is sniffed as a ZIP.
func (*Reader) MediaTypes() []string { return []string{"application/zip"} }

// Metadata is the output of wacz/1.
type Metadata struct {
	// Valid says the package holds together (Check); Problem says why not.
	Valid    bool   `json:"valid"`
	Problem  string `json:"problem,omitempty"`
	Software string `json:"software,omitempty"`
	Created  string `json:"created,omitempty"`
	MainPage string `json:"mainPageUrl,omitempty"`
	// Resources and IndexEntries count what was checked.
	Resources    int `json:"resources"`
	IndexEntries int `json:"indexEntries"`
	// Signature is "absent", "verified" (an anonymous WACZ-auth signature
	// over the package's hash, by PublicKey), "invalid", or "not checked"
	// (a domain signature, whose certificate chain is not checked here).
	Signature string `json:"signature"`
	PublicKey string `json:"publicKey,omitempty"`
	// Credentials counts the Cookie, Set-Cookie, Authorization and
	// Proxy-Authorization fields in its requests and responses: a WACZ that
	// has any gets a working copy without them.
	Credentials int `json:"credentials"`
}

// Target URIs of the records a capture adds to the exchanges (each
// prefix is followed by the page's URL): what the browser took, a
// metadata record describing the page, and with media, each media file
// (MediaURN, the file's name, a colon, the URL) and yt-dlp's description
// of the post (a metadata record).
const (
	ScreenshotURN = "urn:exhibit:screenshot:"
	PDFURN        = "urn:exhibit:pdf:"
	DOMURN        = "urn:exhibit:dom:"
	TextURN       = "urn:exhibit:text:"
	PageURN       = "urn:exhibit:page:"
	MediaURN      = "urn:exhibit:media:"
	MediaInfoURN  = "urn:exhibit:media-info:"
)

// attachments are the resource records made into derivatives.
var attachments = []struct {
	prefix, name, kind string
}{
	{ScreenshotURN, "screenshot.png", "screenshot"},
	{PDFURN, "page.pdf", "pdf"},
	{DOMURN, "dom.html", "dom"},
	{TextURN, "text.txt", "text"},
}

// Read implements capture.Reader. A ZIP that is not a WACZ (no
// datapackage.json) is capture.ErrUnsupported.
func (*Reader) Read(ctx context.Context, src capture.Source) (*capture.Result, error) {
	zr, err := zip.NewReader(src, src.Size())
	if err != nil {
		return nil, capture.ErrUnsupported
	}
	var warcFile *zip.File
	isWACZ := false
	for _, f := range zr.File {
		switch {
		case f.Name == "datapackage.json":
			isWACZ = true
		case strings.HasPrefix(f.Name, "archive/") && strings.HasSuffix(f.Name, ".warc") && warcFile == nil:
			warcFile = f
		}
	}
	if !isWACZ {
		return nil, capture.ErrUnsupported
	}
	m := &Metadata{Signature: "absent"}
	checked, err := Check(src, src.Size())
	if err != nil {
		m.Problem = err.Error()
	} else {
		m.Valid = true
		m.Software, m.Created, m.MainPage = checked.Software, checked.Created, checked.MainPage
		m.Resources, m.IndexEntries = checked.Resources, checked.Entries
		m.Signature, m.PublicKey = signature(zr)
	}
	res := &capture.Result{Metadata: m}
	if m.Valid && warcFile != nil && warcFile.Method == zip.Store {
		ds, creds, err := derivatives(ctx, src, warcFile)
		if err != nil {
			return nil, err
		}
		res.Derivatives, m.Credentials = ds, creds
		if creds > 0 {
			res.Derivatives = append(res.Derivatives, workingCopy(src, warcFile, ""))
		}
	}
	return res, nil
}

// derivatives makes the page attachments of a stored WARC into
// derivatives whose bytes are their records' blocks, and counts the
// credential fields of its HTTP messages.
func derivatives(ctx context.Context, src capture.Source, f *zip.File) ([]capture.Derivative, int, error) {
	base, err := f.DataOffset()
	if err != nil {
		return nil, 0, err
	}
	creds := map[string]int{}
	rd := warc.NewReader(io.NewSectionReader(src, base, int64(f.UncompressedSize64)))
	var out []capture.Derivative
	seen := map[string]bool{}
	for n := 0; ; n++ {
		if n%256 == 0 && ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		rec, err := rd.Next()
		if err != nil {
			// After an error: Check read the file already; what follows a
			// bad record is not attached.
			total := 0
			for _, c := range creds {
				total += c
			}
			return out, total, nil
		}
		typ := rec.Header.Get("WARC-Type")
		if (typ == warc.Request || typ == warc.Response) && strings.HasPrefix(rec.Header.Get("Content-Type"), "application/http") {
			if head, _, err := httpHead(io.NewSectionReader(src, base+rec.BlockOffset, rec.Size)); err == nil {
				dropFields(head, creds)
			}
			continue
		}
		if typ != warc.Resource {
			continue
		}
		uri := rec.Header.Get("WARC-Target-URI")
		name, kind := attachment(uri)
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		// The block's place in the original: the record's offset in the
		// WARC, plus its header, plus where the WARC starts in the ZIP.
		off := base + rec.BlockOffset
		size := rec.Size
		mt, _, _ := strings.Cut(rec.Header.Get("Content-Type"), ";")
		out = append(out, capture.Derivative{
			Name: name, Kind: kind, MediaType: strings.TrimSpace(mt),
			Transform: capture.Transform{Name: "wacz-extract", Version: "1", Params: map[string]string{
				"record":                    rec.Header.Get("WARC-Record-ID"),
				custody.ParamOriginalOffset: fmt.Sprint(off),
				custody.ParamOriginalLength: fmt.Sprint(size),
			}},
			Write: func(_ context.Context, w io.Writer) error {
				_, err := io.Copy(w, io.NewSectionReader(src, off, size))
				return err
			},
		})
	}
}

// attachment is the derivative name and kind of a resource record by its
// target URI ("" when it is not one). A media file's name is taken from
// the URI only when it is a plain file name starting "media-" (so that a
// WACZ from elsewhere cannot take the name of another derivative).
func attachment(uri string) (name, kind string) {
	for _, a := range attachments {
		if strings.HasPrefix(uri, a.prefix) {
			return a.name, a.kind
		}
	}
	if rest, ok := strings.CutPrefix(uri, MediaURN); ok {
		name, _, _ = strings.Cut(rest, ":")
		if strings.HasPrefix(name, "media-") && plainName(name) {
			return name, "media"
		}
	}
	return "", ""
}

// plainName: 1 to 64 letters, digits, dots, dashes and underscores, not
// starting with a dot.
func plainName(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '.' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// signature checks an anonymous WACZ-auth signature in
// datapackage-digest.json: ECDSA P-256 over SHA-256 of the UTF-8 string of
// the package's hash ("sha256:…"), raw r||s in base64, by the key given as
// base64 SPKI DER.
func signature(zr *zip.Reader) (status, key string) {
	f, err := zr.Open("datapackage-digest.json")
	if err != nil {
		return "absent", ""
	}
	defer f.Close()
	var d struct {
		Hash       string `json:"hash"`
		SignedData *struct {
			Hash       string `json:"hash"`
			Signature  string `json:"signature"`
			PublicKey  string `json:"publicKey"`
			DomainCert string `json:"domainCert"`
		} `json:"signedData"`
	}
	if err := json.NewDecoder(io.LimitReader(f, 1<<20)).Decode(&d); err != nil || d.SignedData == nil {
		return "absent", ""
	}
	sd := d.SignedData
	if sd.DomainCert != "" || sd.PublicKey == "" {
		return "not checked", ""
	}
	ok, err := verifyAnonymous(sd.Hash, sd.Signature, sd.PublicKey)
	if err != nil || !ok || sd.Hash != d.Hash {
		return "invalid", sd.PublicKey
	}
	return "verified", sd.PublicKey
}

func verifyAnonymous(hash, sigB64, keyB64 string) (bool, error) {
	der, err := base64.StdEncoding.DecodeString(keyB64)
	if err != nil {
		return false, err
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return false, err
	}
	ek, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return false, errors.New("not an ECDSA key")
	}
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil || len(sig) != 64 {
		return false, errors.New("signature is not r||s")
	}
	sum := sha256.Sum256([]byte(hash))
	return ecdsa.Verify(ek, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])), nil
}

// Summarize implements capture.Summarizer.
func (*Reader) Summarize(stored json.RawMessage) (*capture.Summary, error) {
	var m Metadata
	if err := json.Unmarshal(stored, &m); err != nil {
		return nil, err
	}
	valid := "valid (every file's hash, the digest file and the index checked)"
	if !m.Valid {
		valid = "NOT VALID: " + m.Problem
	}
	facts := []capture.Fact{{Label: "web archive", Value: "WACZ, " + valid}}
	if m.MainPage != "" {
		facts = append(facts, capture.Fact{Label: "main page", Value: m.MainPage})
	}
	if m.Software != "" {
		facts = append(facts, capture.Fact{Label: "made by", Value: m.Software + " " + m.Created})
	}
	facts = append(facts, capture.Fact{Label: "wacz signature", Value: m.Signature})
	return &capture.Summary{Value: &m, Facts: facts}, nil
}
