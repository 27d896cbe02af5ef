// Package worker runs the scheduled jobs of config.yaml (folder and
// S3-inbox ingests, saved STAC searches, URL captures, fixity audits) on a
// River queue: SQLite in the home folder for one machine, PostgreSQL for
// many workers sharing the work. Each job runs when a worker starts (once
// per period) and then on its schedule, kept by the elected leader, each
// scheduled run named by its minute, so that a restart neither skips nor
// doubles a run. Every run is recorded in the queue (exhibit jobs
// history); what it archived or audited is on the custody log.
//
// A worker never prompts: its keys come from a KMS, a passphrase file or
// the environment. It logs through slog without metadata values, file
// names or secrets (item IDs and counts only), and serves /healthz,
// /readyz and Prometheus /metrics.
package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"github.com/openexhibit/exhibit/acquire/web"
	"github.com/openexhibit/exhibit/archive"
)

// Options configure a worker.
type Options struct {
	Queue *Queue
	Jobs  []Job
	// Archive is where items go and what fixity audits; Ingest holds the
	// settings of every ingest (readers, encryption); each job sets the
	// case.
	Archive *archive.Archive
	Ingest  archive.IngestOptions
	// S3 are the defaults of s3-inbox jobs.
	S3 S3
	// Downloads is where stac jobs download scenes (kept across restarts,
	// so that a cut download resumes; default: a temporary folder per
	// scene).
	Downloads string
	// Web configures the captures of urls jobs (browser, trusted roots).
	Web    web.Options
	Logger *slog.Logger
	// Concurrency is how many jobs this worker runs at once (default
	// DefaultConcurrency).
	Concurrency int
	// Drain is how long a drain waits for running jobs before it cancels
	// them (default 1 minute); a cancelled job is run again.
	Drain time.Duration
	// RescueAfter: a job still running after this long, whose worker is
	// gone, is run again by another (default: the longest job timeout plus
	// 10 minutes).
	RescueAfter time.Duration
	// ID names this worker in the queue and the history (default: the
	// host name and process ID).
	ID string
}

// DefaultConcurrency is how many jobs a worker runs at once: on 2 cores,
// four batches of a folder job keep both busy where one batch's start and
// end leave them idle (docs/performance.md).
const DefaultConcurrency = 4

// Worker runs the jobs.
type Worker struct {
	o        Options
	client   engine
	metrics  *Metrics
	byName   map[string]Job
	draining atomic.Bool
	// insertWith runs an UPDATE of Exhibit's tables and, when it changed
	// rows, inserts a queue job, in one transaction.
	insertWith func(ctx context.Context, update string, uargs []any, args river.JobArgs, opts *river.InsertOpts) (bool, error)
}

// engine is the River client, whatever its driver.
type engine interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	Stopped() <-chan struct{}
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
}

