package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/custody/ledger"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/storage"
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

// logFailure maps the log's evidence of tampering (ledger.IsTampering) to
// exit code 1; other errors keep theirs.
func logFailure(err error) error {
	if ledger.IsTampering(err) {
		return withCode(ExitVerifyFail, fmt.Errorf("custody log: %w", err), "the custody log was tampered with: keep the archive and this output as evidence")
	}
	return err
}

// openLogReadOnly opens the archive's log for the log commands.
func openLogReadOnly(ctx context.Context, home string, cfg *Config) (*custodyLog, error) {
	st, desc, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	trust, tf, err := loadVerifier(home, cfg)
	if err != nil {
		return nil, err
	}
	cl, _, err := openLogFor(ctx, &env{}, home, cfg, st, desc, trust, tf, logRead)
	if err != nil {
		return nil, err
	}
	if cl == nil {
		return nil, withCode(ExitNotFound, errNoLog, "")
	}
	return cl, nil
}

type shownEvent struct {
	Index int64          `json:"index"`
	Event *custody.Event `json:"event"`
}

func runLogShow(ctx context.Context, e *env, home string, cfg *Config, id *hashing.Digest) error {
	cl, err := openLogReadOnly(ctx, home, cfg)
	if err != nil {
		return err
	}
	c, signed, err := cl.log.Latest(ctx)
	if err != nil {
		return logFailure(err)
	}
	var events []shownEvent
	add := func(i int64, entry []byte) error {
		ev, err := custody.ParseEvent(entry)
		if err != nil {
			return logFailure(&ledger.MalformedEntryError{Index: i, Err: err})
		}
		events = append(events, shownEvent{Index: i, Event: ev})
		return nil
	}
	if id != nil {
		ps, err := verify.ReadPointers(ctx, cl.store, *id)
		if err != nil {
			return fmt.Errorf("custody log: %w", err)
		}
		for _, p := range ps {
			n := int64(len(p.Entries))
			if p.First+n > c.Size {
				continue // appended after the checkpoint read
			}
			entries, err := cl.log.Entries(ctx, c, p.First, n)
			if err != nil {
				return logFailure(err)
			}
			for j, entry := range entries {
				if string(p.Entries[j]) != string(entry) {
					return withCode(ExitVerifyFail, fmt.Errorf("custody log: the pointer %s does not hold the event the log holds at %d", p.Key, p.First+int64(j)), "run exhibit verify "+id.String())
				}
				if err := add(p.First+int64(j), entry); err != nil {
					return err
				}
			}
		}
		if len(events) == 0 {
			if _, err := cl.store.Stat(ctx, custody.RecordBundleKey(*id)); errors.Is(err, storage.ErrNotFound) {
				return withCode(ExitNotFound, fmt.Errorf("%s is not in the archive", id), "check the item ID (exhibit ls lists them)")
			}
		}
	} else {
		for start := int64(0); start < c.Size; start += 256 {
			n := min(256, c.Size-start)
			entries, err := cl.log.Entries(ctx, c, start, n)
			if err != nil {
				return logFailure(err)
			}
			for j, en := range entries {
				if err := add(start+int64(j), en); err != nil {
					return err
				}
			}
		}
	}
	if err := cl.remember(c, signed); err != nil {
		return err
	}
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
	case ev.Type == custody.EventVerified && ev.Item == "" && ev.Record != "":
		parts = append(parts, "result set "+custody.VerificationKey(ev.Record))
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
	cl, err := openLogReadOnly(ctx, home, cfg)
	if err != nil {
		return err
	}
	rep, err := cl.log.Audit(ctx, cl.remembered)
	if err == nil {
		// A fresh verifier's only defence against a rollback.
		err = cl.log.CheckHistory(ctx, cl.store, rep.Checkpoint)
	}
	if err != nil {
		if e.json {
			writeJSON(e.stdout, schemaLogVerify, map[string]any{"status": "fail", "error": err.Error(), "trusted": checkpointJSON(cl.remembered)})
		}
		return logFailure(err)
	}
	// The signed note is the one Audit verified: reading the checkpoint
	// again could pair it with a newer one another writer published since.
	c, signed := rep.Checkpoint, rep.Signed
	var stamp verify.Check
	if c.Size > 0 {
		stamp = verify.CheckpointTimestamp(ctx, cl.log, c, signed, cl.trust, requireTimestamp)
	}
	bad := stamp.Status == verify.Fail || stamp.Status == verify.Error || stamp.Status == verify.Untrusted
	if !bad {
		if err := cl.remember(c, signed); err != nil {
			return err
		}
	}
	if e.json {
		out := map[string]any{"status": "pass", "origin": c.Origin, "size": c.Size, "root": c.Root.String(), "entries": rep.Entries, "tiles": rep.Tiles,
			"trusted": checkpointJSON(cl.remembered)}
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
			c.Origin, c.Size, c.Root, rep.Entries, rep.Tiles)
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
