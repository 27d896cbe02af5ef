// Package cli is Exhibit's command-line interface, one front end of package
// archive: it reads the configuration (file, then EXHIBIT_* environment,
// then flags), supplies passphrases (environment or a terminal prompt),
// runs one command, renders its result as text or JSON, and maps errors to
// exit codes (archive.KindOf and the errors it wraps). Commands are thin:
// they parse, call one function of archive, and print.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
)

// Version is the program version, set at build time with
// -ldflags "-X github.com/openexhibit/exhibit/cli.Version=…".
var Version = "0.1.0-dev"

func version() string {
	if Version != "0.1.0-dev" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return Version
}

// env is what a command writes to and reads from.
type env struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	json           bool
	// tty is true when stderr is a terminal (progress bars).
	tty bool
	// unknownCommand is set when the command name was not recognized.
	unknownCommand bool
	// creds supplies passphrases, one prompt per process.
	creds credentials
}

const exitCodesHelp = `EXIT CODES:
   0    success (verify: every check passed)
   1    verification failed: tampered, or an item missing
   2    usage or configuration error
   3    item not found in the archive
   4    storage or file system error (unreachable, refused, full)
   5    signing key missing, unreadable, or wrong passphrase
   6    some inputs could not be ingested (the others were), or none was
   7    unverifiable: the trust file lacks a key, TSA or custody log items need
   130  interrupted (nothing half-written was kept; rerun to complete)
`

// Main runs the exhibit command line as a program: SIGINT and SIGTERM cancel
// the run (which then stops cleanly and exits 130), and it returns the exit
// code.
func Main() int {
	if os.Getenv("GOMEMLIMIT") == "" {
		// Decrypting the key (scrypt) leaves 64 MiB of garbage that would let
		// the heap grow past it before the next collection; a soft limit keeps
		// ingest of any file size under about 100 MB resident.
		debug.SetMemoryLimit(64 << 20)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
}

// Run runs the exhibit command line with args (args[0] is the program name)
// and returns the process exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr, stdin: stdin}
	if f, ok := stderr.(*os.File); ok {
		e.tty = isTerminal(f)
	}
	app := newApp(e)
	err := app.RunContext(ctx, normalizeArgs(app, args))
	if err == nil {
		if e.unknownCommand {
			return ExitUsage
		}
		return ExitOK
	}
	code, hint := classify(err)
	if ctx.Err() != nil && code != ExitUsage {
		code, hint = classify(context.Canceled)
	}
	if e.json {
		writeJSON(stdout, schemaError, map[string]any{"event": "error", "error": err.Error(), "hint": hint, "exitCode": code})
	} else {
		fmt.Fprintf(stderr, "exhibit: %v\n", err)
		if hint != "" {
			fmt.Fprintf(stderr, "exhibit: %s\n", hint)
		}
	}
	return code
}

