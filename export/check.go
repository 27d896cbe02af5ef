package export

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/custody/ledger"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/sign"
	"github.com/openexhibit/exhibit/verify"
)

// CheckOptions configure Check.
type CheckOptions struct {
	// Trust is the recipient's own trust file, received out of band; nil
	// uses the package's trust/trust.json, which proves only that the
	// package is consistent with the keys it carries (the report says so).
	Trust *sign.TrustFile
	// RequireTimestamp fails a bundle or checkpoint without a verified
	// RFC 3161 timestamp (else: a warning).
	RequireTimestamp bool
}

// CheckReport is the outcome of Check.
type CheckReport struct {
	Package string `json:"package"`
	// TrustFrom is "package" (trust/trust.json) or "trust file".
	TrustFrom string `json:"trustFrom"`
	// Keys are the fingerprints of the signing keys trusted.
	Keys       []string `json:"keys"`
	Recipient  string   `json:"recipient,omitempty"`
	ExportedAt string   `json:"exportedAt,omitempty"`
	// Checkpoint is the custody log checkpoint the events are proven
	// against, when it verified.
	Checkpoint *custody.Checkpoint `json:"checkpoint,omitempty"`
	// Checks are the package's own checks (BagIt, trust, checkpoint).
	Checks   []verify.Check      `json:"checks"`
	Exhibits []verify.ItemReport `json:"exhibits"`
	// Status is the worst status of every check; Verdict what it means.
	Status  verify.Status  `json:"status"`
	Verdict verify.Verdict `json:"verdict"`
}

// ErrNotPackage: the folder is no BagIt bag.
var ErrNotPackage = errors.New("not a disclosure package")

// checker holds what Check has read.
type checker struct {
	dir  string
	o    CheckOptions
	rep  *CheckReport
	info map[string][]string
	// sums are the digests of every file the manifests list, as hashed.
	sums map[string]hashing.Set
	// used are the files some check accounted for.
	used      map[string]bool
	trust     *sign.Verifier
	trustFile *sign.TrustFile
	// cp is the verified checkpoint and signed its note (nil: none).
	cp     *custody.Checkpoint
	signed []byte
	// tagManifest is the SHA-256 of tagmanifest-sha256.txt.
	tagManifest string
	// exported are the exported events, by item.
	exported map[string][]int64
}

