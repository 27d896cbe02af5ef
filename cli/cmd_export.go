package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/openexhibit/exhibit/acquire/web/browser"
	"github.com/openexhibit/exhibit/export"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/sign"
	"github.com/openexhibit/exhibit/verify"
)

const (
	schemaExport       = "exhibit.export/v1"
	schemaVerifyExport = "exhibit.verify-export/v1"
)

func exportCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "export",
		Usage: "make a disclosure package of a case or of items: a BagIt bag the recipient checks offline",
		Description: "Verifies the items, then writes into --out (a new folder) a BagIt 1.0 bag: per exhibit\n" +
			"(EX-0001, …) the original and/or the stripped working copy, the signed record, both bundles and\n" +
			"the item's custody events; the keys, TSA chains and custody log key to check them; VERIFY.md with\n" +
			"the commands that check everything with sha256sum, cosign and openssl; report.html for people;\n" +
			"index.csv; and case.jsonld (CASE/UCO 1.4). The export is put on record: each item gets an exported\n" +
			"event naming the package's tag manifest and the recipient (this needs the custody log key), and\n" +
			"the package holds an inclusion proof of every event it carries.\n" +
			"--working-copies-only leaves out every original and metadata document (GPS, serial numbers).\n" +
			"Exit 0 when the package is complete; 1 when an item is not intact (nothing is exported); 7 when\n" +
			"an item cannot be verified with the trust file; 5 without the custody log key.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "case", Usage: "export every item of this case, oldest acquisition first"},
			&cli.StringSliceFlag{Name: "items", Usage: "export these items (sha256:…, comma-separated or repeated), in this order"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "the package's folder (required; must not exist)"},
			&cli.StringFlag{Name: "recipient", Usage: "whom the package is for (required; recorded in the package and the custody log)"},
			&cli.StringFlag{Name: "organization", Usage: "the sending organization (env EXHIBIT_ORGANIZATION, organization: in the configuration)"},
			&cli.StringFlag{Name: "contact", Usage: "a contact at the sending organization (env EXHIBIT_CONTACT, contact:)"},
			&cli.BoolFlag{Name: "working-copies-only", Usage: "export the stripped working copies only: no byte of any original, no metadata document"},
			&cli.BoolFlag{Name: "originals-only", Usage: "export the originals (with their metadata documents) and no working copy"},
			&cli.StringFlag{Name: "prefix", Value: "EX-", Usage: "exhibit numbers start with this (letters, digits, '.', '_', '-')"},
			&cli.BoolFlag{Name: "zip", Usage: "write the package as OUT.zip (one folder inside) instead of a folder"},
			&cli.BoolFlag{Name: "pdf", Usage: "also print the report to report.pdf with headless chromium"},
			&cli.StringFlag{Name: "browser", Usage: "the browser binary --pdf uses", Value: browser.DefaultExec},
			identityFlag(),
		},
		Action: func(c *cli.Context) error {
			wantJSON(c, e)
			if c.NArg() > 0 {
				return usageErr("export: unexpected argument %q (items go in --items)", c.Args().First())
			}
			o := export.Options{Case: c.String("case"), Out: c.String("out"), Recipient: c.String("recipient"), Prefix: c.String("prefix"), Version: version(),
				Zip: c.Bool("zip")}
			if c.Bool("pdf") {
				o.PDF = c.String("browser")
			}
			for _, v := range c.StringSlice("items") {
				for _, s := range strings.Split(v, ",") {
					id, err := hashing.ParseDigest(strings.TrimSpace(s))
					if err != nil || id.Algorithm != hashing.SHA256 {
						return usageErr("export: %q is not an item ID (sha256:<64 hex>)", s)
					}
					o.Items = append(o.Items, id)
				}
			}
			switch {
			case c.Bool("working-copies-only") && c.Bool("originals-only"):
				return usageErr("export: --working-copies-only or --originals-only, not both")
			case c.Bool("working-copies-only"):
				o.Content = export.WorkingCopies
			case c.Bool("originals-only"):
				o.Content = export.Originals
			}
			home, cfg, err := e.config(c)
			if err != nil {
				return err
			}
			o.Organization, o.Contact = cfg.Organization, cfg.Contact
			if c.IsSet("organization") {
				o.Organization = c.String("organization")
			}
			if c.IsSet("contact") {
				o.Contact = c.String("contact")
			}
			return runExport(c.Context, e, home, cfg, o, c.StringSlice("identity"))
		},
	}
}

