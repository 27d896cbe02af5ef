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
	"github.com/openexhibit/exhibit/ingest"
	"github.com/openexhibit/exhibit/sign"
	"github.com/openexhibit/exhibit/storage"
	"github.com/urfave/cli/v2"
)

func ingestCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "ingest",
		Usage:     "archive files and folders: hash, store write-once, sign a custody record",
		ArgsUsage: "PATH...",
		Description: "Folders are walked recursively; symbolic links and special files are reported, not followed.\n" +
			"Re-ingesting bytes that are already archived writes nothing and says so. An interrupted run\n" +
			"leaves no half-written item: run the same command again to complete it.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "case", Usage: "case (investigation) the items belong to"},
			&cli.BoolFlag{Name: "legal-hold", Usage: "place an S3 Object Lock legal hold on every object written"},
			&cli.IntFlag{Name: "jobs", Usage: "files read at once (default: number of CPUs)"},
			&cli.StringSliceFlag{Name: "encrypt-to", Usage: "encrypt originals and their metadata to this age recipient (age1…) before they are written; repeatable (config: encrypt_to)"},
			&cli.BoolFlag{Name: "require-timestamp", Usage: "fail an item when a timestamp authority (tsa: in the configuration) gives no timestamp, instead of warning"},
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
			return runIngest(c.Context, e, home, cfg, ingestOptions{caseName: c.String("case"), requireTimestamp: c.Bool("require-timestamp")}, c.Args().Slice())
		},
	}
}

type ingestOptions struct {
	caseName         string
	requireTimestamp bool
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
	st, err := openStore(ctx, cfg)
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
	ts, err := timestamper(cfg, tf, o.requireTimestamp)
	if err != nil {
		return err
	}
	hostname, _ := os.Hostname()
	opts := ingest.Options{
		Store: st, Signer: signer, Verifier: verifier,
		Timestamper: ts, RequireTimestamp: o.requireTimestamp,
		Case: caseName, Operator: cfg.Operator,
		Host:      custody.Host{Name: hostname, OS: runtime.GOOS, Arch: runtime.GOARCH},
		Tool:      custody.Tool{Name: "exhibit", Version: version(), GoVersion: runtime.Version()},
		LegalHold: cfg.LegalHold,
		Jobs:      cfg.Jobs,
		Readers:   []capture.Reader{photo.New(), geo.New(), strip.NewReader(profile)},
		Encrypt:   enc,
	}
	if r := cfg.Retention; r != nil {
		mode := storage.Compliance
		if r.Mode == "governance" {
			mode = storage.Governance
		}
		opts.Retention = &ingest.Retention{Mode: mode, Period: time.Duration(r.Days) * 24 * time.Hour}
	}
	if c, ok := st.(interface {
		CleanupStale(context.Context, time.Duration) error
	}); ok {
		// Best effort: what an interrupted run left behind a day ago.
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		_ = c.CleanupStale(cctx, 24*time.Hour)
		cancel()
	}
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
	summary := map[string]any{"event": "summary", "archived": counts[ingest.Archived], "exists": counts[ingest.Exists],
		"repaired": counts[ingest.Repaired], "skipped": counts[ingest.Skipped], "failed": counts[ingest.Failed],
		"archive": st.Location()}
	if e.json {
		writeJSON(e.stdout, summary)
	} else {
		fmt.Fprintf(e.stdout, "%d archived, %d already archived, %d repaired, %d skipped, %d failed  (%s)\n",
			counts[ingest.Archived], counts[ingest.Exists], counts[ingest.Repaired], counts[ingest.Skipped], counts[ingest.Failed], st.Location())
	}
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case firstStoreErr != nil:
		return fmt.Errorf("%d of %d items failed; first: %w", counts[ingest.Failed], len(results), firstStoreErr)
	case firstInputErr != nil:
		return withCode(ExitInput, fmt.Errorf("%d inputs could not be ingested; first: %w", counts[ingest.Failed], firstInputErr),
			"fix the paths listed above and run ingest again; the other items are archived")
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