// Check re-checks a disclosure package from its files alone: every
// manifest and tag manifest, that no file was added or removed, each
// exhibit's bundles against the trust (the package's own or the
// recipient's), its files against the signed record, its timestamps, and
// every custody event's inclusion proof against the signed checkpoint;
// and that the exported events name this package. Statuses and verdicts
// are verify's. An error means the folder could not be read as a package.
func Check(dir string, o CheckOptions) (*CheckReport, error) {
	if fi, err := os.Stat(dir); err == nil && fi.Mode().IsRegular() && strings.HasSuffix(dir, ".zip") {
		tmp, err := os.MkdirTemp("", "exhibit-verify-export-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		inner, err := unzipPackage(dir, tmp)
		if err != nil {
			return nil, err
		}
		rep, err := checkDir(inner, o)
		if rep != nil {
			rep.Package = dir
		}
		return rep, err
	}
	return checkDir(dir, o)
}

func checkDir(dir string, o CheckOptions) (*CheckReport, error) {
	if _, err := os.Stat(filepath.Join(dir, bagitTxt)); err != nil {
		// A package that lost its declaration is still checked; a folder
		// with neither it nor a manifest is no package.
		if _, merr := os.Stat(filepath.Join(dir, "manifest-sha256.txt")); merr != nil {
			return nil, fmt.Errorf("%s: %w (no %s)", dir, ErrNotPackage, bagitTxt)
		}
	}
	// Every file is listed first: anything but regular files and folders
	// (a link, a device, a pipe) ends the check before a file is read.
	files, err := walkFiles(dir)
	if err != nil {
		return nil, err
	}
	k := &checker{dir: dir, o: o, rep: &CheckReport{Package: dir, Status: verify.Pass}, sums: map[string]hashing.Set{},
		used: map[string]bool{bagitTxt: true}, exported: map[string][]int64{}}
	decl, _ := k.read(bagitTxt)
	if string(decl) != bagitDecl {
		k.add(verify.Check{Name: "bag declaration", Object: bagitTxt, Status: verify.Fail, Expected: strings.TrimSpace(bagitDecl), Found: orNone(firstLine(decl))})
	}
	k.manifests(files)
	k.loadTrust()
	k.checkpoint()
	exhibits := k.exhibitDirs(files)
	if len(exhibits) == 0 {
		k.add(verify.Check{Name: "exhibits", Object: "data/", Status: verify.Fail, Expected: "at least one exhibit", Found: "none"})
	}
	k.exportedEvents()
	items := map[string]bool{}
	known := true // every exhibit's item is known (its record verified)
	for _, ex := range exhibits {
		ir := k.exhibit(ex)
		ir.Verdict = verify.VerdictOf(ir.Status)
		k.rep.Exhibits = append(k.rep.Exhibits, ir)
		k.rep.Status = verify.Worse(k.rep.Status, ir.Status)
		items[ir.Item] = true
		known = known && ir.Item != ""
	}
	for item, idx := range k.exported {
		if known && !items[item] {
			k.add(verify.Check{Name: "exported event", Object: exportedFile(idx[0]), Status: verify.Fail,
				Expected: "an exported event of an exhibit of this package", Found: "one of " + item + ", which the package does not hold"})
		}
	}
	for _, f := range files {
		if idx, ok := strings.CutPrefix(f, proofDir); ok && !k.used[f] {
			// A proof whose event is gone: say which event.
			k.used[f] = true
			idx = strings.TrimSuffix(idx, ".tlog-proof")
			k.add(verify.Check{Name: "log event", Object: f, Status: verify.Fail, Expected: "the event this proof proves", Found: "none",
				Detail: fmt.Sprintf("the package holds no event %s (%s%s.json or an exhibit's events/%s.json was removed)", idx, exportedDir, idx, idx)})
		}
		if !k.used[f] {
			k.add(verify.Check{Name: "unexpected file", Object: f, Status: verify.Fail, Expected: "only the files the manifests list and the custody proofs",
				Detail: "a file was added to the package after it was made"})
		}
	}
	k.rep.Verdict = verify.VerdictOf(k.rep.Status)
	return k.rep, nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return s
}

// add records a package check.
func (k *checker) add(c verify.Check) {
	if c.ID == "" {
		c.ID = verify.CheckID(c.Name)
	}
	k.rep.Checks = append(k.rep.Checks, c)
	k.rep.Status = verify.Worse(k.rep.Status, c.Status)
}

// read reads a file of the package (at most maxSmall bytes).
func (k *checker) read(rel string) ([]byte, error) {
	f, err := os.Open(filepath.Join(k.dir, filepath.FromSlash(rel)))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSmall+1))
	if err == nil && len(data) > maxSmall {
		err = fmt.Errorf("over %d bytes", maxSmall)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	return data, nil
}

