// Package verify proves, from the archive alone plus the verifier's own
// trust file, that an item is intact: it re-hashes every stored object,
// checks both sigstore bundles against trusted keys and their RFC 3161
// timestamps against trusted timestamp authorities, checks that the record's
// subjects are the bytes in the store, and checks every derivative (and,
// for one that names a span of its original, that span), that every other
// part of the item's acquisition is archived, and the recorded retention. It fails closed: an item passes only when every check
// passes, and each failure names the check, the object, and what was
// expected versus found.
//
// verify must stay small enough to audit: it imports hashing, custody,
// custody/ledger, sign and storage, and never capture, ingest, worker or
// cli.
package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/sign"
	"github.com/openexhibit/exhibit/storage"
)

// Status of one check.
type Status string

const (
	Pass Status = "pass"
	// Fail: the archive does not hold what was signed (tampered or unverifiable).
	Fail Status = "fail"
	// Warn: the check passed with a caveat the reader must know (e.g. no
	// trusted timestamps); it does not fail the item.
	Warn Status = "warn"
	// NotFound: the item is not in the archive.
	NotFound Status = "not-found"
	// Error: the store could not be read; nothing was proven either way.
	Error Status = "error"
	// Untrusted: the check could not be made with the verifier's trust
	// material: the bundle, timestamp or log names a key, TSA or log the
	// trust file does not hold. Nothing is known to be altered, and
	// nothing is proven.
	Untrusted Status = "untrusted"
	// Missing: the custody log records the item as ingested, and the
	// archive no longer holds it.
	Missing Status = "missing"
)

// Verdict is what an item's checks add up to, for people and scripts.
type Verdict string

const (
	Intact       Verdict = "intact"         // every check passed (warnings allowed)
	Tampered     Verdict = "tampered"       // bytes, records, bundles or the log are not what was signed
	Unverifiable Verdict = "unverifiable"   // the trust file lacks a key, TSA or log the item needs
	MissingItem  Verdict = "missing"        // the log says it existed; the archive lacks it
	NotInArchive Verdict = "not-in-archive" // no such item, and the log names none
	NotVerified  Verdict = "not-verified"   // the store could not be read, or nothing decrypts it
)

// VerdictOf maps a status (an item's worst check) to its verdict.
func VerdictOf(s Status) Verdict {
	switch s {
	case Pass, Warn:
		return Intact
	case Fail:
		return Tampered
	case Untrusted:
		return Unverifiable
	case Missing:
		return MissingItem
	case NotFound:
		return NotInArchive
	}
	return NotVerified
}

// failed is the status of a check that failed with err: Untrusted when the
// trust file lacks what the signature or timestamp names, else Fail.
func failed(err error) Status {
	var uk *sign.UntrustedKeyError
	var ut *sign.UntrustedTSAError
	if errors.As(err, &uk) || errors.As(err, &ut) {
		return Untrusted
	}
	return Fail
}

// Check is one verification step.
type Check struct {
	// ID names the check for programs: stable, lowercase, hyphenated
	// ("record-signature", "log-ingested", "derivative"); Name is for people.
	ID   string `json:"id"`
	Name string `json:"check"`
	// Subject is what a check of several of one kind is about: the
	// derivative's name for "derivative".
	Subject  string `json:"subject,omitempty"`
	Object   string `json:"object,omitempty"`
	Status   Status `json:"status"`
	Expected string `json:"expected,omitempty"`
	Found    string `json:"found,omitempty"`
	Detail   string `json:"detail,omitempty"`
}

// ItemReport is the outcome for one item.
type ItemReport struct {
	Item string `json:"item"`
	// File is set when the item was looked up from a local file.
	File   string `json:"file,omitempty"`
	Status Status `json:"status"`
	// Verdict is VerdictOf(Status), set by Report.Add.
	Verdict Verdict `json:"verdict"`
	Checks  []Check `json:"checks"`
	// Case and Name come from the verified record (empty when it did not verify).
	Case string `json:"case,omitempty"`
	Name string `json:"name,omitempty"`
}

// Report is the outcome for a set of items.
type Report struct {
	Archive string       `json:"archive"`
	Status  Status       `json:"status"`
	Items   []ItemReport `json:"items"`
	// Checked is when the verification ran (the verifier's clock).
	Checked time.Time `json:"checked"`
}

