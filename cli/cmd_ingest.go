package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/openexhibit/exhibit/archive"
	"github.com/openexhibit/exhibit/capture"
	"github.com/openexhibit/exhibit/capture/readers"
	"github.com/openexhibit/exhibit/capture/strip"
	"github.com/openexhibit/exhibit/custody/ledger"
	"github.com/openexhibit/exhibit/ingest"
	"github.com/urfave/cli/v2"
)

func ingestCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "ingest",
		Usage:     "archive files and folders: hash, store write-once, sign a custody record",
		ArgsUsage: "PATH...",
		Description: "Folders are walked recursively; symbolic links and special files are reported, not followed.\n" +
			"Re-ingesting bytes that are already archived writes nothing and says so. An interrupted run\n" +
			"leaves no half-written item: run the same command again to complete it.\n" +
			"The run's custody events (ingested, archived, derived) are appended to the archive's log at\n" +
			"its end, under one signed (and, with a TSA, timestamped) checkpoint.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "case", Usage: "case (investigation) the items belong to"},
			&cli.BoolFlag{Name: "legal-hold", Usage: "place an S3 Object Lock legal hold on every object written"},
			&cli.IntFlag{Name: "jobs", Usage: "files ingested at once", DefaultText: "number of CPUs, times 8 on a local archive"},
			&cli.StringSliceFlag{Name: "encrypt-to", Usage: "encrypt originals and their metadata to this age recipient (age1…) before they are written; repeatable (config: encrypt_to)"},
			&cli.BoolFlag{Name: "require-timestamp", Usage: "fail an item when a timestamp authority (tsa: in the configuration) gives no timestamp, instead of warning"},
			&cli.IntFlag{Name: "require-timestamps", Usage: "fail an item whose bundles get fewer than N timestamps, while the other configured TSAs may miss (N of them)", DefaultText: "none required"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, "PATH"); err != nil {
				return err
			}
			home, cfg, err := e.config(c)
			if err != nil {
				return err
			}
			if c.IsSet("legal-hold") {
				cfg.LegalHold = c.Bool("legal-hold")
			}
			if c.IsSet("jobs") {
				cfg.Parallel = c.Int("jobs")
			}
			if c.IsSet("encrypt-to") {
				cfg.EncryptTo = c.StringSlice("encrypt-to")
			}
			n := c.Int("require-timestamps")
			if n < 0 || (n > 0 && c.Bool("require-timestamp")) {
				return usageErr("--require-timestamps N: N must be positive, and without --require-timestamp (which requires every TSA)")
			}
			return runIngest(c.Context, e, home, cfg, ingestOptions{caseName: c.String("case"), requireTimestamp: c.Bool("require-timestamp"), minTimestamps: n}, c.Args().Slice())
		},
	}
}

type ingestOptions struct {
	caseName         string
	requireTimestamp bool
	// minTimestamps: each bundle needs this many timestamps (0: none).
	minTimestamps int
}

func runIngest(ctx context.Context, e *env, home string, cfg *Config, o ingestOptions, paths []string) error {
	a, opts, err := openArchiving(ctx, e, home, cfg, o.caseName)
	if err != nil {
		return err
	}
	p := newProgress(e)
	opts.RequireTimestamp, opts.MinTimestamps, opts.Jobs, opts.Observer = o.requireTimestamp, o.minTimestamps, cfg.Parallel, p
	rep, err := a.Ingest(ctx, opts, paths)
	if err != nil {
		return err
	}
	p.finish()
	printIngest(e, rep, a.Location())
	return ingestError(ctx, rep)
}

// openArchiving opens the archive for a command that archives, with the
// ingest options of the configuration: the case, its encryption, its
// readers.
func openArchiving(ctx context.Context, e *env, home string, cfg *Config, caseName string) (*archive.Archive, archive.IngestOptions, error) {
	enc, err := parseRecipients(cfg.EncryptTo)
	if err != nil {
		return nil, archive.IngestOptions{}, err
	}
	registry, err := configuredReaders(cfg)
	if err != nil {
		return nil, archive.IngestOptions{}, err
	}
	a, err := openArchive(ctx, e, home, cfg)
	if err != nil {
		return nil, archive.IngestOptions{}, err
	}
	return a, archive.IngestOptions{Case: caseName, Encrypt: enc, Readers: registry}, nil
}