// manifests checks bag-info's Payload-Oxum, every payload and tag
// manifest line, and that every payload file is in every payload
// manifest.
func (k *checker) manifests(files []string) {
	infoData, err := k.read(bagInfoTxt)
	if err == nil {
		k.info, err = parseBagInfo(infoData)
	}
	if err != nil {
		k.add(verify.Check{Name: "bag info", Object: bagInfoTxt, Status: verify.Fail, Detail: err.Error()})
		k.info = map[string][]string{}
	}
	k.used[bagInfoTxt] = true
	k.rep.Recipient = first(k.info[recipientKey])
	k.rep.ExportedAt = first(k.info[exportedAtKey])
	payload := map[string]bool{}
	var octets int64
	for _, f := range files {
		if strings.HasPrefix(f, "data/") {
			payload[f] = true
		}
	}
	for _, kind := range []string{"manifest", "tagmanifest"} {
		var paths [2]map[string]bool
		for ai, alg := range algorithms {
			name := kind + "-" + alg + ".txt"
			k.used[name] = true
			data, err := k.read(name)
			var lines []manifestLine
			if err == nil {
				lines, err = parseManifest(data, alg)
			}
			if err != nil {
				k.add(verify.Check{Name: kind, Object: name, Status: verify.Fail, Detail: err.Error()})
				continue
			}
			if kind == "tagmanifest" && alg == "sha256" {
				k.tagManifest = hashing.Sum256(data).String()
			}
			listed := map[string]bool{}
			paths[ai] = listed
			for _, l := range lines {
				listed[l.path] = true
				inData := strings.HasPrefix(l.path, "data/")
				if inData != (kind == "manifest") || strings.HasPrefix(l.path, custodyDir) || strings.HasPrefix(l.path, "tagmanifest-") {
					k.add(verify.Check{Name: kind, Object: name, Status: verify.Fail, Detail: l.path + " does not belong in " + name})
					continue
				}
				if alg == "sha256" {
					// Only the SHA-256 manifests account for a file: the
					// exported events pin the SHA-256 tag manifest.
					k.used[l.path] = true
				}
				sum, err := k.sum(l.path)
				if err != nil {
					k.add(verify.Check{Name: "file", Object: l.path, Status: verify.Fail, Expected: "the file " + name + " lists", Found: "none", Detail: err.Error()})
					continue
				}
				got := sum.SHA256.Hex()
				if alg == "sha512" {
					got = sum.SHA512.Hex()
				}
				if got != l.hex {
					k.add(verify.Check{Name: "file", Object: l.path, Status: verify.Fail, Expected: alg + " " + l.hex + " (" + name + ")", Found: alg + " " + got,
						Detail: "the file was altered after the package was made"})
				}
			}
			if kind == "manifest" {
				for p := range payload {
					if !listed[p] {
						k.add(verify.Check{Name: "file", Object: p, Status: verify.Fail, Expected: "listed in " + name, Found: "not listed",
							Detail: "a file was added to the payload after the package was made"})
					}
				}
			}
		}
		if paths[0] != nil && paths[1] != nil {
			for p := range paths[1] {
				if !paths[0][p] {
					k.add(verify.Check{Name: kind, Object: kind + "-sha512.txt", Status: verify.Fail, Expected: "the files " + kind + "-sha256.txt lists", Found: p + " besides"})
				}
			}
			for p := range paths[0] {
				if !paths[1][p] {
					k.add(verify.Check{Name: kind, Object: kind + "-sha512.txt", Status: verify.Fail, Expected: "the files " + kind + "-sha256.txt lists", Found: p + " missing"})
				}
			}
		}
	}
	for p := range payload {
		if s, ok := k.sums[p]; ok {
			octets += s.Size
		}
	}
	if err := checkOxum(first(k.info["Payload-Oxum"]), octets, len(payload)); err != nil {
		k.add(verify.Check{Name: "payload oxum", Object: bagInfoTxt, Status: verify.Fail, Detail: err.Error()})
	}
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// sum hashes a file once.
func (k *checker) sum(rel string) (hashing.Set, error) {
	if s, ok := k.sums[rel]; ok {
		return s, nil
	}
	s, err := hashFile(filepath.Join(k.dir, filepath.FromSlash(rel)))
	if err != nil {
		return hashing.Set{}, err
	}
	k.sums[rel] = s
	return s, nil
}

// loadTrust loads the trust: the recipient's, or the package's own.
func (k *checker) loadTrust() {
	tf := k.o.Trust
	k.rep.TrustFrom = "trust file"
	if tf == nil {
		k.rep.TrustFrom = "package"
		data, err := k.read(trustJSON)
		if err == nil {
			tf, err = sign.ParseTrustFile(data)
		}
		if err != nil {
			k.add(verify.Check{Name: "trust", Object: trustJSON, Status: verify.Fail, Detail: err.Error()})
			return
		}
	}
	v, err := sign.NewVerifier(tf)
	if err != nil {
		k.add(verify.Check{Name: "trust", Object: trustJSON, Status: verify.Fail, Detail: err.Error()})
		return
	}
	k.trust = v
	for _, key := range tf.Keys {
		k.rep.Keys = append(k.rep.Keys, key.Fingerprint)
	}
	k.trustFile = tf
}

// checkpoint verifies the custody checkpoint and its timestamp.
func (k *checker) checkpoint() {
	k.used[checkpointFile] = true
	signed, err := k.read(checkpointFile)
	if err != nil {
		k.add(verify.Check{Name: "log checkpoint", Object: checkpointFile, Status: verify.Fail, Expected: "the signed checkpoint the proofs name", Found: "none", Detail: err.Error()})
		return
	}
	if k.trustFile == nil {
		return
	}
	origin := firstLine(signed)
	vs, err := k.trustFile.LogVerifiers(origin)
	if err != nil {
		k.add(verify.Check{Name: "log checkpoint", Object: checkpointFile, Status: verify.Untrusted, Detail: err.Error()})
		return
	}
	c, err := custody.OpenCheckpoint(signed, vs, origin)
	if err != nil {
		k.add(verify.Check{Name: "log checkpoint", Object: checkpointFile, Status: verify.Fail, Detail: err.Error()})
		return
	}
	k.cp, k.signed, k.rep.Checkpoint = &c, signed, &c
	k.add(verify.Check{Name: "log checkpoint", Object: checkpointFile, Status: verify.Pass, Detail: fmt.Sprintf("signed by the custody log %s, %d events", origin, c.Size)})
	tok, err := k.read(checkpointTSR)
	k.used[checkpointTSR] = true
	switch {
	case errors.Is(err, fs.ErrNotExist) && len(k.trust.TSAs()) == 0 && !k.o.RequireTimestamp:
		k.add(verify.Check{Name: "log timestamp", Object: checkpointTSR, Status: verify.Warn, Expected: "a timestamp token for the checkpoint", Found: "none",
			Detail: "no timestamp authority is trusted: the events' times are the clocks of the machines that recorded them"})
	case errors.Is(err, fs.ErrNotExist):
		k.add(verify.Check{Name: "log timestamp", Object: checkpointTSR, Status: verify.Fail, Expected: "a timestamp token for the checkpoint", Found: "none",
			Detail: "the package was made with a timestamp authority, and the checkpoint's token is gone"})
	case err != nil:
		k.add(verify.Check{Name: "log timestamp", Object: checkpointTSR, Status: verify.Fail, Detail: err.Error()})
	default:
		r := k.trust.VerifyTimestamp(tok, signed)
		if !r.OK() {
			k.add(verify.Check{Name: "log timestamp", Object: checkpointTSR, Status: statusOf(r.Err), Detail: r.Err.Error()})
		} else {
			k.add(verify.Check{Name: "log timestamp", Object: checkpointTSR, Status: verify.Pass, Detail: "checkpoint timestamped " + r.Time.UTC().Format(time.RFC3339) + " by " + r.TSA})
		}
	}
}

// statusOf is the status of a failed signature or timestamp check.
func statusOf(err error) verify.Status {
	var uk *sign.UntrustedKeyError
	var ut *sign.UntrustedTSAError
	if errors.As(err, &uk) || errors.As(err, &ut) {
		return verify.Untrusted
	}
	return verify.Fail
}

// exhibitDirs lists the exhibits' folders (data/<number>/).
func (k *checker) exhibitDirs(files []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range files {
		rest, ok := strings.CutPrefix(f, "data/")
		if !ok {
			continue
		}
		num, _, ok := strings.Cut(rest, "/")
		if !ok {
			continue // a file right under data/ is unexpected
		}
		if !seen[num] {
			seen[num] = true
			out = append(out, num)
		}
	}
	sort.Strings(out)
	return out
}

// prove checks an event file against its proof and the checkpoint, and
// returns the parsed event.
func (k *checker) prove(eventPath string, index int64) (*custody.Event, []byte, verify.Check) {
	proofPath := proofFile(index)
	k.used[proofPath] = true
	entry, err := k.read(eventPath)
	if err != nil {
		return nil, nil, verify.Check{Name: "log event", Object: eventPath, Status: verify.Fail, Detail: err.Error()}
	}
	ev, err := custody.ParseEvent(entry)
	if err != nil {
		return nil, nil, verify.Check{Name: "log event", Object: eventPath, Status: verify.Fail, Detail: err.Error()}
	}
	if k.cp == nil {
		return ev, entry, verify.Check{Name: "log inclusion", Object: eventPath, Status: verify.Untrusted, Detail: "no verified checkpoint to prove it against"}
	}
	data, err := k.read(proofPath)
	if err != nil {
		return ev, entry, verify.Check{Name: "log inclusion", Object: proofPath, Status: verify.Fail, Expected: "the event's inclusion proof", Found: "none", Detail: err.Error()}
	}
	idx, p, cp, err := parseTlogProof(data)
	switch {
	case err != nil:
	case idx != index:
		err = fmt.Errorf("the proof is of entry %d, the event's file names %d", idx, index)
	case !bytes.Equal(cp, k.signed):
		err = errors.New("the proof's checkpoint is not " + checkpointFile)
	default:
		err = ledger.CheckInclusion(*k.cp, index, entry, p)
	}
	if err != nil {
		return ev, entry, verify.Check{Name: "log inclusion", Object: eventPath, Status: verify.Fail, Detail: err.Error() + " (proof " + proofPath + ")"}
	}
	return ev, entry, verify.Check{Name: "log inclusion", Object: eventPath, Status: verify.Pass, Detail: fmt.Sprintf("event %d (%s) is in the signed log", index, ev.Type)}
}

// parseTlogProof reads a C2SP tlog-proof@v1 (extra data is ignored).
func parseTlogProof(data []byte) (int64, tlog.RecordProof, []byte, error) {
	head, cp, ok := bytes.Cut(data, []byte("\n\n"))
	if !ok {
		return 0, nil, nil, errors.New("malformed tlog-proof: no checkpoint")
	}
	lines := strings.Split(string(head), "\n")
	if lines[0] != "c2sp.org/tlog-proof@v1" {
		return 0, nil, nil, errors.New("not a c2sp.org/tlog-proof@v1")
	}
	lines = lines[1:]
	if len(lines) > 0 && strings.HasPrefix(lines[0], "extra ") {
		lines = lines[1:]
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "index ") {
		return 0, nil, nil, errors.New("malformed tlog-proof: no index")
	}
	idx, err := custody.ParseDecimal(strings.TrimPrefix(lines[0], "index "))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("malformed tlog-proof index: %w", err)
	}
	if len(lines)-1 > 64 {
		return 0, nil, nil, errors.New("malformed tlog-proof: more than 64 hashes")
	}
	var p tlog.RecordProof
	for _, l := range lines[1:] {
		b, err := base64.StdEncoding.DecodeString(l)
		if err != nil || len(b) != tlog.HashSize || base64.StdEncoding.EncodeToString(b) != l {
			return 0, nil, nil, errors.New("malformed tlog-proof: a line is not a base64 hash")
		}
		p = append(p, tlog.Hash(b))
	}
	return idx, p, cp, nil
}

