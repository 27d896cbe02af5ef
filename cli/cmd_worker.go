package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/openexhibit/exhibit/acquire/web"
	"github.com/openexhibit/exhibit/worker"
)

const schemaJobsHistory = "exhibit.jobs-history/v1"

func queueFlag() cli.Flag {
	return &cli.StringFlag{Name: "queue", EnvVars: []string{"EXHIBIT_QUEUE"},
		Usage: "the queue database: postgres://… for many workers, sqlite:PATH", DefaultText: "queue.db (SQLite) in the home folder"}
}

func workerCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "worker",
		Usage: "run the scheduled jobs of config.yaml (jobs:) until SIGTERM; several workers may share one queue",
		Description: "A first SIGTERM or SIGINT drains: no new jobs, running ones finish (up to --drain, then they are\n" +
			"cancelled and run again later); a second cancels them at once. The worker never prompts: the key\n" +
			"passphrases come from EXHIBIT_PASSWORD(_FILE) and EXHIBIT_LOG_PASSWORD(_FILE), or the key is in a KMS.",
		Flags: []cli.Flag{
			queueFlag(),
			&cli.StringFlag{Name: "listen", Usage: "address of /healthz, /readyz and /metrics (\"off\": none)", DefaultText: "127.0.0.1:9464"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log lines as text or json (on stderr)"},
			&cli.IntFlag{Name: "concurrency", Usage: "jobs run at once", DefaultText: "4"},
			&cli.DurationFlag{Name: "drain", Usage: "how long a drain waits for running jobs", DefaultText: "1m"},
		},
		Subcommands: []*cli.Command{{
			Name:  "migrate",
			Usage: "create or update the queue's tables (River's and Exhibit's); --sql prints them instead",
			Flags: append(commonFlags(), queueFlag(), &cli.BoolFlag{Name: "sql", Usage: "print the SQL for a database administrator instead of running it"}),
			Action: withQueue(e, func(c *cli.Context, q *worker.Queue, _ *Config) error {
				if c.Bool("sql") {
					s, err := q.MigrationSQL()
					if err != nil {
						return err
					}
					fmt.Fprint(e.stdout, s)
					return nil
				}
				if err := q.Migrate(c.Context); err != nil {
					return withCode(ExitIO, err, "check that the database user may create tables")
				}
				fmt.Fprintf(e.stderr, "queue %s is ready\n", q.Where())
				return nil
			}),
		}},
		Action: func(c *cli.Context) error {
			home, cfg, err := e.config(c)
			if err != nil {
				return err
			}
			return runWorker(c, e, home, cfg)
		},
	}
}

// openQueue opens the queue of --queue, EXHIBIT_QUEUE or the configuration.
func openQueue(c *cli.Context, home string, cfg *Config) (*worker.Queue, error) {
	dsn := cfg.Worker.Queue
	if c.IsSet("queue") {
		dsn = c.String("queue")
	}
	q, err := worker.OpenQueue(c.Context, dsn, home)
	var down *worker.UnreachableError
	switch {
	case errors.As(err, &down):
		return nil, withCode(ExitIO, err, "check that the database runs and this user may reach it (--queue, EXHIBIT_QUEUE, worker: queue:)")
	case err != nil:
		return nil, usageErr("%v", err)
	}
	return q, nil
}

