package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/openexhibit/exhibit/archive"
	"github.com/urfave/cli/v2"
)

type initOptions struct {
	objectLock         string
	insecureNoPassword bool
	tsa                []string
	// trustLog is the verifier key of an existing archive's custody log,
	// given to join that archive.
	trustLog string
}

func initCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "init",
		Usage:     "create a signing key, a trust file and an archive (a folder or an S3 bucket)",
		ArgsUsage: " ",
		Description: "init writes into the home folder (--home, EXHIBIT_HOME): cosign.key (ECDSA P-256, encrypted with\n" +
			"the passphrase from EXHIBIT_PASSWORD or a prompt), cosign.pub, trust.json (the keys verify\n" +
			"accepts), trusted_root.json (for cosign) and config.yaml; and creates the archive. With --key\n" +
			"hashivault://NAME (or another sigstore KMS URI, or an existing key file) no key is generated.\n" +
			"Each --tsa URL (an RFC 3161 timestamp endpoint, e.g. https://tsa.example/api/v1/timestamp) is\n" +
			"asked for its certificate chain (URL/certchain), which goes into trust.json and\n" +
			"trusted_root.json: compare the fingerprints printed with those the TSA's operator publishes.\n" +
			"A new archive gets a custody log: its Ed25519 log key goes to log.key (encrypted like cosign.key)\n" +
			"and its verifier key into trust.json. Joining an archive that has a log needs --trust-log with\n" +
			"the verifier key its creator's init printed; commands that log events then also need that\n" +
			"home's log.key copied into this one (EXHIBIT_LOG_PASSWORD if its passphrase differs).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "object-lock", Usage: "S3 only: create the bucket with Object Lock and retain every object, e.g. compliance:365d or governance:30d"},
			&cli.BoolFlag{Name: "insecure-no-password", Usage: "write the private key unencrypted (anyone who can read it can sign as you)"},
			&cli.StringSliceFlag{Name: "tsa", Usage: "RFC 3161 timestamp authority URL to trust and use (repeatable; env EXHIBIT_TSA, comma-separated)"},
			&cli.StringFlag{Name: "trust-log", Usage: "joining an existing archive: the verifier key of its custody log, as the init that created it printed (compare it out of band)"},
		},
		Action: func(c *cli.Context) error {
			wantJSON(c, e)
			home, err := homeDir(c)
			if err != nil {
				return err
			}
			cfg, err := loadConfig(c, home, true)
			if err != nil {
				return err
			}
			o := initOptions{objectLock: c.String("object-lock"), insecureNoPassword: c.Bool("insecure-no-password"), tsa: cfg.TSA,
				trustLog: c.String("trust-log")}
			if c.IsSet("tsa") {
				o.tsa = c.StringSlice("tsa")
			}
			res, err := runInit(c.Context, e, home, cfg, o)
			if err != nil {
				return err
			}
			if e.json {
				return writeJSON(e.stdout, schemaInit, res)
			}
			fmt.Fprintf(e.stdout, "archive      %s\nkey          %s (%s)\ntrust file   %s\nconfig       %s\n",
				res.Archive, res.KeyFingerprint, res.Key, res.Trust, res.Config)
			for _, t := range res.TSAs {
				fmt.Fprintf(e.stdout, "tsa          %s\n             root %q %s\n             leaf %q %s\n", t.URL, t.Root, t.RootFingerprint, t.Leaf, t.LeafFingerprint)
			}
			if len(res.TSAs) == 0 {
				fmt.Fprintf(e.stdout, "tsa          none: bundles carry no trusted time (see --tsa)\n")
			}
			if res.Log != "" {
				fmt.Fprintf(e.stdout, "custody log  %s\n             verifier key %s\n", res.Log, res.LogVerifierKey)
			} else {
				fmt.Fprintf(e.stdout, "custody log  none: the archive was created before Exhibit kept one\n")
			}
			fmt.Fprintln(e.stdout)
			fmt.Fprintf(e.stdout, "Next: exhibit ingest --case NAME FILE_OR_FOLDER...\n")
			return nil
		},
	}
}

type initResult struct {
	*archive.Created
	Config string `json:"config"`
}

// runInit creates the archive (archive.Create) and writes the
// configuration, last, so that a failed init can simply be run again.
func runInit(ctx context.Context, e *env, home string, cfg *Config, o initOptions) (*initResult, error) {
	ao, err := archiveOptions(e, home, cfg)
	if err != nil {
		return nil, err
	}
	ao.TSA = o.tsa
	co := archive.CreateOptions{Options: ao, InsecureNoPassword: o.insecureNoPassword, TrustLog: o.trustLog}
	if o.objectLock != "" {
		if co.ObjectLock, err = parseRetention(o.objectLock); err != nil {
			return nil, usageErr("%v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(home, configName)); err == nil {
		return nil, usageErr("%s is already set up (%s exists): use another --home, or edit its config.yaml", home, configName)
	}
	created, err := archive.Create(ctx, co)
	if err != nil {
		return nil, err
	}
	out := Config{Archive: cfg.Archive, Key: created.KeyRef, Trust: archive.TrustFile, Operator: cfg.Operator, S3: cfg.S3,
		Retention: co.ObjectLock, LegalHold: cfg.LegalHold, Parallel: cfg.Parallel, TSA: created.TSAURLs}
	if ao.Location.IsS3() {
		// Credentials stay in the environment, not in a file.
		out.S3.AccessKey, out.S3.SecretKey = "", ""
	} else {
		out.Archive = ao.Location.Dir
	}
	if err := writeConfig(home, &out); err != nil {
		return nil, fmt.Errorf("write configuration: %w", err)
	}
	return &initResult{Created: created, Config: filepath.Join(home, configName)}, nil
}