// exportedEvents checks the exported events: each proven, each naming
// this package's tag manifest and recipient and one of its exhibits'
// items (matched to exhibits later).
func (k *checker) exportedEvents() {
	entries, err := os.ReadDir(filepath.Join(k.dir, filepath.FromSlash(exportedDir)))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		k.add(verify.Check{Name: "exported event", Object: exportedDir, Status: verify.Error, Detail: err.Error()})
		return
	}
	for _, e := range entries {
		rel := exportedDir + e.Name()
		idx, ok := indexOf(e.Name())
		if !ok {
			continue // unexpected: reported as such
		}
		k.used[rel] = true
		ev, _, c := k.prove(rel, idx)
		if c.Status != verify.Pass {
			k.add(c)
			if ev == nil {
				continue
			}
		}
		switch {
		case ev.Type != custody.EventExported:
			k.add(verify.Check{Name: "exported event", Object: rel, Status: verify.Fail, Expected: "an exported event", Found: string(ev.Type)})
		case ev.Record != k.tagManifest:
			k.add(verify.Check{Name: "exported event", Object: rel, Status: verify.Fail, Expected: "this package's tag manifest " + k.tagManifest, Found: ev.Record,
				Detail: "the event put another package on record: tagmanifest-sha256.txt was changed, or the event comes from another package"})
		case ev.Recipient != k.rep.Recipient:
			k.add(verify.Check{Name: "exported event", Object: rel, Status: verify.Fail, Expected: "recipient " + strconv.Quote(k.rep.Recipient) + " (bag-info.txt)", Found: strconv.Quote(ev.Recipient)})
		default:
			k.exported[ev.Item] = append(k.exported[ev.Item], idx)
		}
	}
}