// Worse is the worse of two outcomes: a failure outranks a missing item,
// which outranks an untrusted check, a store error, not-found and a
// warning, in that order.
func Worse(a, b Status) Status { return worse(a, b) }

func worse(a, b Status) Status {
	rank := map[Status]int{Pass: 0, Warn: 1, NotFound: 2, Error: 3, Untrusted: 4, Missing: 5, Fail: 6}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// Add appends an item report and updates the overall status.
func (r *Report) Add(ir ItemReport) {
	ir.Verdict = VerdictOf(ir.Status)
	r.Items = append(r.Items, ir)
	if len(r.Items) == 1 {
		r.Status = ir.Status
	} else {
		r.Status = worse(r.Status, ir.Status)
	}
}

// Verifier checks items in one store against one trust file.
type Verifier struct {
	Store storage.Store
	Trust *sign.Verifier
	// Identities decrypt encrypted originals and metadata documents. Without
	// them the ciphertext and the signatures are checked, and the plaintext
	// digests are reported as not checked.
	Identities []age.Identity
	// RequireTimestamp fails a bundle that carries no verified RFC 3161
	// timestamp; without it, a bundle with none gets a warning.
	RequireTimestamp bool
	// MinTimestamps, when above one, fails a bundle with fewer verified
	// timestamps from distinct trusted TSAs: one compromised TSA cannot
	// then date a bundle alone.
	MinTimestamps int
	// Log, when set, is the archive's custody log: each item's events are
	// proven included in its checkpoint (see OpenLog).
	Log *LogView
	// Copy, when set, is asked for a writer for each object an item's
	// check reads: what is "original", "metadata" or "derivative/<name>",
	// rec the item's verified record. A writer it returns receives the
	// object's bytes as they are hashed (the plaintext, once decrypted), is
	// told whether they passed the object's digest check, and is closed;
	// its write errors do not stop the check (the writer keeps them). It
	// received exactly the object when it was told so and got o.Size bytes:
	// one read both proves and copies (an export).
	Copy func(item hashing.Digest, rec *custody.Record, what string) CopyWriter
}

// maxSmall bounds records, bundles and metadata documents read into memory.
const maxSmall = 64 << 20

type itemCheck struct {
	r *ItemReport
	// subject is the derivative whose location locate checks, if any.
	subject string
}

func (c itemCheck) add(ch Check) Check {
	if c.subject != "" && ch.Subject == "" {
		// A check of a derivative's location, named "derivative NAME key"
		// or "derivative NAME pointer".
		ch.ID, ch.Subject = "derivative-"+ch.Name[strings.LastIndexByte(ch.Name, ' ')+1:], c.subject
	}
	if ch.ID == "" {
		ch.ID = CheckID(ch.Name)
	}
	if sub, ok := strings.CutPrefix(ch.Name, "derivative "); ok && ch.Subject == "" {
		ch.Subject = sub
	}
	c.r.Checks = append(c.r.Checks, ch)
	c.r.Status = worse(c.r.Status, ch.Status)
	return ch
}

// storeErr turns a read error into a check: missing objects fail (something
// the archive must hold is gone), other errors are store errors.
func storeErr(name, key string, err error) Check {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return Check{Name: name, Object: key, Status: Fail, Expected: "object present", Found: "object missing"}
	case errors.Is(err, storage.ErrTooLarge):
		return Check{Name: name, Object: key, Status: Fail, Expected: "an object of the size Exhibit writes there", Found: "a larger object: " + err.Error()}
	}
	return Check{Name: name, Object: key, Status: Error, Detail: err.Error()}
}

