package cli

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/openexhibit/exhibit/custody"
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
			"the one this home folder saw last (else: rollback or fork), and a verified event is logged per\n" +
			"item when this home folder holds the log key (else verify is read-only and says so).\n" +
			"Exit 0 only when every check of every item passes; 1 tampered or unverifiable; 3 not found;\n" +
			"4 nothing proven: the store or the custody log could not be read, or no --identity decrypts an item.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "case", Usage: "verify every item of this case"},
			&cli.BoolFlag{Name: "all", Usage: "verify every item in the archive"},
			identityFlag(),
			&cli.BoolFlag{Name: "require-timestamp", Usage: "fail a bundle that carries no verified RFC 3161 timestamp (default: warn)"},
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
			home, cfg, err := e.config(c)
			if err != nil {
				return err
			}
			return runVerify(c.Context, e, home, cfg, verifyOptions{args: c.Args().Slice(), caseName: c.String("case"), all: c.Bool("all"),
				identities: c.StringSlice("identity"), requireTimestamp: c.Bool("require-timestamp")})
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
}

func runVerify(ctx context.Context, e *env, home string, cfg *Config, o verifyOptions) error {
	st, desc, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	trust, tf, err := loadVerifier(home, cfg)
	if err != nil {
		return err
	}
	ids, err := loadIdentities(o.identities)
	if err != nil {
		return err
	}
	v := &verify.Verifier{Store: st, Trust: trust, Identities: ids, RequireTimestamp: o.requireTimestamp}
	// The custody log: checked for every item; verified events are logged
	// when this home holds the log key, else verify is read-only.
	cl, msg, err := openLog(ctx, home, cfg, st, desc, tf, logTryWrite, stampPolicy{warn: e.stderr})
	var ue *untrustedLogError
	switch {
	case errors.As(err, &ue):
		// Not a usage error here: the items are verified, and fail.
		v.Log = verify.UnusableLog(verify.Check{Name: "log checkpoint", Status: verify.Fail, Detail: ue.Error()})
		cl = nil
	case errors.Is(err, errNoLog):
		msg = err.Error() + ": items are verified without custody events"
	case err != nil:
		return err
	default:
		v.Log = verify.OpenLog(ctx, cl.log, trust, o.requireTimestamp)
	}
	if msg != "" {
		fmt.Fprintf(e.stderr, "exhibit: note: custody log: %s\n", msg)
	}
	rep := &verify.Report{Archive: st.Location(), Checked: time.Now().UTC(), Status: verify.Pass}

	type target struct {
		id   hashing.Digest
		file string
	}
	var targets []target
	var deleted []verify.ItemReport
	switch {
	case o.all || o.caseName != "":
		ids, err := v.Items(ctx)
		if err != nil {
			return fmt.Errorf("list items: %w", err)
		}
		for _, id := range ids {
			if o.caseName != "" {
				c, err := v.CaseOf(ctx, id)
				if err == nil && c != o.caseName {
					continue
				}
				// A record that does not verify is verified (and reported) anyway.
			}
			targets = append(targets, target{id: id})
		}
		if o.all {
			// Items the log says were ingested must still be in the archive.
			logged, err := v.Log.LoggedItems(ctx)
			if err != nil {
				return logFailure(fmt.Errorf("read the custody log: %w", err))
			}
			have := map[string]bool{}
			for _, t := range targets {
				have[t.id.String()] = true
			}
			for _, item := range slices.Sorted(maps.Keys(logged)) {
				if !have[item] {
					deleted = append(deleted, verify.DeletedItem(item, logged[item]))
				}
			}
		}
		if len(targets) == 0 && len(deleted) == 0 {
			what := "the archive holds no items"
			if o.caseName != "" {
				what = fmt.Sprintf("no items in case %q", o.caseName)
			}
			return withCode(ExitNotFound, errors.New(what), "")
		}
	default:
		for _, a := range o.args {
			if fi, err := os.Stat(a); err == nil && fi.Mode().IsRegular() {
				f, err := os.Open(a)
				if err != nil {
					return withCode(ExitIO, fmt.Errorf("read %s: %w", a, err), "check the file's permissions")
				}
				sum, err := hashing.Reader(f)
				f.Close()
				if err != nil {
					return withCode(ExitIO, fmt.Errorf("read %s: %w", a, err), "")
				}
				targets = append(targets, target{id: sum.SHA256, file: a})
				continue
			}
			id, err := hashing.ParseDigest(a)
			if err != nil || id.Algorithm != hashing.SHA256 {
				return usageErr("verify: %q is neither a file nor an item ID (sha256:<64 hex>)", a)
			}
			targets = append(targets, target{id: id})
		}
	}
	for _, t := range targets {
		if err := ctx.Err(); err != nil {
			return err
		}
		ir := v.Item(ctx, t.id)
		ir.File = t.file
		rep.Add(ir)
		if !e.json {
			printItem(e, &ir)
		}
	}
	for _, ir := range deleted {
		rep.Add(ir)
		if !e.json {
			printItem(e, &ir)
		}
	}
	if v.Log != nil && v.Log.Usable {
		if err := cl.remember(v.Log.Checkpoint, v.Log.Signed); err != nil {
			return err
		}
		if cl.writable {
			if err := logVerified(ctx, cl, home, cfg.Operator, rep); err != nil {
				fmt.Fprintf(e.stderr, "exhibit: custody log: the verified events were not logged: %v\n", err)
				switch {
				case ledger.IsTampering(err):
					rep.Status = verify.Fail
				case rep.Status == verify.Pass || rep.Status == verify.Warn:
					rep.Status = verify.Error
				}
			}
		}
	}
	if e.json {
		if err := writeJSON(e.stdout, rep); err != nil {
			return err
		}
	} else {
		printVerdict(e, rep)
	}
	switch rep.Status {
	case verify.Fail:
		return &exitError{code: ExitVerifyFail, err: errors.New("verification failed"), hint: "see the failed checks above; the archive does not hold what was signed"}
	case verify.Error:
		return &exitError{code: ExitIO, err: errors.New("some checks could not be made (the store could not be read, or no given identity decrypts an item); nothing was proven for them"), hint: "see the ERROR lines above, fix the store or the --identity file, and run verify again"}
	case verify.NotFound:
		return &exitError{code: ExitNotFound, err: errors.New("not found in the archive"), hint: "check the item ID, the file, or --archive"}
	}
	return nil
}