func runExport(ctx context.Context, e *env, home string, cfg *Config, o export.Options, identities []string) error {
	ids, err := loadIdentities(identities)
	if err != nil {
		return err
	}
	o.Identities = ids
	a, err := openArchive(ctx, e, home, cfg)
	if err != nil {
		return err
	}
	if !e.json && isTerminal(os.Stderr) {
		o.Progress = func(done, total int) { fmt.Fprintf(e.stderr, "\rexporting %d of %d", done, total) }
		defer fmt.Fprint(e.stderr, "\r\033[K")
	}
	res, err := export.Export(ctx, a, o)
	var ni *export.NotIntactError
	var oe *export.OptionError
	if errors.As(err, &oe) {
		return usageErr("export: %v", oe.Err)
	}
	if errors.As(err, &ni) {
		code := ExitVerifyFail
		for _, r := range ni.Reports {
			if r.Verdict == verify.Unverifiable && code == ExitVerifyFail {
				code = ExitUnverifiable
			}
		}
		return withCode(code, err, "nothing was exported: run exhibit verify on the items named, and export the intact ones")
	}
	if err != nil {
		return err
	}
	if e.json {
		exhibits := make([]map[string]any, len(res.Exhibits))
		for i, ex := range res.Exhibits {
			exhibits[i] = map[string]any{"exhibit": ex.Number, "item": ex.Item.String(), "content": ex.Content, "files": ex.Files}
		}
		return writeJSON(e.stdout, schemaExport, map[string]any{"package": res.Dir, "recipient": o.Recipient, "content": o.Content.String(),
			"tagManifest": res.TagManifest.String(), "payloadBytes": res.PayloadBytes, "payloadFiles": res.PayloadFiles,
			"checkpoint": map[string]any{"size": res.Checkpoint.Size, "timestamped": res.Timestamped}, "exhibits": exhibits})
	}
	out := e.stdout
	for _, ex := range res.Exhibits {
		fmt.Fprintf(out, "%s  %s  %s  (%s)\n", ex.Number, ex.Item, printable(ex.Record.Name()), ex.Content)
	}
	noun := "exhibits"
	if len(res.Exhibits) == 1 {
		noun = "exhibit"
	}
	fmt.Fprintf(out, "exported %d %s (%s) to %s for %q: %s in %d files\n", len(res.Exhibits), noun, o.Content, res.Dir, o.Recipient,
		humanBytes(res.PayloadBytes), res.PayloadFiles)
	stamp := "no timestamp authority"
	if res.Timestamped {
		stamp = "timestamped"
	}
	fmt.Fprintf(out, "on record: exported events naming tag manifest %s, proven in checkpoint %d (%s)\n", res.TagManifest, res.Checkpoint.Size, stamp)
	fmt.Fprintf(out, "check it: exhibit verify-export %s  (or the commands in its VERIFY.md)\n", res.Dir)
	return nil
}

func verifyExportCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "verify-export",
		Usage:     "check a disclosure package offline, from its files alone",
		ArgsUsage: "PACKAGE_DIR|PACKAGE.zip",
		Description: "Re-checks every manifest and tag manifest, that no file was added or removed, each exhibit's\n" +
			"bundles and timestamps, its files against the signed record, and every custody event's\n" +
			"inclusion proof against the package's signed checkpoint, and that the exported events name\n" +
			"this package. Needs no archive and no home folder. Without --trust the package's own keys\n" +
			"(trust/trust.json) are used, which proves the package consistent, not who signed it: compare the\n" +
			"fingerprints printed with those the sender gave you, or pass your own trust file.\n" +
			"Exit codes as verify: 0 intact; 1 tampered; 7 unverifiable with the trust given; 3 not a package.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "require-timestamp", Usage: "fail a bundle or checkpoint without a verified RFC 3161 timestamp"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "print every check, not only those that did not pass"},
		},
		Action: func(c *cli.Context) error {
			wantJSON(c, e)
			if c.NArg() != 1 {
				return usageErr("verify-export: give exactly one PACKAGE_DIR")
			}
			o := export.CheckOptions{RequireTimestamp: c.Bool("require-timestamp")}
			if c.IsSet("trust") {
				tf, err := sign.ReadTrustFile(c.String("trust"))
				if err != nil {
					return usageErr("verify-export: %v", err)
				}
				o.Trust = tf
			}
			return runVerifyExport(e, c.Args().First(), o, c.Bool("verbose"))
		},
	}
}

func runVerifyExport(e *env, dir string, o export.CheckOptions, verbose bool) error {
	rep, err := export.Check(dir, o)
	if errors.Is(err, export.ErrNotPackage) || errors.Is(err, os.ErrNotExist) {
		return withCode(ExitNotFound, err, "give the folder of a package made by exhibit export (it holds bagit.txt)")
	}
	if err != nil {
		return withCode(ExitIO, err, "")
	}
	if e.json {
		if err := writeJSON(e.stdout, schemaVerifyExport, rep); err != nil {
			return err
		}
	} else {
		out := e.stdout
		fmt.Fprintf(out, "package %s: for %q, exported %s\n", dir, rep.Recipient, rep.ExportedAt)
		if rep.TrustFrom == "package" {
			fmt.Fprintf(out, "trust: the package's own keys (%s); compare with the fingerprints the sender gave you: %s\n", "trust/trust.json", strings.Join(rep.Keys, ", "))
		} else {
			fmt.Fprintf(out, "trust: your trust file (%s)\n", strings.Join(rep.Keys, ", "))
		}
		for _, c := range rep.Checks {
			if verbose || c.Status != verify.Pass {
				printCheck(out, c)
			}
		}
		w := verdictWriter{e: e, verbose: verbose}
		for i := range rep.Exhibits {
			w.item(&rep.Exhibits[i])
		}
		counts := map[verify.Verdict]int{}
		for _, ex := range rep.Exhibits {
			counts[ex.Verdict]++
		}
		fmt.Fprintf(out, "%d of %d exhibits intact; package %s\n", counts[verify.Intact], len(rep.Exhibits), verdictLabels[rep.Verdict])
	}
	switch rep.Status {
	case verify.Fail, verify.Missing:
		return &exitError{code: ExitVerifyFail, err: errors.New("the package is not what was exported"), hint: "see the failed checks above; ask the sender for a new copy"}
	case verify.Untrusted:
		return &exitError{code: ExitUnverifiable, err: errors.New("unverifiable with the trust given"), hint: "get the sender's keys out of band and pass them with --trust"}
	case verify.Error:
		return &exitError{code: ExitIO, err: errors.New("some files could not be read"), hint: "check the folder's permissions and run verify-export again"}
	}
	return nil
}
