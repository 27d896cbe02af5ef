package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/verify"
)

func logCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "log",
		Usage: "show and audit the archive's custody log (every ingest, access and verification)",
		Subcommands: []*cli.Command{
			{
				Name:      "show",
				Usage:     "list custody events, oldest first: all of them, or one item's",
				ArgsUsage: "[ITEM_ID]",
				Description: "Each event shown is proven against the log's signed checkpoint, which must extend the\n" +
					"checkpoint this home folder saw last (else exit 1: rollback or fork).",
				Flags: commonFlags(),
				Action: func(c *cli.Context) error {
					if c.NArg() > 1 {
						return usageErr("log show: give at most one ITEM_ID")
					}
					var id *hashing.Digest
					if c.NArg() == 1 {
						d, err := hashing.ParseDigest(c.Args().First())
						if err != nil || d.Algorithm != hashing.SHA256 {
							return usageErr("log show: %q is not an item ID (sha256:<64 hex>)", c.Args().First())
						}
						id = &d
					}
					home, cfg, err := e.config(c)
					if err != nil {
						return err
					}
					return runLogShow(c.Context, e, home, cfg, id)
				},
			},
			{
				Name:      "verify",
				Usage:     "audit the whole custody log from its first entry",
				ArgsUsage: " ",
				Description: "Re-reads every entry and tile, recomputes every hash against the signed checkpoint,\n" +
					"checks that the checkpoint extends the one this home folder saw last and checks its RFC 3161\n" +
					"timestamp. Exit 0 when the log is intact, 1 when it was tampered with (with the evidence).",
				Flags: append(commonFlags(), &cli.BoolFlag{Name: "require-timestamp", Usage: "fail a checkpoint without a verified RFC 3161 timestamp (default: warn)"}),
				Action: func(c *cli.Context) error {
					if c.NArg() > 0 {
						return usageErr("log verify takes no arguments")
					}
					home, cfg, err := e.verifierConfig(c)
					if err != nil {
						return err
					}
					return runLogVerify(c.Context, e, home, cfg, c.Bool("require-timestamp"))
				},
			},
		},
	}
}

func runLogShow(ctx context.Context, e *env, home string, cfg *Config, id *hashing.Digest) error {
	a, err := openArchive(ctx, e, home, cfg)
	if err != nil {
		return err
	}
	evs, err := a.Events(ctx, id)
	if err != nil {
		return err
	}
	c, events := evs.Checkpoint, evs.Events
	if e.json {
		return writeJSON(e.stdout, schemaLogShow, map[string]any{"origin": c.Origin, "size": c.Size, "root": c.Root.String(), "events": events})
	}
	if c.Size == 0 {
		fmt.Fprintf(e.stdout, "the custody log %s holds no events yet\n", c.Origin)
		return nil
	}
	w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "INDEX\tTIME\tEVENT\tITEM\tDETAIL")
	for _, s := range events {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", s.Index, s.Event.Time.Format("2006-01-02T15:04:05Z"), s.Event.Type, s.Event.Item, eventDetail(s.Event))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if id == nil || len(events) > 0 {
		fmt.Fprintf(e.stdout, "%d events shown; checkpoint of %d entries, root %s (%s)\n", len(events), c.Size, c.Root, c.Origin)
	} else {
		fmt.Fprintf(e.stdout, "no events of %s in the checkpoint of %d entries\n", id, c.Size)
	}
	return nil
}

// eventDetail summarizes an event's other fields for the text listing.
func eventDetail(ev *custody.Event) string {
	var parts []string
	if ev.Command != "" {
		parts = append(parts, "command "+ev.Command)
	}
	if ev.Result != "" {
		parts = append(parts, "result "+ev.Result)
	}
	if ev.Object != nil {
		parts = append(parts, ev.Object.Key)
	}
	if ev.Case != "" {
		parts = append(parts, "case "+ev.Case)
	}
	switch {
	case (ev.Type == custody.EventVerified || ev.Type == custody.EventFixityChecked) && ev.Item == "" && ev.Record != "":
		parts = append(parts, "result set "+custody.VerificationKey(ev.Record))
	case ev.Type == custody.EventExported:
		parts = append(parts, "to "+printable(ev.Recipient)+"; package (tag manifest) "+ev.Record)
	case ev.Record != "":
		parts = append(parts, "record "+ev.Record)
	}
	who := ev.Actor.Operator
	if who == "" {
		who = ev.Actor.KeyFingerprint
	}
	parts = append(parts, "by "+who)
	return strings.Join(parts, "; ")
}

func runLogVerify(ctx context.Context, e *env, home string, cfg *Config, requireTimestamp bool) error {
	a, err := openArchive(ctx, e, home, cfg)
	if err != nil {
		return err
	}
	res, err := a.AuditLog(ctx, requireTimestamp)
	if err != nil {
		if e.json && res != nil {
			writeJSON(e.stdout, schemaLogVerify, map[string]any{"status": "fail", "error": err.Error(), "trusted": checkpointJSON(res.Trusted)})
		}
		return err
	}
	c, stamp := res.Report.Checkpoint, res.Timestamp
	bad := stamp.Status == verify.Fail || stamp.Status == verify.Error || stamp.Status == verify.Untrusted
	if e.json {
		out := map[string]any{"status": "pass", "origin": c.Origin, "size": c.Size, "root": c.Root.String(), "entries": res.Report.Entries, "tiles": res.Report.Tiles,
			"trusted": checkpointJSON(res.Trusted)}
		if c.Size > 0 {
			out["timestamp"] = stamp
			if bad {
				out["status"] = string(stamp.Status)
			}
		}
		if err := writeJSON(e.stdout, schemaLogVerify, out); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.stdout, "log          %s\nsize         %d\nroot         %s\nevents       %d read, hashed and parsed; %d hash tiles recomputed\n",
			c.Origin, c.Size, c.Root, res.Report.Entries, res.Report.Tiles)
		if c.Size > 0 {
			fmt.Fprintf(e.stdout, "timestamp    %s: %s\n", stamp.Status, stamp.Detail)
		}
	}
	switch stamp.Status {
	case verify.Fail:
		return withCode(ExitVerifyFail, errors.New("custody log: the checkpoint's timestamp does not verify: "+stamp.Detail), "")
	case verify.Untrusted:
		return withCode(ExitUnverifiable, errors.New("custody log: the checkpoint's timestamp cannot be verified with this trust file: "+stamp.Detail), "")
	case verify.Error:
		return withCode(ExitIO, errors.New("custody log: the checkpoint's timestamp could not be read: "+stamp.Detail), "")
	}
	if !e.json {
		if c.Size == 0 {
			fmt.Fprintln(e.stdout, "verdict      INTACT (the log holds no events yet)")
		} else {
			fmt.Fprintln(e.stdout, "verdict      INTACT")
		}
	}
	return nil
}

func checkpointJSON(c *custody.Checkpoint) any {
	if c == nil {
		return nil
	}
	return map[string]any{"origin": c.Origin, "size": c.Size, "root": c.Root.String()}
}
