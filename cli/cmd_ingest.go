package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/openexhibit/exhibit/capture"
	"github.com/openexhibit/exhibit/capture/geo"
	"github.com/openexhibit/exhibit/capture/photo"
	"github.com/openexhibit/exhibit/capture/strip"
	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/custody/ledger"
	"github.com/openexhibit/exhibit/hashing"
	"github.com/openexhibit/exhibit/ingest"
	"github.com/openexhibit/exhibit/sign"
	"github.com/openexhibit/exhibit/storage"
	"github.com/openexhibit/exhibit/verify"
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
				cfg.Jobs = c.Int("jobs")
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

// timestamper builds the client for the configured TSAs, each of which the
// trust file must hold (or no timestamp of it would verify).
func timestamper(cfg *Config, tf *sign.TrustFile, require bool) (*sign.Timestamper, error) {
	if len(cfg.TSA) == 0 {
		if require {
			return nil, usageErr("--require-timestamp: no timestamp authority is configured (tsa: in the configuration, or EXHIBIT_TSA)")
		}
		return nil, nil
	}
	trusted := map[string]bool{}
	for _, u := range tf.TSAURIs() {
		trusted[u] = true
	}
	for _, u := range cfg.TSA {
		if err := checkTSAURL(u); err != nil {
			return nil, err
		}
		if !trusted[u] {
			return nil, usageErr("timestamp authority %s is configured but its certificate chain is not in the trust file, so its timestamps could not be verified: "+
				"add it with `exhibit init --tsa %s` (in a new --home), or remove it from tsa: / EXHIBIT_TSA", u, u)
		}
	}
	return &sign.Timestamper{URLs: cfg.TSA}, nil
}