// indexOf parses "<20 digits>.json".
func indexOf(name string) (int64, bool) {
	base, ok := strings.CutSuffix(name, ".json")
	if !ok || len(base) != 20 || strings.Trim(base, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(base, 10, 64)
	return n, err == nil
}

// exhibit checks one exhibit's folder.
func (k *checker) exhibit(num string) verify.ItemReport {
	dir := "data/" + num + "/"
	ir := verify.ItemReport{Name: num, Status: verify.Pass}
	add := func(c verify.Check) {
		if c.ID == "" {
			c.ID = verify.CheckID(c.Name)
		}
		ir.Checks = append(ir.Checks, c)
		ir.Status = verify.Worse(ir.Status, c.Status)
	}
	// The proofs of this exhibit's events belong to the package even when
	// the exhibit cannot be checked further.
	evs, _ := os.ReadDir(filepath.Join(k.dir, filepath.FromSlash(dir+"events")))
	for _, e := range evs {
		if idx, ok := indexOf(e.Name()); ok {
			k.used[proofFile(idx)] = true
		}
	}
	if k.trust == nil {
		add(verify.Check{Name: "record signature", Status: verify.Untrusted, Detail: "no usable trust"})
		return ir
	}
	rb, err := k.read(dir + "record.sigstore.json")
	if err != nil {
		add(verify.Check{Name: "record signature", Object: dir + "record.sigstore.json", Status: verify.Fail, Expected: "the signed record", Found: "none", Detail: err.Error()})
		return ir
	}
	vf, err := k.trust.VerifyStatement(rb, nil)
	if err != nil {
		add(verify.Check{Name: "record signature", Object: dir + "record.sigstore.json", Status: statusOf(err), Detail: err.Error()})
		return ir
	}
	stmt, err := custody.ParseStatement(vf.Payload)
	if err != nil {
		add(verify.Check{Name: "record signature", Object: dir + "record.sigstore.json", Status: verify.Fail, Detail: err.Error()})
		return ir
	}
	rec := &stmt.Predicate
	ir.Item, ir.Case = rec.Item, rec.Case
	id, _ := hashing.ParseDigest(rec.Item)
	add(verify.Check{Name: "record signature", Object: dir + "record.sigstore.json", Status: verify.Pass, Detail: "signed by " + vf.KeyFingerprint})
	k.stampCheck(add, "record timestamps", dir+"record.sigstore.json", vf)
	if plain, err := k.read(dir + "record.json"); err != nil || !bytes.Equal(plain, vf.Payload) {
		add(verify.Check{Name: "record copy", Object: dir + "record.json", Status: verify.Fail, Expected: "the signed statement's bytes", Found: "other bytes or none"})
	}
	ob, err := k.read(dir + "original.sigstore.json")
	if err == nil {
		var of *sign.Verified
		if of, err = k.trust.VerifyDigest(ob, id.Sum); err == nil {
			add(verify.Check{Name: "original signature", Object: dir + "original.sigstore.json", Status: verify.Pass, Detail: "over sha256 " + id.Hex() + ", signed by " + of.KeyFingerprint})
			k.stampCheck(add, "original timestamps", dir+"original.sigstore.json", of)
		}
	}
	if err != nil {
		add(verify.Check{Name: "original signature", Object: dir + "original.sigstore.json", Status: statusOf(err), Detail: err.Error()})
	}
	k.contentFiles(add, dir, rec)
	k.timestampFiles(add, dir, rb, ob)
	k.events(add, dir, id, rb, ob)
	return ir
}

// stampCheck applies the timestamp policy to a bundle's timestamps.
func (k *checker) stampCheck(add func(verify.Check), name, obj string, vf *sign.Verified) {
	required := 0
	if k.o.RequireTimestamp || len(k.trust.TSAs()) > 0 {
		required = 1
	}
	if err := vf.TimestampErr(required); err != nil {
		add(verify.Check{Name: name, Object: obj, Status: statusOf(err), Detail: err.Error()})
		return
	}
	if len(vf.Timestamps) == 0 {
		add(verify.Check{Name: name, Object: obj, Status: verify.Warn, Detail: "no trusted timestamp: no timestamp authority was configured"})
		return
	}
	add(verify.Check{Name: name, Object: obj, Status: verify.Pass, Detail: "timestamped " + trustedTime(vf.Timestamps)})
}

// contentFiles checks the exhibit's original, metadata document and
// derivatives against the signed record, by digest.
func (k *checker) contentFiles(add func(verify.Check), dir string, rec *custody.Record) {
	entries, _ := os.ReadDir(filepath.Join(k.dir, filepath.FromSlash(dir)))
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		name := e.Name()
		rel := dir + name
		switch name {
		case "record.json", "record.sigstore.json", "original.sigstore.json":
			continue
		}
		sum, err := k.sum(rel)
		if err != nil {
			add(verify.Check{Name: "file", Object: rel, Status: verify.Error, Detail: err.Error()})
			continue
		}
		var what string
		var want map[string]string
		switch {
		case strings.HasPrefix(name, "original."):
			what, want = "original", rec.Original.Digest
		case name == "metadata.json" && rec.Metadata != nil:
			what, want = "metadata document", rec.Metadata.Digest
		default:
			for _, d := range rec.Derivatives {
				if d.Digest["sha256"] == sum.SHA256.Hex() {
					what, want = "derivative "+d.Name, d.Digest
				}
			}
		}
		if what == "" {
			add(verify.Check{Name: "file", Object: rel, Status: verify.Fail, Expected: "a file the signed record names", Found: "sha256 " + sum.SHA256.Hex(),
				Detail: "the record names no such original, metadata document or derivative"})
			continue
		}
		if want["sha256"] != sum.SHA256.Hex() || (want["sha512"] != "" && want["sha512"] != sum.SHA512.Hex()) {
			add(verify.Check{Name: what, Object: rel, Status: verify.Fail, Expected: "sha256 " + want["sha256"], Found: "sha256 " + sum.SHA256.Hex(),
				Detail: "the file is not what was signed"})
			continue
		}
		add(verify.Check{Name: what, Object: rel, Status: verify.Pass, Detail: "sha256 and sha512 match the signed record"})
	}
}