// New makes a worker. The queue must be migrated.
func New(o Options) (*Worker, error) {
	if err := Check(o.Jobs); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Drain <= 0 {
		o.Drain = time.Minute
	}
	if o.ID == "" {
		host, _ := os.Hostname()
		o.ID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	w := &Worker{o: o, metrics: NewMetrics(), byName: map[string]Job{}}
	// River rescues all kinds after one delay: the ingest jobs' longest
	// timeout sets it, so that a dead worker's batch runs again soon. A
	// fixity run longer than that may run twice at once, which repeats an
	// audit and harms nothing.
	longest, longestFixity := time.Duration(0), time.Duration(0)
	for _, j := range o.Jobs {
		w.byName[j.Name] = j
		if j.Kind == KindFixity {
			longestFixity = max(longestFixity, time.Duration(j.Timeout))
		} else {
			longest = max(longest, time.Duration(j.Timeout))
		}
	}
	if longest == 0 {
		longest = longestFixity
	}
	switch {
	case o.RescueAfter <= 0:
		w.o.RescueAfter = longest + 10*time.Minute
	case o.RescueAfter <= longest:
		// A job still running within its timeout would be run twice.
		return nil, fmt.Errorf("worker: rescue_after %s must be longer than every job's timeout (the longest is %s)", o.RescueAfter, longest)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &runner[scanArgs]{w: w, step: "scan", work: w.scan})
	river.AddWorker(workers, &runner[batchArgs]{w: w, step: "batch", work: w.batch})
	river.AddWorker(workers, &runner[fixityArgs]{w: w, work: func(ctx context.Context, j *river.Job[fixityArgs], job Job, r *runResult) error {
		return w.fixity(ctx, job, j.Args.Full, r)
	}})
	cfg := &river.Config{
		ID:                   o.ID,
		Logger:               o.Logger.With("component", "river"),
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: o.Concurrency}},
		Workers:              workers,
		PeriodicJobs:         w.periodic(),
		JobTimeout:           -1, // each kind's own (Timeout)
		MaxAttempts:          defaultAttempts,
		RescueStuckJobsAfter: w.o.RescueAfter,
		SoftStopTimeout:      w.o.Drain,
		// Completed jobs stay a week for River's own bookkeeping; the
		// history of runs is Exhibit's table, the record the custody log.
		CompletedJobRetentionPeriod: 7 * 24 * time.Hour,
		FetchCooldown:               50 * time.Millisecond,
	}
	if !o.Queue.postgres {
		// SQLite has no notifications: a worker learns of new jobs (a
		// scan's batches) by polling, which is cheap on a local file.
		cfg.FetchPollInterval = 100 * time.Millisecond
	}
	if o.Queue.postgres {
		c, err := river.NewClient(riverpgxv5.New(o.Queue.pool), cfg)
		if err != nil {
			return nil, fmt.Errorf("worker: %w", err)
		}
		w.client = c
		w.insertWith = func(ctx context.Context, update string, uargs []any, args river.JobArgs, opts *river.InsertOpts) (bool, error) {
			tx, err := o.Queue.pool.Begin(ctx)
			if err != nil {
				return false, err
			}
			defer tx.Rollback(context.WithoutCancel(ctx))
			tag, err := tx.Exec(ctx, o.Queue.rebind(update), uargs...)
			if err != nil || tag.RowsAffected() == 0 {
				return false, err
			}
			if _, err := c.InsertTx(ctx, tx, args, opts); err != nil {
				return false, err
			}
			return true, tx.Commit(ctx)
		}
		return w, nil
	}
	c, err := river.NewClient(riversqlite.New(o.Queue.DB), cfg)
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	w.client = c
	w.insertWith = func(ctx context.Context, update string, uargs []any, args river.JobArgs, opts *river.InsertOpts) (bool, error) {
		tx, err := o.Queue.DB.BeginTx(ctx, nil)
		if err != nil {
			return false, err
		}
		defer tx.Rollback()
		res, err := tx.ExecContext(ctx, update, uargs...)
		if err != nil {
			return false, err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return false, err
		}
		if _, err := c.InsertTx(ctx, tx, args, opts); err != nil {
			return false, err
		}
		return true, tx.Commit()
	}
	return w, nil
}

// Metrics are the worker's Prometheus metrics.
func (w *Worker) Metrics() *Metrics { return w.metrics }

// periodic is one River periodic job per declared job: run on start, and
// unique by its arguments within its period.
func (w *Worker) periodic() []*river.PeriodicJob {
	var out []*river.PeriodicJob
	for _, j := range w.o.Jobs {
		sched, _ := ParseSchedule(j.Schedule) // checked by Check
		out = append(out, river.NewPeriodicJob(sched, func() (river.JobArgs, *river.InsertOpts) {
			// Each scheduled run names its minute: unique, so that it runs
			// once whichever worker leads.
			args, opts := argsFor(j, false, time.Now().UTC().Truncate(time.Minute).Format(time.RFC3339))
			opts.UniqueOpts = river.UniqueOpts{ByArgs: true}
			return args, opts
		}, &river.PeriodicJobOpts{ID: j.Name}))
	}
	return out
}

// startArgs is j's run when a worker starts: one per period however many
// workers start in it (their restarts included).
func (w *Worker) startArgs(j Job) (river.JobArgs, *river.InsertOpts) {
	sched, _ := ParseSchedule(j.Schedule)
	args, opts := argsFor(j, false, "start")
	opts.UniqueOpts = river.UniqueOpts{ByArgs: true, ByPeriod: sched.Period}
	return args, opts
}

// argsFor is the queue job that runs j once; slot names a scheduled run
// ("" for one asked for by hand).
func argsFor(j Job, full bool, slot string) (river.JobArgs, *river.InsertOpts) {
	opts := &river.InsertOpts{MaxAttempts: j.Attempts}
	switch j.Kind {
	case KindFixity:
		return fixityArgs{Job: j.Name, Full: full, Slot: slot}, opts
	default:
		return scanArgs{Job: j.Name, Slot: slot}, opts
	}
}