// archiveAcquisition archives one acquisition and prints what became of
// it.
func archiveAcquisition(ctx context.Context, e *env, a *archive.Archive, opts archive.IngestOptions, acq *archive.Acquisition) error {
	p := newProgress(e)
	opts.Observer = p
	rep, err := a.Acquire(ctx, opts, []*archive.Acquisition{acq})
	if err != nil {
		return err
	}
	p.finish()
	printIngest(e, rep, a.Location())
	return ingestError(ctx, rep)
}

// printIngest prints the run's summary.
func printIngest(e *env, rep *archive.IngestReport, location string) {
	n := rep.Count
	if e.json {
		summary := map[string]any{"event": "summary", "archived": n(ingest.Archived), "exists": n(ingest.Exists),
			"repaired": n(ingest.Repaired), "skipped": n(ingest.Skipped), "failed": n(ingest.Failed), "archive": location}
		if k := n(ingest.NotStarted); k > 0 {
			summary["notStarted"] = k
		}
		if !rep.NoLog {
			summary["logged"] = rep.Logged
		}
		writeJSON(e.stdout, schemaIngest, summary)
		return
	}
	fmt.Fprintf(e.stdout, "%d archived, %d already archived, %d repaired, %d skipped, %d failed", n(ingest.Archived),
		n(ingest.Exists), n(ingest.Repaired), n(ingest.Skipped), n(ingest.Failed))
	if k := n(ingest.NotStarted); k > 0 {
		fmt.Fprintf(e.stdout, ", %d not started (interrupted)", k)
	}
	fmt.Fprintf(e.stdout, "  (%s)\n", location)
	if !rep.NoLog && rep.LogErr == nil {
		fmt.Fprintf(e.stdout, "custody log: %d events logged\n", rep.Logged)
	}
}

// ingestError is the error (and exit code) of a finished run: the log
// first, then the store, then the inputs.
func ingestError(ctx context.Context, rep *archive.IngestReport) error {
	switch {
	case ledger.IsTampering(rep.LogErr) || archive.KindOf(rep.LogErr) == archive.KindTampered:
		return withCode(ExitVerifyFail, fmt.Errorf("custody log: %w", rep.LogErr), "the items are archived but their events are not logged: the custody log was tampered with: keep the archive and this output as evidence")
	case rep.LogErr != nil:
		return withCode(ExitIO, rep.LogErr, "the items are archived but their events may not be logged: run the same ingest again to log them")
	case rep.SyncErr != nil:
		return withCode(ExitIO, rep.SyncErr, "check the disk, then run the same ingest again to complete what was written last")
	}
	var firstStoreErr, firstInputErr error
	for _, r := range rep.Results {
		if r.Status != ingest.Failed {
			continue
		}
		var ie *ingest.InputError
		var ce *ingest.ChangedError
		switch {
		case errors.As(r.Err, &ie) || errors.As(r.Err, &ce):
			if firstInputErr == nil {
				firstInputErr = r.Err
			}
		case firstStoreErr == nil:
			firstStoreErr = r.Err
		}
	}
	n := rep.Count
	taken := n(ingest.Archived) + n(ingest.Exists) + n(ingest.Repaired)
	switch {
	case ctx.Err() != nil:
		if k := n(ingest.NotStarted); k > 0 {
			return fmt.Errorf("%d inputs not started: %w", k, ctx.Err())
		}
		return ctx.Err()
	case firstStoreErr != nil:
		return fmt.Errorf("%d of %d items failed; first: %w", n(ingest.Failed), len(rep.Results), firstStoreErr)
	case firstInputErr != nil:
		return withCode(ExitInput, fmt.Errorf("%d inputs could not be ingested; first: %w", n(ingest.Failed), firstInputErr),
			"fix the paths listed above and run ingest again; the other items are archived")
	case taken == 0 && n(ingest.Skipped) > 0:
		return withCode(ExitInput, fmt.Errorf("nothing was ingested: the %d paths found were skipped", n(ingest.Skipped)),
			"symbolic links, pipes, devices and the archive's own folders are never read: give the regular files themselves")
	}
	return nil
}

// configuredReaders are every reader, with working copies stripped by the
// configured profile.
func configuredReaders(cfg *Config) (*capture.Registry, error) {
	profile, err := stripProfile(cfg)
	if err != nil {
		return nil, err
	}
	return readers.Default(profile)
}

// stripProfile is the configured strip profile, or strip.Default.
func stripProfile(cfg *Config) (strip.Profile, error) {
	if cfg.Strip == nil {
		return strip.Default, nil
	}
	p, err := strip.NewProfile(cfg.Strip.Profile, cfg.Strip.Keep)
	if err != nil {
		return p, usageErr("configuration strip: %v", err)
	}
	return p, nil
}
