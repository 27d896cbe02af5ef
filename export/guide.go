package export

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/openexhibit/exhibit/custody"
)

// The commands of VERIFY.md. Each ```sh block is a subshell with set -e:
// pasted into a terminal or run with bash, it stops at the first check
// that fails, with a non-zero status, and prints its success line only
// when every check passed. Names and numbers read from the package are
// matched against a pattern before any shell arithmetic sees them: the
// package comes from the other side. Tests run each block of a package's
// VERIFY.md exactly as written there, with bash in the package's folder:
// against an intact package every block passes, and each alteration
// makes the blocks that check it fail.

// keyCommands tie the key files to the fingerprints listed.
const keyCommands = `(
set -e
for k in trust/keys/*.pub; do
  fp=$(openssl pkey -pubin -in "$k" -outform DER | sha256sum | cut -c1-64)
  [ "$k" = "trust/keys/$fp.pub" ] || { echo "KEY FILE AND FINGERPRINT DIFFER: $k"; false; }
  echo "signing key sha256:$fp"
done
[ "$(cut -d+ -f3- trust/log.vkey | base64 -d | tail -c 32 | od -An -tx1)" = "$(openssl pkey -pubin -in trust/log.pem -outform DER | tail -c 32 | od -An -tx1)" ] ||
  { echo "trust/log.pem IS NOT THE KEY OF trust/log.vkey"; false; }
[ "$({ cut -d+ -f1 trust/log.vkey; cut -d+ -f3- trust/log.vkey | base64 -d; } | sha256sum | cut -c1-8)" = "$(cut -d+ -f2 trust/log.vkey)" ] ||
  { echo "trust/log.vkey IS MALFORMED (its key hash)"; false; }
echo "custody log key $(cat trust/log.vkey)"
)
`

// checkpointCommands check the checkpoint's signature with the log's key.
const checkpointCommands = `(
set -e
[ "$(head -n 1 custody/checkpoint)" = "$(cut -d+ -f1 trust/log.vkey)" ] || { echo "NOT THE CHECKPOINT OF THIS LOG"; false; }
[ "$(tail -n 1 custody/checkpoint | cut -d' ' -f2)" = "$(head -n 1 custody/checkpoint)" ] || { echo "SIGNED UNDER ANOTHER NAME"; false; }
t=$(mktemp -d)
head -n 3 custody/checkpoint > "$t/body"
tail -n 1 custody/checkpoint | awk '{print $NF}' | base64 -d | tail -c 64 > "$t/sig"
openssl pkeyutl -verify -pubin -inkey trust/log.pem -rawin -in "$t/body" -sigfile "$t/sig"
)
`

// proofCommands check every event's inclusion proof against the
// checkpoint (RFC 9162, section 2.1.3.2), with bash, base64 and openssl.
const proofCommands = `(
set -e
# check_proof EVENT PROOF: the event is the entry at the proof's index
# in the tree whose root custody/checkpoint signs.
check_proof() {
  local name idx size root h fn sn p
  name=$(basename "$1")
  idx=$(sed -n 2p "$2" | cut -d' ' -f2)
  size=$(sed -n 2p custody/checkpoint); root=$(sed -n 3p custody/checkpoint)
  [[ $name =~ ^[0-9]{20}\.json$ && $idx =~ ^(0|[1-9][0-9]{0,17})$ && $size =~ ^[1-9][0-9]{0,17}$ ]] || return 1
  [ "$(sed -n 1p "$2")" = "c2sp.org/tlog-proof@v1" ] && [ "$idx" -eq "$((10#${name%.json}))" ] && [ "$idx" -lt "$size" ] || return 1
  [ "$(sed '1,/^$/d' "$2")" = "$(cat custody/checkpoint)" ] || return 1
  h=$({ printf '\0'; cat "$1"; } | openssl dgst -sha256 -binary | base64)
  fn=$idx; sn=$((size - 1))
  for p in $(awk 'NR > 2 && /^$/ {exit} NR > 2 {print}' "$2"); do
    [[ $p =~ ^[A-Za-z0-9+/]{43}=$ ]] && [ "$sn" -gt 0 ] || return 1
    if [ $((fn % 2)) -eq 1 ] || [ "$fn" -eq "$sn" ]; then
      h=$({ printf '\1'; echo "$p" | base64 -d; echo "$h" | base64 -d; } | openssl dgst -sha256 -binary | base64)
      while [ $((fn % 2)) -eq 0 ] && [ "$fn" -ne 0 ]; do fn=$((fn / 2)); sn=$((sn / 2)); done
    else
      h=$({ printf '\1'; echo "$h" | base64 -d; echo "$p" | base64 -d; } | openssl dgst -sha256 -binary | base64)
    fi
    fn=$((fn / 2)); sn=$((sn / 2))
  done
  [ "$sn" -eq 0 ] && [ "$h" = "$root" ]
}
for f in data/*/events/* custody/exported/*; do
  check_proof "$f" "custody/proofs/$(basename "$f" .json).tlog-proof" || { echo "NOT PROVEN: $f"; false; }
done
echo "every event is in the signed log"
)
`

