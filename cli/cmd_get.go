package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/openexhibit/exhibit/archive"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/urfave/cli/v2"
)

func getCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "get",
		Usage:     "write an item's original (or its stripped working copy, or another derivative) to a file, checked against the signed record",
		ArgsUsage: "ITEM_ID",
		Description: "The record's signature is verified first; the bytes are then streamed from the archive,\n" +
			"decrypted with --identity when the original is encrypted, and kept only if every digest\n" +
			"matches the signed record. PATH must not exist.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "file to write (required; must not exist)"},
			&cli.BoolFlag{Name: "working-copy", Usage: "write the stripped working copy instead of the original"},
			&cli.StringFlag{Name: "derivative", Usage: "write the derivative of this name instead (exhibit show lists them: screenshot.png, media-001.mp4, …)"},
			identityFlag(),
		},
		Action: func(c *cli.Context) error {
			wantJSON(c, e)
			if c.NArg() != 1 {
				return usageErr("get: give exactly one ITEM_ID")
			}
			if c.Bool("working-copy") && c.String("derivative") != "" {
				return usageErr("get: --working-copy or --derivative NAME, not both")
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
				workingCopy: c.Bool("working-copy"), derivative: c.String("derivative"), identities: c.StringSlice("identity")})
		},
	}
}

type getOptions struct {
	id          hashing.Digest
	out         string
	workingCopy bool
	derivative  string
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
	a, err := openArchive(ctx, e, home, cfg)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(o.out), ".exhibit-get-*")
	if err != nil {
		return withCode(ExitIO, fmt.Errorf("get: %w", err), "check that the folder of "+o.out+" exists and is writable")
	}
	defer os.Remove(tmp.Name())
	got, err := a.Get(ctx, o.id, archive.GetOptions{WorkingCopy: o.workingCopy, Derivative: o.derivative, Identities: ids}, tmp)
	if err == nil {
		if err = tmp.Sync(); err != nil {
			err = withCode(ExitIO, fmt.Errorf("get: %w", err), "")
		}
	}
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = withCode(ExitIO, fmt.Errorf("get: %w", cerr), "")
	}
	if err != nil {
		return err
	}
	// A hard link publishes the finished file under its name without ever
	// replacing an existing one.
	if err := os.Link(tmp.Name(), o.out); err != nil {
		return withCode(ExitIO, fmt.Errorf("get: %w", err), "")
	}
	if e.json {
		return writeJSON(e.stdout, schemaGet, map[string]any{"item": o.id.String(), "object": got.What, "path": o.out,
			"size": got.Sum.Size, "digest": got.Sum.Map(), "verified": true})
	}
	fmt.Fprintf(e.stdout, "wrote %s: %s of %s, %d bytes, sha256 and sha512 match the signed record\n", o.out, got.What, o.id, got.Sum.Size)
	return nil
}