func newApp(e *env) *cli.App {
	app := &cli.App{
		Name:    "exhibit",
		Usage:   "preserve digital evidence so that its integrity and provenance hold up in court",
		Version: version() + " (" + runtime.Version() + ")",
		Description: "Exhibit ingests files into an archive (a local folder or an S3 bucket): it hashes each\n" +
			"original in one pass (SHA-256 and SHA-512), stores it write-once, signs a custody record\n" +
			"(an in-toto statement in a sigstore bundle) and lets anyone verify all of it later.\n\n" +
			"Start with: exhibit init --archive ./archive   then: exhibit ingest --case NAME FILES...\n\n" +
			"Configuration: $EXHIBIT_HOME/config.yaml, overridden by EXHIBIT_* variables, overridden by flags.\n\n" +
			exitCodesHelp,
		Writer:          e.stdout,
		ErrWriter:       e.stderr,
		Reader:          e.stdin,
		HideHelpCommand: true,
		ExitErrHandler:  func(*cli.Context, error) {},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			flags, help := c.App.Flags, "exhibit --help"
			if c.Command != nil && c.Command.Name != "" {
				flags, help = c.Command.Flags, "exhibit "+c.Command.FullName()+" --help"
			}
			if hint := didYouMean(flags, err); hint != "" {
				return &exitError{code: ExitUsage, err: err, hint: hint + " (see " + help + ")"}
			}
			return usageErr("%v (see %s)", err, help)
		},
		CommandNotFound: func(c *cli.Context, name string) {
			e.unknownCommand = true
			var names []string
			for _, cmd := range c.App.Commands {
				names = append(names, cmd.Names()...)
			}
			hint := ""
			if s := suggest(name, names); s != "" {
				hint = "; did you mean " + s + "?"
			}
			fmt.Fprintf(e.stderr, "exhibit: unknown command %q%s (see exhibit --help)\n", name, hint)
		},
		Commands: []*cli.Command{initCommand(e), ingestCommand(e), captureCommand(e), profileCommand(e), stacCommand(e), verifyCommand(e), showCommand(e), getCommand(e), lsCommand(e), logCommand(e),
			exportCommand(e), verifyExportCommand(e), workerCommand(e), jobsCommand(e)},
	}
	for _, c := range app.Commands {
		c.OnUsageError = app.OnUsageError
		c.Flags = append(c.Flags, commonFlags()...)
		finishHelp(c, c.Name)
	}
	return app
}

// examples are shown at the end of each command's help.
var examples = map[string][]string{
	"init": {"exhibit init --archive ./archive --operator 'Field Team 3'",
		"exhibit init --archive s3://evidence/ngo --object-lock compliance:365d --tsa https://tsa.example/api/v1/timestamp",
		"exhibit init --home ./verifier --archive ./archive --trust-log 'exhibit.archive/…+…+…'   (join an archive)"},
	"ingest": {"exhibit ingest --case kharkiv-0312 ~/card01/DCIM", "exhibit ingest --encrypt-to age1… --case kharkiv-0312 photo.jpg"},
	"verify": {"exhibit verify --all", "exhibit verify --case kharkiv-0312 -v", "exhibit verify photo.jpg   (is this file archived, and intact?)",
		"exhibit verify --archive ./archive --trust trust.json --all   (no setup needed)"},
	"capture": {"exhibit capture --case kharkiv-0312 https://example.org/post/123",
		"exhibit capture --case kharkiv-0312 --from urls.txt", "exhibit capture --media https://video.example/watch?v=…"},
	"stac search": {"exhibit stac search --api https://earth-search.example/v1 --collection sentinel-2-l2a --aoi village.geojson --datetime 2026-03-01/2026-03-31 --max-cloud 20"},
	"stac acquire": {"exhibit stac acquire --case rakhine --api https://earth-search.example/v1 --collection sentinel-2-l2a --bbox 92.1,20.1,92.3,20.3 --datetime 2026-03-01/2026-03-31 --assets visual,scl",
		"exhibit stac acquire --catalog https://open-data.example/catalog.json --max-items 5"},
	"profile add": {"exhibit profile add ngo-account --cookies cookies.txt", "exhibit capture --profile ngo-account https://…"},
	"show":        {"exhibit show sha256:3f2a…", "exhibit show --json sha256:3f2a…"},
	"get": {"exhibit get sha256:3f2a… -o evidence.jpg", "exhibit get sha256:3f2a… --working-copy -o share.jpg",
		"exhibit get sha256:3f2a… --derivative media-001.mp4 -o video.mp4"},
	"ls": {"exhibit ls", "exhibit ls --case kharkiv-0312 --json"},
	"export": {"exhibit export --case kharkiv-0312 --out ./disclosure-07 --recipient 'Defence counsel, case 12'",
		"exhibit export --items sha256:3f2a…,sha256:9c1e… --working-copies-only --out ./press-pack --recipient 'Press, 2026-12'"},
	"verify-export": {"exhibit verify-export ./disclosure-07", "exhibit verify-export --trust sender-trust.json ./disclosure-07"},
	"log show":      {"exhibit log show", "exhibit log show sha256:3f2a…"},
	"log verify":    {"exhibit log verify", "exhibit log verify --archive ./archive --trust trust.json   (no setup needed)"},
}