// timestampFiles checks that timestamps/ holds each bundle's signature
// and timestamps exactly (they are copies for openssl).
func (k *checker) timestampFiles(add func(verify.Check), dir string, rb, ob []byte) {
	want := map[string][]byte{}
	for _, b := range []struct {
		name string
		data []byte
	}{{"record", rb}, {"original", ob}} {
		if b.data == nil {
			continue
		}
		sig, toks, err := bundleTimestamps(b.data)
		if err != nil || len(toks) == 0 {
			continue
		}
		want[dir+"timestamps/"+b.name+".sig"] = sig
		for i, t := range toks {
			want[fmt.Sprintf("%stimestamps/%s-%d.tsr", dir, b.name, i+1)] = t
		}
	}
	entries, _ := os.ReadDir(filepath.Join(k.dir, filepath.FromSlash(dir+"timestamps")))
	for _, e := range entries {
		rel := dir + "timestamps/" + e.Name()
		if _, ok := want[rel]; !ok {
			add(verify.Check{Name: "timestamp file", Object: rel, Status: verify.Fail, Expected: "a copy of a bundle's signature or timestamp", Found: "a file no bundle holds"})
		}
	}
	for rel, data := range want {
		got, err := k.read(rel)
		if err != nil || !bytes.Equal(got, data) {
			add(verify.Check{Name: "timestamp file", Object: rel, Status: verify.Fail, Expected: "the bytes in the bundle", Found: "other bytes or none"})
		}
	}
}

