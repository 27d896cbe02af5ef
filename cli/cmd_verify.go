package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/openexhibit/exhibit/archive"
	"github.com/openexhibit/exhibit/custody/ledger"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/verify"
	"github.com/urfave/cli/v2"
)

func verifyCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "prove that archived items are intact and signed by a trusted key",
		ArgsUsage: "ITEM_ID|FILE... | --case NAME | --all",
		Description: "For each item: re-hashes the stored original (SHA-256 and SHA-512), checks the record and\n" +
			"original bundles against the trust file, checks that the signed subjects are the stored bytes,\n" +
			"checks the metadata document, every derivative and the recorded retention. A FILE argument\n" +
			"answers: is this file in the archive, and is the archived copy intact?\n" +
			"The item's custody events are proven against the log's signed checkpoint, which must extend\n" +
			"the one this home folder saw last (else: rollback or fork). When this home folder holds the log\n" +
			"key, the run is logged: a verified event per item named, or for --all and --case one event\n" +
			"naming the run's result set (else verify is read-only and says so).\n" +
			"Prints one line per item (INTACT, TAMPERED, MISSING, UNVERIFIABLE, NOT IN THE ARCHIVE,\n" +
			"NOT VERIFIED) with the checks that did not pass beneath it; -v prints every check.\n" +
			"Exit 0 only when every check of every item passes; 1 tampered or missing; 7 unverifiable with\n" +
			"this trust file; 3 not found; 4 nothing proven: the store or the custody log could not be read,\n" +
			"or no --identity decrypts an item; 5 intact but not logged (the log key did not open).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "case", Usage: "verify every item of this case"},
			&cli.BoolFlag{Name: "all", Usage: "verify every item in the archive"},
			identityFlag(),
			&cli.BoolFlag{Name: "require-timestamp", Usage: "fail a bundle that carries no verified RFC 3161 timestamp (default: warn)"},
			&cli.IntFlag{Name: "require-timestamps", Usage: "fail a bundle with fewer than N verified timestamps from distinct trusted TSAs, so that one compromised TSA cannot date it alone", DefaultText: "1 with --require-timestamp, else none"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "print every check of every item, not only those that did not pass"},
		},
		Action: func(c *cli.Context) error {
			n := 0
			for _, b := range []bool{c.NArg() > 0, c.IsSet("case"), c.Bool("all")} {
				if b {
					n++
				}
			}
			if n != 1 {
				return usageErr("verify: give item IDs or files, or --case NAME, or --all (exactly one of them)")
			}
			home, cfg, err := e.verifierConfig(c)
			if err != nil {
				return err
			}
			return runVerify(c.Context, e, home, cfg, verifyOptions{args: c.Args().Slice(), caseName: c.String("case"), all: c.Bool("all"),
				identities: c.StringSlice("identity"), requireTimestamp: c.Bool("require-timestamp") || c.Int("require-timestamps") > 0,
				minTimestamps: c.Int("require-timestamps"), verbose: c.Bool("verbose")})
		},
	}
}

type verifyOptions struct {
	args             []string
	caseName         string
	all              bool
	requireTimestamp bool
	// identities are age identity files for encrypted items.
	identities []string
	// verbose prints every check (else only those that did not pass).
	verbose bool
	// minTimestamps: each bundle needs timestamps from this many distinct
	// trusted TSAs.
	minTimestamps int
}