// checkParts checks that every other part of an item's acquisition is
// archived (its record bundle exists; verifying that item checks the rest),
// so that a unit acquired together is not silently missing a part.
func (v *Verifier) checkParts(ctx context.Context, c itemCheck, bundleKey string, a *custody.Acquisition) {
	var missing []string
	for _, p := range a.Parts {
		if p.Name == a.Part {
			continue
		}
		id, err := hashing.ParseDigest(p.Item)
		if err != nil {
			c.add(Check{Name: "acquisition", Object: bundleKey, Status: Fail, Detail: "part " + p.Name + ": " + err.Error()})
			return
		}
		if p.Item == c.r.Item {
			continue // the same bytes as this item's part
		}
		_, err = v.Store.Stat(ctx, custody.RecordBundleKey(id))
		switch {
		case errors.Is(err, storage.ErrNotFound):
			missing = append(missing, p.Name+" ("+p.Item+")")
		case err != nil:
			c.add(storeErr("acquisition", custody.RecordBundleKey(id), err))
			return
		}
	}
	if len(missing) > 0 {
		c.add(Check{Name: "acquisition", Object: bundleKey, Status: Fail,
			Expected: fmt.Sprintf("all %d parts of acquisition %s archived", len(a.Parts), a.ID),
			Found:    "missing: " + strings.Join(missing, ", "),
			Detail:   "a part was removed, or the run that acquired them was interrupted before its record was written"})
		return
	}
	c.add(Check{Name: "acquisition", Object: bundleKey, Status: Pass,
		Detail: fmt.Sprintf("part %s of acquisition %s (%s); all %d parts archived", a.Part, a.ID, a.Kind, len(a.Parts))})
}

// CheckID is the stable ID of the check named name: the name with spaces as
// hyphens, and "derivative" for every "derivative NAME".
func CheckID(name string) string {
	if strings.HasPrefix(name, "derivative ") {
		return "derivative"
	}
	return strings.ReplaceAll(name, " ", "-")
}

// Item verifies one item, and its custody events when Log is set.
func (v *Verifier) Item(ctx context.Context, id hashing.Digest) ItemReport {
	ir, rb, rbErr := v.item(ctx, id)
	if v.Log != nil && ir.Status != NotFound {
		v.Log.checkItem(ctx, itemCheck{r: &ir}, v.Store, id, rb, rbErr)
	}
	return ir
}