// Run runs the jobs until drain is closed: it then stops taking jobs and
// waits for those running, up to Options.Drain, after which (or when
// cancel is closed) it cancels them; a cancelled job stays in the queue
// and runs again. listen, when set, is where /healthz, /readyz and
// /metrics are served (127.0.0.1:PORT unless the operator says otherwise).
func (w *Worker) Run(ctx context.Context, listen string, drain, cancel <-chan struct{}) error {
	var srv *http.Server
	if listen != "" {
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return fmt.Errorf("worker: listen on %s: %w", listen, err)
		}
		srv = &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		w.o.Logger.Info("serving health and metrics", "address", ln.Addr().String())
	}
	if err := w.client.Start(ctx); err != nil {
		return fmt.Errorf("worker: start: %w", err)
	}
	// Each job runs when a worker starts (once per period, whichever
	// workers start in it), then on its schedule.
	for _, j := range w.o.Jobs {
		args, opts := w.startArgs(j)
		if _, err := w.client.Insert(ctx, args, opts); err != nil {
			w.o.Logger.Warn("run on start not queued; the scheduler will", "job", j.Name, "error", err.Error())
		}
	}
	w.o.Logger.Info("worker started", "worker", w.o.ID, "jobs", len(w.o.Jobs), "queue", w.o.Queue.Where())
	select {
	case <-drain:
	case <-cancel:
	case <-ctx.Done():
	case <-w.client.Stopped():
		return errors.New("worker: the queue client stopped")
	}
	w.draining.Store(true)
	w.metrics.draining.Set(1)
	w.o.Logger.Info("draining: no new jobs; waiting for running ones", "timeout", w.o.Drain.String())
	// River cancels running jobs after SoftStopTimeout; Stop's own
	// deadline must be later, or it returns before River has released
	// them to the queue.
	stopCtx, stop := context.WithTimeout(context.WithoutCancel(ctx), w.o.Drain+30*time.Second)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- w.client.Stop(stopCtx) }()
	select {
	case err := <-done:
		w.o.Logger.Info("worker stopped")
		return err
	case <-cancel:
		w.o.Logger.Warn("second signal: cancelling running jobs (they run again later)")
		return w.client.StopAndCancel(stopCtx)
	}
}

// Handler serves /healthz (the process answers), /readyz (503 while
// draining or when the queue does not answer) and /metrics.
func (w *Worker) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) { fmt.Fprintln(rw, "ok") })
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, r *http.Request) {
		if w.draining.Load() {
			http.Error(rw, "draining", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := w.o.Queue.Ping(ctx); err != nil {
			http.Error(rw, "queue unreachable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(rw, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(w.metrics.reg, promhttp.HandlerOpts{}))
	return mux
}

// Enqueue puts one run of job name in the queue now, for whichever worker
// takes it (exhibit jobs run); full asks a fixity job for a full pass.
func Enqueue(ctx context.Context, q *Queue, jobs []Job, name string, full bool) (int64, error) {
	if err := Check(jobs); err != nil {
		return 0, err
	}
	for _, j := range jobs {
		if j.Name != name {
			continue
		}
		args, opts := argsFor(j, full, "")
		var res *rivertype.JobInsertResult
		var err error
		if q.postgres {
			res, err = insertOnly(ctx, riverpgxv5.New(q.pool), args, opts)
		} else {
			res, err = insertOnly(ctx, riversqlite.New(q.DB), args, opts)
		}
		if err != nil {
			return 0, err
		}
		return res.Job.ID, nil
	}
	return 0, fmt.Errorf("no job named %q in the configuration", name)
}

func insertOnly[TTx any](ctx context.Context, d riverdriver.Driver[TTx], args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	c, err := river.NewClient(d, &river.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	return c.Insert(ctx, args, opts)
}

// Metrics are what /metrics serves.
type Metrics struct {
	reg       *prometheus.Registry
	jobs      *prometheus.CounterVec
	durations *prometheus.HistogramVec
	waits     *prometheus.HistogramVec
	items     *prometheus.CounterVec
	bytes     prometheus.Counter
	fixity    prometheus.Counter
	draining  prometheus.Gauge
}

// NewMetrics registers the metrics on a registry of their own.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.jobs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "exhibit_worker_jobs_total",
		Help: "Job runs by kind and outcome (ok, failed, cancelled)."}, []string{"kind", "outcome"})
	m.durations = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "exhibit_worker_job_duration_seconds",
		Help: "How long job runs took, by kind.", Buckets: prometheus.ExponentialBuckets(0.05, 4, 10)}, []string{"kind"})
	m.waits = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "exhibit_worker_queue_wait_seconds",
		Help: "How long jobs waited in the queue past their scheduled time, by kind.", Buckets: prometheus.ExponentialBuckets(0.01, 4, 10)}, []string{"kind"})
	m.items = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "exhibit_worker_items_total",
		Help: "Files (or objects) a folder or s3-inbox job ingested, by outcome (archived, exists, skipped, failed, changed, missing)."}, []string{"outcome"})
	m.bytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "exhibit_worker_bytes_total", Help: "Bytes of the files archived."})
	m.fixity = prometheus.NewCounter(prometheus.CounterOpts{Name: "exhibit_worker_fixity_failures_total",
		Help: "Items a fixity audit found not intact (alert on any increase)."})
	m.draining = prometheus.NewGauge(prometheus.GaugeOpts{Name: "exhibit_worker_draining", Help: "1 while the worker drains."})
	m.reg.MustRegister(m.jobs, m.durations, m.waits, m.items, m.bytes, m.fixity, m.draining,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	m.fixity.Add(0)
	return m
}