func runVerify(ctx context.Context, e *env, home string, cfg *Config, o verifyOptions) error {
	a, err := openArchive(ctx, e, home, cfg)
	if err != nil {
		return err
	}
	ids, err := loadIdentities(o.identities)
	if err != nil {
		return err
	}
	sel := archive.Selection{Case: o.caseName, All: o.all}
	if !o.all && o.caseName == "" {
		for _, arg := range o.args {
			t, err := verifyTarget(arg)
			if err != nil {
				return err
			}
			sel.Items = append(sel.Items, t)
		}
	}
	out := verdictWriter{e: e, verbose: o.verbose, noTSA: len(a.Trust().TSAs()) == 0}
	res, err := a.Verify(ctx, sel, archive.VerifyOptions{Identities: ids, RequireTimestamp: o.requireTimestamp, MinTimestamps: o.minTimestamps}, out.item)
	if err != nil {
		return err
	}
	rep := res.Report
	if e.json {
		if err := writeJSON(e.stdout, schemaVerify, rep); err != nil {
			return err
		}
	} else {
		out.summary(rep)
	}
	switch {
	case res.LogErr != nil && !ledger.IsTampering(res.LogErr):
		if !e.json {
			fmt.Fprintln(e.stdout, "NOT LOGGED: this verification is not in the custody log")
		}
		return withCode(ExitIO, fmt.Errorf("the items were verified as shown, but the verified events could not be logged: %w", res.LogErr),
			"check the store, then run verify again to put the verification on record")
	case res.KeyErr != nil && (rep.Status == verify.Pass || rep.Status == verify.Warn):
		// A key holder whose key did not open: the result stands, but it
		// is not on record, which must not pass for a normal run.
		if !e.json {
			fmt.Fprintln(e.stdout, "NOT LOGGED: this verification is not in the custody log")
		}
		return withCode(ExitKey, fmt.Errorf("the items verified, but the verification was not logged: %w", res.KeyErr),
			"check the passphrase (EXHIBIT_PASSWORD or EXHIBIT_LOG_PASSWORD) and run verify again to put it on record")
	}
	switch rep.Status {
	case verify.Fail, verify.Missing:
		return &exitError{code: ExitVerifyFail, err: errors.New("verification failed"), hint: "see the failed checks above; the archive does not hold what was signed"}
	case verify.Untrusted:
		return &exitError{code: ExitUnverifiable, err: errors.New("unverifiable: the trust file lacks a key, timestamp authority or custody log that items need"),
			hint: "see the UNTRUSTED checks above; get the missing key, TSA chain or log key from the archive's operator, out of band, and verify again"}
	case verify.Error:
		return &exitError{code: ExitIO, err: errors.New("some checks could not be made (the store could not be read, or no given identity decrypts an item); nothing was proven for them"), hint: "see the ERROR lines above, fix the store or the --identity file, and run verify again"}
	case verify.NotFound:
		return &exitError{code: ExitNotFound, err: errors.New("not found in the archive"), hint: "check the item ID, the file, or --archive"}
	}
	return nil
}

// verifyTarget is a command-line argument of verify: a regular file (its
// SHA-256 is the item asked about) or an item ID.
func verifyTarget(a string) (archive.Target, error) {
	if fi, err := os.Stat(a); err == nil && fi.Mode().IsRegular() {
		f, err := os.Open(a)
		if err != nil {
			return archive.Target{}, withCode(ExitIO, fmt.Errorf("read %s: %w", a, err), "check the file's permissions")
		}
		defer f.Close()
		sum, err := hashing.Reader(f)
		if err != nil {
			return archive.Target{}, withCode(ExitIO, fmt.Errorf("read %s: %w", a, err), "")
		}
		return archive.Target{ID: sum.SHA256, File: a}, nil
	}
	id, err := hashing.ParseDigest(a)
	if err != nil || id.Algorithm != hashing.SHA256 {
		return archive.Target{}, usageErr("verify: %q is neither a file nor an item ID (sha256:<64 hex>)", a)
	}
	return archive.Target{ID: id}, nil
}

// verdictWriter prints verify's text output: by default one line per item
// (verdict, ID, name, case) with the checks that did not pass beneath the
// items that are not intact, and a summary; with verbose every check of
// every item. Warnings that only say no TSA is configured are one note in
// the summary instead of two lines per item.
type verdictWriter struct {
	e       *env
	verbose bool
	// noTSA: the trust file lists no TSA, so no item has trusted time.
	noTSA bool
	// warned counts intact items with warnings shown.
	warned int
}

var (
	checkLabels = map[verify.Status]string{verify.Pass: "ok", verify.Fail: "FAIL", verify.Warn: "warn", verify.NotFound: "none",
		verify.Error: "ERROR", verify.Untrusted: "UNTRUSTED", verify.Missing: "MISSING"}
	verdictLabels = map[verify.Verdict]string{verify.Intact: "INTACT", verify.Tampered: "TAMPERED", verify.Unverifiable: "UNVERIFIABLE",
		verify.MissingItem: "MISSING", verify.NotInArchive: "NOT IN THE ARCHIVE", verify.NotVerified: "NOT VERIFIED"}
)