// item verifies one item but for its custody events, and returns the
// record bundle as read (or why it could not be), which the custody log
// checks refer to.
func (v *Verifier) item(ctx context.Context, id hashing.Digest) (ir ItemReport, rb []byte, rbErr error) {
	ir = ItemReport{Item: id.String(), Status: Pass}
	c := itemCheck{r: &ir}

	bundleKey := custody.RecordBundleKey(id)
	rb, rbErr = v.read(ctx, bundleKey)
	err := rbErr
	if errors.Is(err, storage.ErrNotFound) {
		// Distinguish "never archived" from "record deleted".
		if left := v.leftovers(ctx, id); left != "" {
			c.add(Check{Name: "record bundle", Object: bundleKey, Status: Fail, Expected: "object present",
				Found: "object missing while " + left + " exists (deleted, or an interrupted ingest: run ingest again)"})
			return ir, rb, rbErr
		}
		c.add(Check{Name: "item", Object: bundleKey, Status: NotFound, Detail: "no such item in the archive"})
		return ir, rb, rbErr
	}
	if err != nil {
		c.add(storeErr("record bundle", bundleKey, err))
		return ir, rb, rbErr
	}

	// 1. The record is signed by a trusted key.
	verified, err := v.Trust.VerifyStatement(rb, nil)
	if err != nil {
		c.add(Check{Name: "record signature", Object: bundleKey, Status: failed(err), Detail: err.Error()})
		return ir, rb, rbErr
	}
	c.add(Check{Name: "record signature", Object: bundleKey, Status: Pass, Detail: "signed by trusted key " + verified.KeyFingerprint})

	stmt, err := custody.ParseStatement(verified.Payload)
	if err != nil {
		c.add(Check{Name: "record format", Object: bundleKey, Status: Fail, Detail: err.Error()})
		return ir, rb, rbErr
	}
	rec := &stmt.Predicate
	ir.Case, ir.Name = rec.Case, rec.Name()
	if rec.Item != id.String() {
		c.add(Check{Name: "record item", Object: bundleKey, Status: Fail, Expected: id.String(), Found: rec.Item})
		return ir, rb, rbErr
	}
	c.add(Check{Name: "record format", Object: bundleKey, Status: Pass, Detail: stmt.PredicateType})
	if rec.Operator.KeyFingerprint != verified.KeyFingerprint {
		c.add(Check{Name: "record key", Object: bundleKey, Status: Fail, Expected: rec.Operator.KeyFingerprint, Found: verified.KeyFingerprint,
			Detail: "the record names another key than the one that signed it"})
	}

	// 2. The plain copy of the record is the signed payload.
	recordKey := custody.RecordKey(id)
	if data, err := v.read(ctx, recordKey); err != nil {
		c.add(storeErr("record copy", recordKey, err))
	} else if !bytes.Equal(data, verified.Payload) {
		c.add(Check{Name: "record copy", Object: recordKey, Status: Fail, Expected: "the signed statement",
			Found: "different bytes (" + hashing.Bytes(data).SHA256.String() + ")"})
	} else {
		c.add(Check{Name: "record copy", Object: recordKey, Status: Pass})
	}

	// The other parts of its acquisition are archived too.
	if rec.Acquisition != nil {
		v.checkParts(ctx, c, bundleKey, rec.Acquisition)
	}

	// 3. The original: re-hash every byte and compare with the signed subject.
	origKey := v.locate(ctx, c, "original", rec.Original)
	// Derivatives that are a span of the original (a capture's screenshot
	// is a WARC record's block) are hashed from the original in the same
	// read.
	spans := derivedSpans(rec)
	origOK := false
	ow, done := v.copyTo(spans, id, rec, "original")
	got, ok := v.checkObject(ctx, c, originalChecks, origKey, rec.Original, ow)
	done(ok)
	if ok {
		origOK = true
		// sigstore's own subject check, against the recomputed digest.
		if _, err := v.Trust.VerifyStatement(rb, got.SHA256.Sum); err != nil {
			c.add(Check{Name: "record subject", Object: bundleKey, Status: Fail, Detail: err.Error()})
		} else {
			c.add(Check{Name: "record subject", Object: bundleKey, Status: Pass, Detail: "the signed statement names the stored bytes"})
		}
	}

	// 4. The original's message-signature bundle.
	obKey := custody.OriginalBundleKey(id)
	var origTimestamps *sign.Verified
	if ob, err := v.read(ctx, obKey); err != nil {
		c.add(storeErr("original signature", obKey, err))
	} else if ov, err := v.Trust.VerifyDigest(ob, id.Sum); err != nil {
		// Both bundles are signed by the same key at ingest: a trusted
		// record beside an original bundle by another key was replaced.
		c.add(Check{Name: "original signature", Object: obKey, Status: Fail, Detail: err.Error()})
	} else {
		c.add(Check{Name: "original signature", Object: obKey, Status: Pass, Detail: "signed by trusted key " + ov.KeyFingerprint})
		origTimestamps = ov
	}

	// 5. Metadata document.
	if rec.Metadata == nil {
		c.add(Check{Name: "metadata", Status: Fail, Detail: "the record names no metadata document"})
	} else {
		v.checkMetadata(ctx, c, id, rec)
	}

	// 6. Derivatives.
	for _, d := range rec.Derivatives {
		name := "derivative " + d.Name
		key := v.locate(ctx, c, name, d.Object)
		if key == "" {
			spans.unverified(d.Name)
			continue
		}
		dw, done := v.copyTo(spans.derivative(d.Name), id, rec, "derivative/"+d.Name)
		_, ok := v.checkObject(ctx, c, checkNames{digests: name}, key, d.Object, dw)
		done(ok)
		if !ok {
			spans.unverified(d.Name)
		}
	}
	spans.check(c, origOK, origKey)

	// 7. Retention recorded at ingest must still be in force.
	if rec.Storage.Retention != nil || rec.Storage.LegalHold {
		v.checkRetention(ctx, c, origKey, rec.Storage)
		if addr, _ := rec.Original.StoredKey(); addr != origKey && origKey != "" {
			v.checkRetention(ctx, c, addr, rec.Storage) // the pointer
		}
	}

	// 8. Time: the RFC 3161 timestamps of both bundles; without any there
	// is no trusted time.
	v.timestampChecks(c, bundleKey, verified)
	if origTimestamps != nil {
		v.timestampChecks(c, obKey, origTimestamps)
	}
	return ir, rb, rbErr
}

