package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/openexhibit/exhibit/capture/strip"
	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/custody/ledger"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/storage"
	"github.com/openexhibit/exhibit/verify"
	"github.com/urfave/cli/v2"
)

func getCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "get",
		Usage:     "write an item's original (or its stripped working copy) to a file, checked against the signed record",
		ArgsUsage: "ITEM_ID",
		Description: "The record's signature is verified first; the bytes are then streamed from the archive,\n" +
			"decrypted with --identity when the original is encrypted, and kept only if every digest\n" +
			"matches the signed record. PATH must not exist.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "file to write (required; must not exist)"},
			&cli.BoolFlag{Name: "working-copy", Usage: "write the stripped working copy instead of the original"},
			identityFlag(),
		},
		Action: func(c *cli.Context) error {
			wantJSON(c, e)
			if c.NArg() != 1 {
				return usageErr("get: give exactly one ITEM_ID")
			}
			if c.String("output") == "" {
				return usageErr("get: missing -o PATH, the file to write (it must not exist)")
			}
			id, err := hashing.ParseDigest(c.Args().First())
			if err != nil || id.Algorithm != hashing.SHA256 {
				return usageErr("get: %q is not an item ID (sha256:<64 hex>)", c.Args().First())
			}
			home, cfg, err := e.config(c)
			if err != nil {
				return err
			}
			return runGet(c.Context, e, home, cfg, getOptions{id: id, out: c.String("output"),
				workingCopy: c.Bool("working-copy"), identities: c.StringSlice("identity")})
		},
	}
}

type getOptions struct {
	id          hashing.Digest
	out         string
	workingCopy bool
	identities  []string
}

func runGet(ctx context.Context, e *env, home string, cfg *Config, o getOptions) error {
	if _, err := os.Lstat(o.out); err == nil {
		return usageErr("get: %s exists; not overwriting it (choose another path)", o.out)
	}
	ids, err := loadIdentities(o.identities)
	if err != nil {
		return err
	}
	st, desc, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	trust, tf, err := loadVerifier(home, cfg)
	if err != nil {
		return err
	}
	_, stmt, err := loadRecord(ctx, trust, st, o.id)
	if err != nil {
		return err
	}
	// get must log the access: without the log key it writes nothing.
	cl, msg, err := openLogFor(ctx, e, home, cfg, st, desc, trust, tf, logWrite)
	if err != nil {
		return err
	}
	if msg != "" {
		fmt.Fprintf(e.stderr, "exhibit: note: custody log: %s\n", msg)
	}
	rec := &stmt.Predicate
	obj, what := rec.Original, "original"
	if o.workingCopy {
		found := false
		for _, d := range rec.Derivatives {
			if d.Kind == strip.Kind {
				obj, what, found = d.Object, "working copy "+d.Name, true
				break
			}
		}
		if !found {
			return withCode(ExitNotFound, fmt.Errorf("%s has no stripped working copy", o.id),
				"only images in formats Exhibit can strip have one; exhibit show lists the item's derivatives and any error")
		}
	}

	dir := filepath.Dir(o.out)
	tmp, err := os.CreateTemp(dir, ".exhibit-get-*")
	if err != nil {
		return withCode(ExitIO, fmt.Errorf("get: %w", err), "check that the folder of "+o.out+" exists and is writable")
	}
	defer os.Remove(tmp.Name())
	sum, err := verify.Fetch(ctx, st, obj, ids, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	var mm *verify.MismatchError
	switch {
	case errors.Is(err, verify.ErrEncrypted):
		return withCode(ExitKey, err, "")
	case errors.As(err, &mm):
		return withCode(ExitVerifyFail, fmt.Errorf("the archived %s is not what the record signed: %w", what, err),
			"nothing was written; run exhibit verify "+o.id.String())
	case errors.Is(err, storage.ErrNotFound):
		return withCode(ExitVerifyFail, fmt.Errorf("the archived %s is missing: %w", what, err), "run exhibit verify "+o.id.String())
	case err != nil && ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		if isNoIdentity(err) {
			return withCode(ExitKey, fmt.Errorf("get: %w", err), "pass the --identity the original was encrypted to ("+recipients(obj)+")")
		}
		return fmt.Errorf("get %s: %w", what, err)
	}
	// The access is logged before the file appears: an access may be
	// logged that did not complete, never one that was not logged.
	if cl != nil {
		if err := logAccess(ctx, cl, home, cfg.Operator, o.id, "get"); err != nil {
			if ledger.IsTampering(err) {
				return withCode(ExitVerifyFail, fmt.Errorf("get: %w", err), "nothing was written: the custody log was tampered with: keep the archive and this output as evidence")
			}
			return withCode(ExitIO, fmt.Errorf("get: %w", err), "nothing was written; run get again")
		}
	}
	// A hard link publishes the finished file under its name without ever
	// replacing an existing one.
	if err := os.Link(tmp.Name(), o.out); err != nil {
		return withCode(ExitIO, fmt.Errorf("get: %w", err), "")
	}
	if e.json {
		return writeJSON(e.stdout, schemaGet, map[string]any{"item": o.id.String(), "object": what, "path": o.out,
			"size": sum.Size, "digest": sum.Map(), "verified": true})
	}
	fmt.Fprintf(e.stdout, "wrote %s: %s of %s, %d bytes, sha256 and sha512 match the signed record\n", o.out, what, o.id, sum.Size)
	return nil
}

func recipients(o custody.Object) string {
	if o.Encryption == nil {
		return ""
	}
	return fmt.Sprint(o.Encryption.Recipients)
}