// noTimeWarning is a warning that only says no TSA is configured.
func (w *verdictWriter) noTimeWarning(c verify.Check) bool {
	return w.noTSA && c.Status == verify.Warn && (c.Name == "timestamps" || c.Name == "log timestamp")
}

func (w *verdictWriter) item(ir *verify.ItemReport) {
	if w.e.json {
		return
	}
	out := w.e.stdout
	if !w.verbose {
		line := fmt.Sprintf("%-13s %s", verdictLabels[ir.Verdict], ir.Item)
		if ir.File != "" {
			line += "  file " + printable(ir.File)
		}
		if ir.Name != "" {
			line += "  " + printable(ir.Name)
		}
		if ir.Case != "" {
			line += "  case " + printable(ir.Case)
		}
		fmt.Fprintln(out, line)
		shown := false
		for _, c := range ir.Checks {
			if c.Status == verify.Pass || w.noTimeWarning(c) || (ir.Verdict == verify.NotInArchive && c.Status == verify.NotFound) {
				continue
			}
			printCheck(out, c)
			shown = true
		}
		if shown && ir.Verdict == verify.Intact {
			w.warned++
		}
		return
	}
	head := ir.Item
	if ir.File != "" {
		head = printable(ir.File) + " = " + ir.Item
	}
	if ir.Name != "" || ir.Case != "" {
		head += fmt.Sprintf("  (%s", printable(ir.Name))
		if ir.Case != "" {
			head += ", case " + printable(ir.Case)
		}
		head += ")"
	}
	fmt.Fprintln(out, head)
	for _, c := range ir.Checks {
		printCheck(out, c)
	}
	verdict := verdictLabels[ir.Verdict]
	switch {
	case ir.Verdict == verify.NotVerified:
		verdict += " (store error, or no identity to decrypt)"
	case ir.File != "" && ir.Verdict == verify.Intact:
		verdict += ": this file is in the archive and the archived copy is intact"
	}
	fmt.Fprintf(out, "  verdict: %s\n\n", verdict)
}

func printCheck(out io.Writer, c verify.Check) {
	line := fmt.Sprintf("  %-5s %-19s ", checkLabels[c.Status], c.Name)
	var parts []string
	if c.Expected != "" || c.Found != "" {
		parts = append(parts, fmt.Sprintf("expected %s, found %s", c.Expected, c.Found))
	}
	if c.Detail != "" {
		parts = append(parts, c.Detail)
	}
	if c.Object != "" {
		parts = append(parts, "["+c.Object+"]")
	}
	fmt.Fprintln(out, strings.TrimRight(line+strings.Join(parts, "; "), " "))
}

func (w *verdictWriter) summary(r *verify.Report) {
	out := w.e.stdout
	counts := map[verify.Verdict]int{}
	for _, it := range r.Items {
		counts[it.Verdict]++
	}
	if !w.verbose && len(r.Items) > 0 {
		fmt.Fprintln(out)
	}
	fmt.Fprintf(out, "%d of %d items intact", counts[verify.Intact], len(r.Items))
	for _, v := range []verify.Verdict{verify.Tampered, verify.Unverifiable, verify.MissingItem, verify.NotInArchive, verify.NotVerified} {
		if n := counts[v]; n > 0 {
			fmt.Fprintf(out, ", %d %s", n, verdictLabels[v])
		}
	}
	fmt.Fprintf(out, "  (%s)\n", r.Archive)
	if w.warned > 0 {
		fmt.Fprintf(out, "note: %d intact items have warnings (shown above): they pass, with the caveat each states\n", w.warned)
	}
	if w.noTSA && counts[verify.Intact] > 0 {
		fmt.Fprintln(out, "note: no timestamp authority is configured (the trust file lists none): no trusted time is proven; acquisition times are the ingesting machine's clock")
	}
}