// locate checks where the record says an object's stored bytes lie and
// returns the key to read them at: their content address, or the upload
// key the record names when the pointer at the content address names it
// too (see custody.Pointer). A key of neither form fails, and the content
// address is read instead ("" for a derivative, which is then skipped).
func (v *Verifier) locate(ctx context.Context, c itemCheck, name string, o custody.Object) string {
	c = c.named(name)
	addr, err := o.StoredKey()
	if err != nil {
		c.add(Check{Name: name + " key", Object: o.Key, Status: Fail, Detail: err.Error()})
		return ""
	}
	if o.Key == addr {
		return addr
	}
	if !custody.IsUploadKey(o.Key) {
		c.add(Check{Name: name + " key", Object: o.Key, Status: Fail, Expected: addr + " or an upload key", Found: o.Key})
		if name == "original" {
			return addr
		}
		return ""
	}
	check := name + " pointer"
	data, err := storage.ReadAll(ctx, v.Store, addr, custody.MaxPointer)
	if err != nil {
		c.add(storeErr(check, addr, err))
		return o.Key
	}
	p, err := o.PointerAt(data)
	switch {
	case errors.Is(err, custody.ErrNotPointer):
		c.add(Check{Name: check, Object: addr, Status: Fail, Expected: "a pointer to " + o.Key, Found: "not a pointer (" + hashing.Bytes(data).SHA256.String() + ")"})
	case err != nil:
		c.add(Check{Name: check, Object: addr, Status: Fail, Detail: err.Error()})
	case p.Key != o.Key:
		c.add(Check{Name: check, Object: addr, Status: Fail, Expected: "a pointer to " + o.Key, Found: "a pointer to " + p.Key})
	default:
		c.add(Check{Name: check, Object: addr, Status: Pass, Detail: "the content address points to " + o.Key + ", where the record says the bytes lie"})
	}
	return o.Key
}

// named returns c adding the checks of the object called name: for a
// derivative ("derivative NAME"), their IDs are "derivative-" and the
// check's last word ("derivative-pointer"), their subject NAME.
func (c itemCheck) named(name string) itemCheck {
	sub, ok := strings.CutPrefix(name, "derivative ")
	if !ok {
		return c
	}
	c.subject = sub
	return c
}

func (c itemCheck) compare(name, key string, want, got hashing.Set, sha512 bool) Check {
	if want.Size != got.Size {
		return c.add(Check{Name: name, Object: key, Status: Fail, Expected: fmt.Sprintf("%d bytes", want.Size), Found: fmt.Sprintf("%d bytes", got.Size)})
	}
	if !want.SHA256.Equal(got.SHA256) {
		return c.add(Check{Name: name, Object: key, Status: Fail, Expected: want.SHA256.String(), Found: got.SHA256.String()})
	}
	if sha512 && !want.SHA512.Equal(got.SHA512) {
		return c.add(Check{Name: name, Object: key, Status: Fail, Expected: want.SHA512.String(), Found: got.SHA512.String()})
	}
	detail := "sha256"
	if sha512 {
		detail += " and sha512"
	}
	return c.add(Check{Name: name, Object: key, Status: Pass, Detail: detail + " match the record"})
}

func (v *Verifier) checkMetadata(ctx context.Context, c itemCheck, id hashing.Digest, rec *custody.Record) {
	m := rec.Metadata
	key := v.locate(ctx, c, "metadata", m.Object)
	if key == "" {
		return
	}
	var data bytes.Buffer
	mw, done := v.copyTo(&LimitedWriter{W: &data, N: maxSmall}, id, rec, "metadata")
	_, ok := v.checkObject(ctx, c, metadataChecks, key, m.Object, mw)
	done(ok)
	if !ok {
		return
	}
	var doc struct {
		Item string `json:"item"`
	}
	if err := json.Unmarshal(data.Bytes(), &doc); err != nil || doc.Item != id.String() {
		c.add(Check{Name: "metadata item", Object: m.Key, Status: Fail, Expected: id.String(), Found: doc.Item})
	}
}

// checkNames name the checks of one stored object: its (plaintext)
// digests and, when it is encrypted, its ciphertext and the warning or
// error about its plaintext.
type checkNames struct{ digests, ciphertext, plaintext string }

var (
	originalChecks = checkNames{"original digests", "original ciphertext digests", "original plaintext"}
	metadataChecks = checkNames{"metadata", "metadata ciphertext", "metadata plaintext"}
)