// run wraps one job run: its metrics, its log lines and its row in the
// history.
func (w *Worker) run(ctx context.Context, row *rivertype.JobRow, name, step string, work func(ctx context.Context, j Job, r *runResult) error) error {
	j, ok := w.byName[name]
	if !ok {
		// Declared once, removed from the configuration since: nothing to do.
		// Not in this worker's configuration: another worker's, during a
		// rolling change of the configuration; a retry may find a worker
		// that knows it, and a batch's files are dealt again otherwise.
		w.o.Logger.Warn("job not in this worker's configuration; left for a retry", "job", name, "step", step)
		return fmt.Errorf("job %q is not in this worker's configuration", name)
	}
	kind := j.Kind // folder-scan, folder-batch, s3-inbox-scan, …, fixity
	if step != "" {
		kind += "-" + step
	}
	start := time.Now()
	if row.AttemptedAt != nil {
		w.metrics.waits.WithLabelValues(kind).Observe(max(row.AttemptedAt.Sub(row.ScheduledAt), 0).Seconds())
	}
	log := w.o.Logger.With("job", name, "kind", kind, "run", row.ID, "attempt", row.Attempt)
	log.Info("run started")
	r := &runResult{}
	err := work(ctx, j, r)
	outcome := "ok"
	switch {
	case err != nil && ctx.Err() != nil:
		outcome = "cancelled"
	case err != nil:
		outcome = "failed"
	}
	w.metrics.jobs.WithLabelValues(kind, outcome).Inc()
	w.metrics.durations.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	detail := r.detail
	if err != nil {
		detail = err.Error()
	}
	if herr := w.record(context.WithoutCancel(ctx), name, kind, row.Attempt, start, outcome, r, detail); herr != nil {
		log.Error("history not written", "error", herr.Error())
	}
	attrs := []any{"outcome", outcome, "items", r.items, "bytes", r.bytes, "failures", r.failures, "seconds", time.Since(start).Seconds()}
	switch {
	case err != nil:
		log.Error("run failed", append(attrs, "error", err.Error())...)
	case r.failures > 0:
		log.Error("run finished with failures", attrs...)
	default:
		log.Info("run finished", attrs...)
	}
	return err
}

// jobArgs are the queue arguments of a run of a declared job.
type jobArgs interface {
	river.JobArgs
	job() string
}

// runner is the River worker of one step of the declared jobs: a run
// times out after its job's timeout, and goes through Worker.run (metrics,
// log lines, history).
type runner[T jobArgs] struct {
	river.WorkerDefaults[T]
	w    *Worker
	step string // "scan", "batch", or "" for a job of one step
	work func(ctx context.Context, j *river.Job[T], job Job, r *runResult) error
}

func (x *runner[T]) Timeout(j *river.Job[T]) time.Duration { return x.w.timeout(j.Args.job()) }

func (x *runner[T]) Work(ctx context.Context, j *river.Job[T]) error {
	return x.w.run(ctx, j.JobRow, j.Args.job(), x.step, func(ctx context.Context, job Job, r *runResult) error {
		return x.work(ctx, j, job, r)
	})
}

// runResult is what a run did, for the history.
type runResult struct {
	items, failures int
	bytes           int64
	detail          string
}

func (w *Worker) record(ctx context.Context, name, kind string, attempt int, start time.Time, outcome string, r *runResult, detail string) error {
	_, err := w.o.Queue.exec(ctx, `INSERT INTO exhibit_run (job, kind, attempt, worker, started_at, ended_at, outcome, items, bytes, failures, detail)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, name, kind, attempt, w.o.ID, start.UnixNano(), time.Now().UnixNano(), outcome, r.items, r.bytes, r.failures, detail)
	return err
}

func randomKey() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}