// finishHelp adds the examples to a command's help (and its
// subcommands'), and drops the "(default: false)" urfave/cli prints after
// every boolean flag: a flag that is not given is off.
func finishHelp(c *cli.Command, name string) {
	if ex := examples[name]; len(ex) > 0 {
		if c.Description != "" {
			c.Description += "\n\n"
		}
		c.Description += "Examples:\n   " + strings.Join(ex, "\n   ")
	}
	for _, f := range c.Flags {
		if b, ok := f.(*cli.BoolFlag); ok {
			b.DisableDefaultText = true
		}
	}
	for _, sub := range c.Subcommands {
		finishHelp(sub, name+" "+sub.Name)
	}
}

// commonFlags are accepted by every command (after its name).
func commonFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "home", EnvVars: []string{"EXHIBIT_HOME"}, Usage: "configuration folder (keys, trust file, config.yaml); default: the user's config folder + /exhibit"},
		&cli.StringFlag{Name: "archive", Usage: "archive: a folder or s3://BUCKET/PREFIX (env EXHIBIT_ARCHIVE)"},
		&cli.StringFlag{Name: "key", Usage: "signing key file or KMS URI such as hashivault://NAME (env EXHIBIT_KEY)"},
		&cli.StringFlag{Name: "trust", Usage: "trust file listing the keys verify accepts (env EXHIBIT_TRUST)"},
		&cli.StringFlag{Name: "operator", Usage: "name of the person ingesting, recorded in each record (env EXHIBIT_OPERATOR)"},
		&cli.BoolFlag{Name: "json", Usage: "write JSON instead of text (ingest: one JSON line per event)"},
	}
}

// config applies --json and reads the home folder and the configuration
// that every command but init needs.
func (e *env) config(c *cli.Context) (string, *Config, error) { return e.load(c, false) }

// load applies --json and reads the home folder and the configuration; a
// missing configuration file is an error unless allowMissing.
func (e *env) load(c *cli.Context, allowMissing bool) (string, *Config, error) {
	wantJSON(c, e)
	home, err := homeDir(c)
	if err != nil {
		return "", nil, err
	}
	cfg, err := loadConfig(c, home, allowMissing)
	return home, cfg, err
}

// verifierConfig is config for the commands that only verify (verify, log
// verify): they also run with no configuration file at all, for a verifier
// who received nothing but the trust file, given the archive and the trust
// file (--archive and --trust, or EXHIBIT_ARCHIVE and EXHIBIT_TRUST). The
// home folder then only keeps the remembered checkpoint.
func (e *env) verifierConfig(c *cli.Context) (string, *Config, error) {
	home, cfg, err := e.load(c, true)
	if err != nil {
		return "", nil, err
	}
	if _, err := os.Stat(filepath.Join(home, configName)); err != nil {
		_, trustSet := os.LookupEnv("EXHIBIT_TRUST")
		if cfg.Archive == "" || !(c.IsSet("trust") || trustSet) {
			return "", nil, usageErr("no configuration at %s: run `exhibit init --archive DIR` first, or verify with --archive ARCHIVE --trust TRUST_FILE", filepath.Join(home, configName))
		}
	}
	return home, cfg, nil
}

func wantJSON(c *cli.Context, e *env) bool {
	if c.Bool("json") {
		e.json = true
	}
	return e.json
}

func needArgs(c *cli.Context, what string) error {
	if c.NArg() == 0 {
		return usageErr("%s: missing %s (see exhibit %s --help)", c.Command.Name, what, c.Command.Name)
	}
	return nil
}