// checkObject re-hashes a stored object in one read and compares it with
// the record: the stored bytes, and for an encrypted object the ciphertext
// and then, when the verifier holds an identity, the decrypted plaintext,
// which also goes to w. ok is true when the plaintext digests were proven
// equal; got holds them.
func (v *Verifier) checkObject(ctx context.Context, c itemCheck, names checkNames, key string, o custody.Object, w io.Writer) (got hashing.Set, ok bool) {
	want := digestSet(o.Digest, o.Size)
	enc := o.Encryption
	first := names.digests
	if enc != nil {
		first = names.ciphertext
	}
	s, err := stream(ctx, v.Store, key, enc != nil, v.Identities, w)
	if err != nil {
		c.add(storeErr(first, key, err))
		return got, false
	}
	if enc != nil {
		if c.compare(names.ciphertext, key, digestSet(enc.Digest, enc.Size), s.stored, true).Status != Pass {
			return got, false
		}
		switch {
		case len(v.Identities) == 0:
			c.add(notDecrypted(names.plaintext, key, enc))
			return got, false
		case !s.decrypted:
			c.add(decryptErr(names.plaintext, key, s.decErr))
			return got, false
		}
	}
	return s.plain, c.compare(names.digests, key, want, s.plain, !want.SHA512.IsZero()).Status == Pass
}

// CopyWriter is what Verifier.Copy returns: before it is closed, it is
// told whether the object it received passed its digest check (every
// digest the record holds, of every byte) or not.
type CopyWriter interface {
	io.WriteCloser
	Verified(ok bool)
}

// copyTo adds Copy's writer for an object to w, and returns what tells it
// the object's result and closes it once the object has been read.
func (v *Verifier) copyTo(w io.Writer, id hashing.Digest, rec *custody.Record, what string) (io.Writer, func(ok bool)) {
	if v.Copy == nil {
		return w, func(bool) {}
	}
	cw := v.Copy(id, rec, what)
	if cw == nil {
		return w, func(bool) {}
	}
	return io.MultiWriter(w, quiet{cw}), func(ok bool) {
		cw.Verified(ok)
		cw.Close()
	}
}

// quiet is a writer whose errors are its own business (Copy's writers
// keep theirs): the check goes on.
type quiet struct{ w io.Writer }

func (q quiet) Write(p []byte) (int, error) {
	q.w.Write(p)
	return len(p), nil
}

func digestSet(m map[string]string, size int64) hashing.Set {
	s, _ := hashing.SetFromMap(m)
	s.Size = size
	return s
}

func notDecrypted(name, key string, enc *custody.Encryption) Check {
	return Check{Name: name, Object: key, Status: Warn,
		Detail: "encrypted to " + strings.Join(enc.Recipients, ", ") + "; the ciphertext and signatures are proven, the plaintext digests are not: pass --identity FILE to check them"}
}

// decryptErr reports a ciphertext that matches the record but does not
// decrypt: with an identity that is not a recipient, nothing is proven
// either way; otherwise the signed ciphertext itself is bad.
func decryptErr(name, key string, err error) Check {
	var nm *age.NoIdentityMatchError
	if errors.As(err, &nm) {
		return Check{Name: name, Object: key, Status: Error,
			Detail: "none of the given identities is a recipient of the ciphertext: pass the identity it was encrypted to"}
	}
	return Check{Name: name, Object: key, Status: Fail, Expected: "a ciphertext that decrypts", Found: err.Error()}
}

func (v *Verifier) checkRetention(ctx context.Context, c itemCheck, key string, st custody.Storage) {
	o, err := v.Store.Stat(ctx, key)
	if err != nil {
		c.add(storeErr("retention", key, err))
		return
	}
	if r := st.Retention; r != nil {
		if string(o.Retention.Mode) != r.Mode || o.Retention.Until.Before(r.Until) {
			found := "none"
			if !o.Retention.IsZero() {
				found = fmt.Sprintf("%s until %s", o.Retention.Mode, o.Retention.Until.Format(time.RFC3339))
			}
			c.add(Check{Name: "retention", Object: key, Status: Fail,
				Expected: fmt.Sprintf("%s until %s or later", r.Mode, r.Until.Format(time.RFC3339)), Found: found})
			return
		}
	}
	if st.LegalHold && !o.LegalHold {
		c.add(Check{Name: "legal hold", Object: key, Status: Fail, Expected: "legal hold on", Found: "legal hold off"})
		return
	}
	c.add(Check{Name: "retention", Object: key, Status: Pass, Detail: "object lock as recorded"})
}