// events proves the exhibit's events and its exported event, and checks
// that they name the item and that its ingested event binds the bundles.
func (k *checker) events(add func(verify.Check), dir string, id hashing.Digest, rb, ob []byte) {
	entries, _ := os.ReadDir(filepath.Join(k.dir, filepath.FromSlash(dir+"events")))
	ingested := false
	for _, e := range entries {
		rel := dir + "events/" + e.Name()
		idx, ok := indexOf(e.Name())
		if !ok {
			add(verify.Check{Name: "log event", Object: rel, Status: verify.Fail, Detail: "not an event file (<20-digit index>.json)"})
			continue
		}
		ev, _, c := k.prove(rel, idx)
		if c.Status != verify.Pass {
			add(c)
			if ev == nil {
				continue
			}
		}
		switch {
		case ev.Item != id.String():
			add(verify.Check{Name: "log event", Object: rel, Status: verify.Fail, Expected: "an event of " + id.String(), Found: "an event of " + orNone(ev.Item)})
		case ev.Type == custody.EventIngested:
			ingested = true
			if ev.Record != hashing.Sum256(rb).String() {
				add(verify.Check{Name: "log ingested", Object: rel, Status: verify.Fail, Expected: "record " + hashing.Sum256(rb).String(), Found: "record " + ev.Record,
					Detail: "the logged event names another record bundle"})
			}
			if ev.Original != "" && ob != nil && ev.Original != hashing.Sum256(ob).String() {
				add(verify.Check{Name: "log ingested", Object: rel, Status: verify.Fail, Expected: "original bundle " + hashing.Sum256(ob).String(), Found: ev.Original})
			}
		}
	}
	if !ingested {
		add(verify.Check{Name: "log ingested", Object: dir + "events/", Status: verify.Fail, Expected: "the item's ingested event", Found: "none"})
	} else {
		add(verify.Check{Name: "log events", Object: dir + "events/", Status: verify.Pass, Detail: fmt.Sprintf("%d events, each proven in the signed log", len(entries))})
	}
	switch n := len(k.exported[id.String()]); n {
	case 1:
		add(verify.Check{Name: "log exported", Object: exportedFile(k.exported[id.String()][0]), Status: verify.Pass,
			Detail: "the export of this package is on record for " + strconv.Quote(k.rep.Recipient)})
	default:
		add(verify.Check{Name: "log exported", Object: exportedDir, Status: verify.Fail, Expected: "one exported event naming this package", Found: fmt.Sprint(n)})
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