// exportedCommands check that the exported events name this package.
const exportedCommands = `(
set -e
tm=$(sha256sum tagmanifest-sha256.txt | cut -c1-64)
for f in custody/exported/*; do
  grep -q "^{\"v\":1,\"type\":\"exported\",.*\"record\":\"sha256:$tm\"" "$f" || { echo "NOT THIS PACKAGE: $f"; false; }
done
echo "the exported events name this package"
)
`

// verifyGuide is VERIFY.md.
func (x *exporter) verifyGuide(tr *trust) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	block := func(cmds string) { p("```sh\n%s```\n\n", cmds) }
	subshell := func(cmds string) string { return "(\nset -e\n" + cmds + ")\n" }
	timestamps := len(tr.file.TimestampAuthorities) > 0
	p("# Verifying this package\n\n")
	p("This folder is a disclosure package of %s (%s), made with exhibit %s on %s for: %s.\n\n",
		exhibits(len(x.exhibits)), x.o.Content, x.o.Version, time.Now().UTC().Format("2 January 2006"), x.o.Recipient)
	p("Everything below runs offline, in this folder, with bash and standard tools: coreutils (`sha256sum`, `sha512sum`, `base64`), ")
	p("OpenSSL 3 and, for the signatures, [cosign](https://github.com/sigstore/cosign) 2 (tested with 2.6.5). ")
	p("If you have Exhibit, `exhibit verify-export .` makes every check at once. `report.html` describes the exhibits for people; ")
	p("`index.csv` lists them; `case.jsonld` describes them in CASE/UCO 1.4.\n\n")

	p("## 0. Whose keys these are\n\n")
	p("The checks prove that the exhibits were signed by the keys in `trust/`, timestamped by the timestamp authorities in `trust/`, ")
	p("and recorded in the custody log whose key is in `trust/`. They prove nothing about who holds those keys: compare these ")
	p("fingerprints with the ones the sender gave you by another channel (in person, on paper, by a call).\n\n")
	for _, fp := range tr.keys {
		op := ""
		for _, k := range tr.file.Keys {
			if k.Fingerprint == fp && k.Operator != "" {
				op = fmt.Sprintf(", held by %q", k.Operator)
			}
		}
		p("- Signing key `%s` (`%s`%s).\n", fp, keyFile(fp), op)
	}
	p("- Custody log key `%s` (`%s`, `%s`).\n", tr.vkey, logVerifier, logPEM)
	uris := make([]string, 0, len(tr.tsas))
	for u := range tr.tsas {
		uris = append(uris, u)
	}
	sort.Strings(uris)
	for _, u := range uris {
		p("- Timestamp authority %s: certificates `%s` (leaf first).\n", u, strings.Join(tr.tsas[u], "`, `"))
	}
	if !timestamps {
		p("- No timestamp authority: the times in this package are the clocks of the machines that recorded them, not trusted time.\n")
	}
	p("\nA key's fingerprint is the SHA-256 of its DER form. This prints the fingerprints of the key files, checks that each file is named by its own, ")
	p("and that `%s` is the key `%s` names:\n\n", logPEM, logVerifier)
	block(keyCommands)

	p("## 1. Every file is complete and unaltered\n\n")
	block(subshell("sha256sum --check --strict --quiet manifest-sha256.txt\nsha512sum --check --strict --quiet manifest-sha512.txt\n" +
		"sha256sum --check --strict --quiet tagmanifest-sha256.txt\nsha512sum --check --strict --quiet tagmanifest-sha512.txt\necho \"every file listed is intact\"\n"))
	p("These commands do not notice a file added to the package: `exhibit verify-export .` does, and ")
	p("`bagit.py --validate .` ([bagit-python](https://github.com/LibraryOfCongress/bagit-python)) does for the payload (`data/`). ")
	p("The files under `custody/` are in no manifest: they were written after the package was put on record, ")
	p("and each of them proves itself (step 4).\n\n")

	p("## 2. The signatures\n\n")
	p("Each exhibit's custody record (`record.json`, signed in `record.sigstore.json`) names the SHA-256 and SHA-512 of the original ")
	p("and of every file derived from it, so it verifies against whichever of them this package holds. ")
	p("`original.sigstore.json` is the signature over the original's bytes.\n\n")
	var sigs strings.Builder
	for _, ex := range x.exhibits {
		stamps := ""
		if timestamps {
			stamps = " --use-signed-timestamps"
		}
		common := fmt.Sprintf("--key %s --new-bundle-format --insecure-ignore-tlog=true%s --trusted-root %s", keyFile(ex.SignedBy), stamps, trustedRoot)
		dir := "data/" + ex.Number + "/"
		for _, blob := range ex.Blobs {
			fmt.Fprintf(&sigs, "cosign verify-blob-attestation %s --type %s --bundle %srecord.sigstore.json %s\n", common, predicateType(ex), dir, blob)
		}
		if ex.Original != "" {
			fmt.Fprintf(&sigs, "cosign verify-blob %s --bundle %soriginal.sigstore.json %s\n", common, dir, ex.Original)
		}
	}
	if sigs.Len() > 0 {
		block(subshell(sigs.String()))
		p("Each prints `Verified OK`.")
		if timestamps {
			p(" `--use-signed-timestamps` makes cosign also check each signature's RFC 3161 timestamps against `%s`.", trustedRoot)
		}
		p("\n\n")
	}
	for _, ex := range x.exhibits {
		if ex.Withheld != "" {
			p("%s holds no file of the item (%s): its record and signatures are included, and can be checked only against the item's digests.\n\n", ex.Number, ex.Withheld)
		}
	}

	p("## 3. The trusted times\n\n")
	var ts strings.Builder
	for _, ex := range x.exhibits {
		for _, f := range ex.Files {
			if strings.HasSuffix(f, ".tsr") {
				sig := f[:strings.LastIndex(f, "-")] + ".sig"
				fmt.Fprintf(&ts, "openssl ts -verify -data %s -in %s -CAfile %s -untrusted %s\n", sig, f, tsaRootsPEM, tsaCertsPEM)
			}
		}
	}
	if x.checkpointStamped {
		fmt.Fprintf(&ts, "openssl ts -verify -data %s -in %s -CAfile %s -untrusted %s\n", checkpointFile, checkpointTSR, tsaRootsPEM, tsaCertsPEM)
	}
	if ts.Len() == 0 {
		p("Nothing in this package carries an RFC 3161 timestamp: no timestamp authority was configured. ")
		p("Every time in it is the clock of the machine that recorded it.\n\n")
	} else {
		p("Each signature's timestamps (`timestamps/*.tsr`, RFC 3161 responses, also inside the bundles) cover the signature bytes ")
		p("(`timestamps/*.sig`): they prove that the signature, and so the signed record, existed at that time.")
		if x.checkpointStamped {
			p(" `%s` does the same for the custody log's checkpoint.", checkpointTSR)
		}
		p("\n\n")
		block(subshell(ts.String()))
		p("Each prints `Verification: OK`. To read a time: `openssl ts -reply -text -in FILE.tsr | grep 'Time stamp'`.\n\n")
	}

	p("## 4. The custody events\n\n")
	p("`data/*/events/` hold each exhibit's custody events as the log recorded them (one JSON object per file, named by its ")
	p("position in the log); `custody/exported/` holds the events that put this package on record. `custody/proofs/` holds, ")
	p("for each of them, an inclusion proof ([C2SP tlog-proof](https://c2sp.org/tlog-proof)) against one signed checkpoint of ")
	p("the log, `custody/checkpoint`. The log is an RFC 6962 Merkle tree: leaf hash SHA-256(0x00 || event), node hash ")
	p("SHA-256(0x01 || left || right).\n\n")
	p("First, the checkpoint is signed by the custody log's key, under the log's name (its first line): the signature is Ed25519, ")
	p("the last 64 bytes of the base64 on its last line, over its first three lines:\n\n")
	block(checkpointCommands)
	p("It prints `Signature Verified Successfully`. Then each event is the leaf at its position in the tree that checkpoint signs:\n\n")
	block(proofCommands)
	p("Last, the exported events name this package: the SHA-256 of `tagmanifest-sha256.txt`, which lists every file of ")
	p("the package outside `custody/` with its digests:\n\n")
	block(exportedCommands)
	p("The log holds events of other items too: the proofs reveal only hashes of them.\n")
	return b.String()
}

// predicateType is the record's predicate type, for cosign's --type.
func predicateType(ex *Exhibit) string {
	if ex.Record != nil && ex.Record.Acquisition == nil && ex.Record.Source != nil {
		return custody.RecordPredicateV1
	}
	return custody.RecordPredicateType
}