// timestampChecks adds one check per timestamp of a verified bundle, or one
// saying that there is none. A time is shown only when its timestamp
// verified against a TSA of the trust file.
func (v *Verifier) timestampChecks(c itemCheck, key string, vd *sign.Verified) {
	for _, r := range vd.Timestamps {
		if r.OK() {
			c.add(Check{Name: "timestamps", Object: key, Status: Pass,
				Detail: "RFC 3161 time " + r.Time.Format(time.RFC3339Nano) + " from trusted TSA " + r.TSA})
			continue
		}
		ch := Check{Name: "timestamps", Object: key, Status: failed(r.Err), Detail: r.Err.Error()}
		var me *sign.TimestampMismatchError
		if errors.As(r.Err, &me) {
			ch.Detail = "timestamp covers a different signature (copied from another bundle?)"
			ch.Expected, ch.Found = "a timestamp over this bundle's signature, hash "+me.Expected, "a timestamp over hash "+me.Found
		}
		c.add(ch)
	}
	distinct := map[string]bool{}
	for _, r := range vd.Timestamps {
		if r.OK() {
			distinct[r.TSA] = true
		}
	}
	if v.MinTimestamps > 1 && len(distinct) < v.MinTimestamps {
		c.add(Check{Name: "timestamps", Object: key, Status: Fail,
			Expected: fmt.Sprintf("verified RFC 3161 timestamps from at least %d distinct trusted TSAs (required)", v.MinTimestamps),
			Found:    fmt.Sprintf("%d", len(distinct))})
		return
	}
	if len(vd.Timestamps) > 0 {
		return
	}
	tsas := v.Trust.TSAs()
	switch {
	case v.RequireTimestamp:
		c.add(Check{Name: "timestamps", Object: key, Status: Fail, Expected: "at least one verified RFC 3161 timestamp (required)", Found: "none"})
	case len(tsas) == 0:
		c.add(Check{Name: "timestamps", Object: key, Status: Warn,
			Detail: "none: no timestamp authority is configured (the trust file lists none), so no trusted time is proven; acquisition times are the ingesting machine's clock"})
	default:
		c.add(Check{Name: "timestamps", Object: key, Status: Warn,
			Detail: fmt.Sprintf("none, although the trust file lists %d timestamp authorities (signed before one was configured, or while it was down): no trusted time is proven", len(tsas))})
	}
}

// leftovers names an object of the item that exists although its record
// bundle does not.
func (v *Verifier) leftovers(ctx context.Context, id hashing.Digest) string {
	found := ""
	_ = v.Store.List(ctx, custody.ItemPrefix(id), func(o storage.Object) error {
		found = o.Key
		return io.EOF
	})
	return found
}

func (v *Verifier) read(ctx context.Context, key string) ([]byte, error) {
	return storage.ReadAll(ctx, v.Store, key, maxSmall)
}

// Items lists the IDs of every item in the archive, including items whose
// record bundle is missing (so that a deleted record is reported, not
// silently skipped).
func (v *Verifier) Items(ctx context.Context) ([]hashing.Digest, error) {
	var ids []hashing.Digest
	seen := map[string]bool{}
	err := v.Store.List(ctx, "items/", func(o storage.Object) error {
		rest := strings.TrimPrefix(o.Key, "items/")
		h, _, ok := strings.Cut(rest, "/")
		if !ok || seen[h] {
			return nil
		}
		seen[h] = true
		d, err := hashing.FromHex(hashing.SHA256, h)
		if err != nil {
			return nil // not an item folder; ignored
		}
		ids = append(ids, d)
		return nil
	})
	return ids, err
}

// CaseOf returns the case named by an item's verified record, or an error
// when the record is missing or does not verify.
func (v *Verifier) CaseOf(ctx context.Context, id hashing.Digest) (string, error) {
	rb, err := v.read(ctx, custody.RecordBundleKey(id))
	if err != nil {
		return "", err
	}
	vf, err := v.Trust.VerifyStatement(rb, nil)
	if err != nil {
		return "", err
	}
	st, err := custody.ParseStatement(vf.Payload)
	if err != nil {
		return "", err
	}
	return st.Predicate.Case, nil
}