func printItem(e *env, ir *verify.ItemReport) {
	head := ir.Item
	if ir.File != "" {
		head = ir.File + " = " + ir.Item
	}
	if ir.Name != "" || ir.Case != "" {
		head += fmt.Sprintf("  (%s", ir.Name)
		if ir.Case != "" {
			head += ", case " + ir.Case
		}
		head += ")"
	}
	fmt.Fprintln(e.stdout, head)
	for _, c := range ir.Checks {
		label := map[verify.Status]string{verify.Pass: "ok", verify.Fail: "FAIL", verify.Warn: "warn", verify.NotFound: "none", verify.Error: "ERROR"}[c.Status]
		line := fmt.Sprintf("  %-5s %-19s ", label, c.Name)
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
		line += strings.Join(parts, "; ")
		fmt.Fprintln(e.stdout, line)
	}
	verdict := map[verify.Status]string{verify.Pass: "INTACT", verify.Warn: "INTACT", verify.Fail: "TAMPERED OR UNVERIFIABLE",
		verify.NotFound: "NOT IN THE ARCHIVE", verify.Error: "NOT VERIFIED (store error, or no identity to decrypt)"}[ir.Status]
	if ir.File != "" && (ir.Status == verify.Pass || ir.Status == verify.Warn) {
		verdict += ": this file is in the archive and the archived copy is intact"
	}
	fmt.Fprintf(e.stdout, "  verdict: %s\n\n", verdict)
}

func printVerdict(e *env, r *verify.Report) {
	counts := map[verify.Status]int{}
	for _, it := range r.Items {
		counts[it.Status]++
	}
	intact := counts[verify.Pass] + counts[verify.Warn]
	fmt.Fprintf(e.stdout, "%d of %d items intact", intact, len(r.Items))
	if n := counts[verify.Fail]; n > 0 {
		fmt.Fprintf(e.stdout, ", %d TAMPERED OR UNVERIFIABLE", n)
	}
	if n := counts[verify.NotFound]; n > 0 {
		fmt.Fprintf(e.stdout, ", %d not found", n)
	}
	if n := counts[verify.Error]; n > 0 {
		fmt.Fprintf(e.stdout, ", %d not verified (store errors or no identity)", n)
	}
	fmt.Fprintf(e.stdout, "  (%s)\n", r.Archive)
}

// logVerified appends one verified event per item found, with its result,
// in one batch.
func logVerified(ctx context.Context, cl *custodyLog, home, operator string, rep *verify.Report) error {
	fp, err := homeKeyFingerprint(home)
	if err != nil {
		return err
	}
	who, now := actor(fp, operator), time.Now().UTC()
	var events []*custody.Event
	for _, ir := range rep.Items {
		result := map[verify.Status]string{verify.Pass: "pass", verify.Warn: "pass", verify.Fail: "fail", verify.Error: "error"}[ir.Status]
		if result == "" {
			continue // not in the archive: no item to log about
		}
		events = append(events, &custody.Event{V: custody.EventVersion, Type: custody.EventVerified, Item: ir.Item, Time: now, Actor: who, Result: result})
	}
	if len(events) == 0 {
		return nil
	}
	_, err = cl.append(ctx, events)
	return err
}