func runWorker(c *cli.Context, e *env, home string, cfg *Config) error {
	if err := worker.Check(cfg.Jobs.List); err != nil {
		return usageErr("configuration jobs: %v", err)
	}
	if len(cfg.Jobs.List) == 0 {
		return usageErr("no jobs in %s: declare them under jobs: (see docs/operations.md, \"The worker\")", configName)
	}
	var handler slog.Handler
	switch c.String("log-format") {
	case "text":
		handler = slog.NewTextHandler(e.stderr, nil)
	case "json":
		handler = slog.NewJSONHandler(e.stderr, nil)
	default:
		return usageErr("--log-format %q: give text or json", c.String("log-format"))
	}
	log := slog.New(handler)
	e.creds.noPrompt = true
	q, err := openQueue(c, home, cfg)
	if err != nil {
		return err
	}
	defer q.Close()
	if err := q.Migrate(c.Context); err != nil {
		return withCode(ExitIO, err, "run exhibit worker migrate (or have the database administrator run its --sql)")
	}
	a, opts, err := openArchiving(c.Context, e, home, cfg, "")
	if err != nil {
		return err
	}
	if err := a.OpenKeys(c.Context); err != nil {
		return err
	}
	inbox := worker.S3{Endpoint: cfg.S3.Endpoint, Region: cfg.S3.Region, InsecureHTTP: cfg.S3.InsecureHTTP,
		AccessKey: cfg.S3.AccessKey, SecretKey: cfg.S3.SecretKey}
	if k, ok := os.LookupEnv("EXHIBIT_INBOX_ACCESS_KEY"); ok {
		inbox.AccessKey, inbox.SecretKey = k, os.Getenv("EXHIBIT_INBOX_SECRET_KEY")
	}
	opts.Jobs = cfg.Parallel
	o := worker.Options{Queue: q, Jobs: cfg.Jobs.List, Archive: a, Ingest: opts, Logger: log, S3: inbox,
		Web:         web.Options{Software: "exhibit " + version()},
		Concurrency: cfg.Worker.Concurrency, Drain: time.Duration(cfg.Worker.Drain), RescueAfter: time.Duration(cfg.Worker.RescueAfter)}
	for _, j := range cfg.Jobs.List {
		if j.Kind == worker.KindSTAC {
			if o.Downloads, err = downloadDir(); err != nil {
				return err
			}
			break
		}
	}
	if c.IsSet("concurrency") {
		o.Concurrency = c.Int("concurrency")
	}
	if c.IsSet("drain") {
		o.Drain = c.Duration("drain")
	}
	if o.Concurrency <= 0 {
		o.Concurrency = worker.DefaultConcurrency
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// Main's soft limit is one ingest's; each job at once is one.
		debug.SetMemoryLimit(int64(o.Concurrency+1) * 64 << 20)
	}
	w, err := worker.New(o)
	if err != nil {
		return usageErr("%v", err)
	}
	listen := cfg.Worker.Listen
	if c.IsSet("listen") {
		listen = c.String("listen")
	}
	switch listen {
	case "":
		listen = "127.0.0.1:9464"
	case "off":
		listen = ""
	}
	// The first signal drains (the command's context is cancelled by it
	// too); a second cancels the running jobs.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	drain, cancel := make(chan struct{}), make(chan struct{})
	go func() {
		select {
		case <-sigs:
		case <-c.Context.Done():
			// Cancelled by Main's handler of the same first signal, which
			// reaches sigs too: that copy is not the second signal.
			select {
			case <-sigs:
			case <-time.After(200 * time.Millisecond):
			}
		}
		close(drain)
		<-sigs
		close(cancel)
	}()
	if err := w.Run(context.WithoutCancel(c.Context), listen, drain, cancel); err != nil {
		return withCode(ExitIO, err, "")
	}
	return nil
}

func jobsCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "jobs",
		Usage: "the scheduled jobs: list them, run one now, or read their history",
		Subcommands: []*cli.Command{{
			Name:  "ls",
			Usage: "list the jobs config.yaml declares",
			Flags: commonFlags(),
			Action: func(c *cli.Context) error {
				_, cfg, err := e.config(c)
				if err != nil {
					return err
				}
				if err := worker.Check(cfg.Jobs.List); err != nil {
					return usageErr("configuration jobs: %v", err)
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tKIND\tSCHEDULE\tCASE\tTIMEOUT")
				for _, j := range cfg.Jobs.List {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", j.Name, j.Kind, printable(j.Schedule), printable(j.Case), time.Duration(j.Timeout))
				}
				return tw.Flush()
			},
		}, {
			Name:      "run",
			Usage:     "queue one run of a job now (a running worker takes it)",
			ArgsUsage: "NAME",
			Flags:     append(commonFlags(), queueFlag(), &cli.BoolFlag{Name: "full", Usage: "a fixity job: check every item, not a sample"}),
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return usageErr("jobs run: give one job name")
				}
				return withQueue(e, func(c *cli.Context, q *worker.Queue, cfg *Config) error {
					if err := q.Migrate(c.Context); err != nil {
						return withCode(ExitIO, err, "")
					}
					id, err := worker.Enqueue(c.Context, q, cfg.Jobs.List, c.Args().First(), c.Bool("full"))
					if err != nil {
						return usageErr("%v", err)
					}
					fmt.Fprintf(e.stderr, "queued run %d of %s\n", id, c.Args().First())
					return nil
				})(c)
			},
		}, {
			Name:      "history",
			Usage:     "the runs of every job, or of one, newest first",
			ArgsUsage: "[NAME]",
			Flags:     append(commonFlags(), queueFlag(), &cli.IntFlag{Name: "limit", Value: 50, Usage: "runs shown"}),
			Action: withQueue(e, func(c *cli.Context, q *worker.Queue, _ *Config) error {
				runs, err := worker.History(c.Context, q, c.Args().First(), c.Int("limit"))
				if err != nil {
					return withCode(ExitIO, err, "run exhibit worker migrate first")
				}
				if e.json {
					if runs == nil {
						runs = []worker.Run{}
					}
					return writeJSON(e.stdout, schemaJobsHistory, map[string]any{"runs": runs})
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "STARTED\tJOB\tKIND\tOUTCOME\tITEMS\tFAILURES\tSECONDS\tWORKER\tDETAIL")
				for _, r := range runs {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%.1f\t%s\t%s\n", r.Started.Format(time.RFC3339), r.Job, r.Kind, r.Outcome,
						r.Items, r.Failures, r.Ended.Sub(r.Started).Seconds(), printable(r.Worker), printable(r.Detail))
				}
				return tw.Flush()
			}),
		}},
	}
}

// withQueue is the action of a command that reads the configuration and
// opens the queue.
func withQueue(e *env, fn func(c *cli.Context, q *worker.Queue, cfg *Config) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		home, cfg, err := e.config(c)
		if err != nil {
			return err
		}
		q, err := openQueue(c, home, cfg)
		if err != nil {
			return err
		}
		defer q.Close()
		return fn(c, q, cfg)
	}
}