func runIngest(ctx context.Context, e *env, home string, cfg *Config, o ingestOptions, paths []string) error {
	caseName := o.caseName
	enc, err := parseRecipients(cfg.EncryptTo)
	if err != nil {
		return err
	}
	profile, err := stripProfile(cfg)
	if err != nil {
		return err
	}
	st, desc, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	signer, err := loadSigner(ctx, home, cfg)
	if err != nil {
		return err
	}
	verifier, tf, err := loadVerifier(home, cfg)
	if err != nil {
		return err
	}
	trusted := false
	for _, k := range tf.Keys {
		trusted = trusted || k.Fingerprint == signer.Fingerprint()
	}
	if !trusted {
		return withCode(ExitKey, fmt.Errorf("the signing key %s is not in the trust file", signer.Fingerprint()),
			"add the key to the trust file, or use the key that init made")
	}
	ts, err := timestamper(cfg, tf, o.requireTimestamp || o.minTimestamps > 0)
	if err != nil {
		return err
	}
	if o.minTimestamps > len(cfg.TSA) {
		return usageErr("--require-timestamps %d: only %d timestamp authorities are configured (tsa: in the configuration, or EXHIBIT_TSA)", o.minTimestamps, len(cfg.TSA))
	}
	// The log key before anything is written: a run that cannot log its
	// events does not start.
	cl, _, err := openLog(ctx, home, cfg, st, desc, tf, logWrite, stampPolicy{require: o.requireTimestamp, warn: e.stderr})
	if errors.Is(err, errNoLog) {
		fmt.Fprintf(e.stderr, "exhibit: note: %v: no custody events are logged for it\n", err)
		cl = nil
	} else if err != nil {
		return err
	}
	hostname, _ := os.Hostname()
	opts := ingest.Options{
		Store: st, Signer: signer, Verifier: verifier,
		Timestamper: ts, RequireTimestamp: o.requireTimestamp, MinTimestamps: o.minTimestamps,
		Case: caseName, Operator: cfg.Operator,
		Host:      custody.Host{Name: hostname, OS: runtime.GOOS, Arch: runtime.GOARCH},
		Tool:      custody.Tool{Name: "exhibit", Version: version(), GoVersion: runtime.Version()},
		LegalHold: cfg.LegalHold,
		Jobs:      cfg.Jobs,
		Readers:   []capture.Reader{photo.New(), geo.New(), strip.NewReader(profile)},
		Encrypt:   enc,
	}
	if r := cfg.Retention; r != nil {
		opts.Retention = &ingest.Retention{Mode: r.storageMode(), Period: r.period()}
	}
	// Never the archive's own files, nor the keys in the home folder.
	opts.Exclude = []string{home}
	if a, err := parseArchive(cfg.Archive); err == nil && !a.isS3() {
		opts.Exclude = append(opts.Exclude, a.dir)
	}
	// Best effort: what an interrupted run left behind a day ago.
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	_ = storage.CleanupStale(cctx, st, 24*time.Hour)
	cancel()
	p := newProgress(e)
	opts.Observer = p
	in, err := ingest.New(ctx, opts)
	if err != nil {
		return err
	}
	results := in.Paths(ctx, paths)
	p.mu.Lock()
	p.clear()
	p.mu.Unlock()

	counts := map[ingest.Status]int{}
	var firstStoreErr, firstInputErr error
	for _, r := range results {
		counts[r.Status]++
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
	var logErr error
	var logged int
	if cl != nil {
		logged, logErr = logIngest(context.WithoutCancel(ctx), cl, st, verifier, results, actor(signer.Fingerprint(), cfg.Operator))
	}
	if err := storage.Sync(context.WithoutCancel(ctx), st); err != nil && logErr == nil {
		// Items are durable when reported; what may be lost is a record
		// copy or pointer written after, which a rerun writes again.
		return withCode(ExitIO, err, "check the disk, then run the same ingest again to complete what was written last")
	}
	summary := map[string]any{"event": "summary", "archived": counts[ingest.Archived], "exists": counts[ingest.Exists],
		"repaired": counts[ingest.Repaired], "skipped": counts[ingest.Skipped], "failed": counts[ingest.Failed],
		"archive": st.Location()}
	if n := counts[ingest.NotStarted]; n > 0 {
		summary["notStarted"] = n
	}
	if cl != nil {
		summary["logged"] = logged
	}
	if e.json {
		writeJSON(e.stdout, schemaIngest, summary)
	} else {
		fmt.Fprintf(e.stdout, "%d archived, %d already archived, %d repaired, %d skipped, %d failed", counts[ingest.Archived],
			counts[ingest.Exists], counts[ingest.Repaired], counts[ingest.Skipped], counts[ingest.Failed])
		if n := counts[ingest.NotStarted]; n > 0 {
			fmt.Fprintf(e.stdout, ", %d not started (interrupted)", n)
		}
		fmt.Fprintf(e.stdout, "  (%s)\n", st.Location())
		if cl != nil && logErr == nil {
			fmt.Fprintf(e.stdout, "custody log: %d events logged\n", logged)
		}
	}
	var te *tamperedError
	if ledger.IsTampering(logErr) || errors.As(logErr, &te) {
		return withCode(ExitVerifyFail, fmt.Errorf("custody log: %w", logErr), "the items are archived but their events are not logged: the custody log was tampered with: keep the archive and this output as evidence")
	}
	if logErr != nil {
		return withCode(ExitIO, logErr, "the items are archived but their events may not be logged: run the same ingest again to log them")
	}
	taken := counts[ingest.Archived] + counts[ingest.Exists] + counts[ingest.Repaired]
	switch {
	case ctx.Err() != nil:
		if n := counts[ingest.NotStarted]; n > 0 {
			return fmt.Errorf("%d inputs not started: %w", n, ctx.Err())
		}
		return ctx.Err()
	case firstStoreErr != nil:
		return fmt.Errorf("%d of %d items failed; first: %w", counts[ingest.Failed], len(results), firstStoreErr)
	case firstInputErr != nil:
		return withCode(ExitInput, fmt.Errorf("%d inputs could not be ingested; first: %w", counts[ingest.Failed], firstInputErr),
			"fix the paths listed above and run ingest again; the other items are archived")
	case taken == 0 && counts[ingest.Skipped] > 0:
		return withCode(ExitInput, fmt.Errorf("nothing was ingested: the %d paths found were skipped", counts[ingest.Skipped]),
			"symbolic links, pipes, devices and the archive's own folders are never read: give the regular files themselves")
	}
	return nil
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

// logIngest appends the custody events of a run in one batch (one
// checkpoint; more only past ledger.MaxBatch events): for each item
// archived or repaired, or found archived with no ingested event logged (a
// run that stopped before its append), an ingested event, an archived event
// per object and a derived event per derivative. It returns how many events
// it logged.
func logIngest(ctx context.Context, cl *custodyLog, st storage.Store, trust *sign.Verifier, results []ingest.Result, who custody.Actor) (int, error) {
	now := time.Now().UTC()
	var events []*custody.Event
	seen := map[string]bool{}
	for _, r := range results {
		if r.Item == "" || seen[r.Item] {
			continue
		}
		switch r.Status {
		case ingest.Archived, ingest.Repaired, ingest.Exists:
		default:
			continue
		}
		seen[r.Item] = true
		id, err := hashing.ParseDigest(r.Item)
		if err != nil {
			return 0, err
		}
		if r.Status != ingest.Archived {
			done, err := hasIngested(ctx, st, id)
			if err != nil {
				return 0, fmt.Errorf("custody log: %s: %w", r.Item, err)
			}
			if done {
				continue
			}
		}
		var evs []*custody.Event
		if r.Status == ingest.Archived && r.Record != nil && !r.RecordBundle.IsZero() && !r.OriginalBundle.IsZero() {
			// Written by this run: the events come from what it wrote.
			evs, err = ingestEvents(st, id, r.RecordBundle.String(), r.OriginalBundle.String(), r.Record, now, who)
		} else {
			evs, err = storedIngestEvents(ctx, st, trust, id, now, who)
		}
		if err != nil {
			return 0, fmt.Errorf("custody log: %s: %w", r.Item, err)
		}
		events = append(events, evs...)
	}
	if len(events) == 0 {
		return 0, nil
	}
	_, err := cl.append(ctx, events)
	return len(events), err
}

// storedIngestEvents are the events of an item archived by an earlier run,
// from its stored bundles, each verified first: the events name what the
// trusted key signed, never an unsigned copy.
func storedIngestEvents(ctx context.Context, st storage.Store, trust *sign.Verifier, id hashing.Digest, now time.Time, who custody.Actor) ([]*custody.Event, error) {
	bundle, err := storage.ReadAll(ctx, st, custody.RecordBundleKey(id), 64<<20)
	if err != nil {
		return nil, err
	}
	rv, err := trust.VerifyStatement(bundle, id.Sum)
	if err != nil {
		return nil, &tamperedError{fmt.Errorf("%s does not verify, not logging its ingest: %w", custody.RecordBundleKey(id), err)}
	}
	original, err := storage.ReadAll(ctx, st, custody.OriginalBundleKey(id), 64<<20)
	if err != nil {
		return nil, err
	}
	if _, err := trust.VerifyDigest(original, id.Sum); err != nil {
		return nil, &tamperedError{fmt.Errorf("%s does not verify, not logging its ingest: %w", custody.OriginalBundleKey(id), err)}
	}
	return ingestEvents(st, id, verify.RecordDigest(bundle), hashing.Sum256(original).String(), rv.Payload, now, who)
}

// ingestEvents are the events of one archived item: record names its
// record bundle (verify.RecordDigest), data is its record statement.
func ingestEvents(st storage.Store, id hashing.Digest, record, original string, data []byte, now time.Time, who custody.Actor) ([]*custody.Event, error) {
	stmt, err := custody.ParseStatement(data)
	if err != nil {
		return nil, err
	}
	rec := &stmt.Predicate
	ev := func(t custody.EventType) *custody.Event {
		return &custody.Event{V: custody.EventVersion, Type: t, Item: id.String(), Time: now, Actor: who}
	}
	ing := ev(custody.EventIngested)
	ing.Record, ing.Original, ing.Case = record, original, rec.Case
	out := []*custody.Event{ing}
	archived := func(o custody.Object) {
		a := ev(custody.EventArchived)
		a.Object = &custody.EventObject{Store: st.Location(), Key: o.Key, VersionID: o.VersionID, Retention: rec.Storage.Retention}
		out = append(out, a)
	}
	archived(rec.Original)
	if rec.Metadata != nil {
		archived(rec.Metadata.Object)
	}
	for _, d := range rec.Derivatives {
		archived(d.Object)
		dv := ev(custody.EventDerived)
		dv.Object = &custody.EventObject{Store: st.Location(), Key: d.Key, VersionID: d.VersionID}
		out = append(out, dv)
	}
	return out, nil
}
