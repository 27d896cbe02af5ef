package worker

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// Queue is the database the workers share: River's job tables and
// Exhibit's own (the files a folder job took, the runs of each job, when
// each item was last audited). SQLite in one file is the default, for one
// machine (several processes may share it); PostgreSQL is for many.
type Queue struct {
	// DB reaches Exhibit's tables (and, on SQLite, River's too).
	DB       *sql.DB
	postgres bool
	pool     *pgxpool.Pool
	// where names the database without credentials, for messages.
	where string
}

// DefaultQueueFile is the SQLite queue's name in the home folder.
const DefaultQueueFile = "queue.db"

// OpenQueue opens the queue: dsn "" is the SQLite file queue.db in home,
// "sqlite:PATH" another SQLite file, "postgres://…" or "postgresql://…" a
// PostgreSQL database. It does not migrate (see Migrate).
func OpenQueue(ctx context.Context, dsn, home string) (*Queue, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://"):
		cfg, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			return nil, fmt.Errorf("queue: %v", redact(err.Error(), dsn))
		}
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("queue: %v", redact(err.Error(), dsn))
		}
		where := "postgres://" + cfg.ConnConfig.Host + ":" + strconv.Itoa(int(cfg.ConnConfig.Port)) + "/" + cfg.ConnConfig.Database
		q := &Queue{DB: stdlib.OpenDBFromPool(pool), postgres: true, pool: pool, where: where}
		return q, q.ping(ctx)
	case dsn == "" || strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			path = filepath.Join(home, DefaultQueueFile)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("queue: %v", err)
		}
		// One connection: SQLite has one writer, and River's driver wants
		// it so; WAL lets other processes read while one writes, and the
		// busy timeout makes them wait for the write lock, not fail.
		db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+
			"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)")
		if err != nil {
			return nil, fmt.Errorf("queue: %v", err)
		}
		db.SetMaxOpenConns(1)
		q := &Queue{DB: db, where: path}
		return q, q.ping(ctx)
	}
	// Not echoed: a key=value DSN would show its password.
	return nil, fmt.Errorf("queue: give a postgres:// URL or sqlite:PATH (or nothing: %s in the home folder)", DefaultQueueFile)
}

// redact removes a URL's password from s.
func redact(s, dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			s = strings.ReplaceAll(s, p, "xxxxx")
		}
	}
	return s
}

func (q *Queue) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := q.DB.PingContext(ctx); err != nil {
		q.Close()
		return &UnreachableError{Where: q.where, Err: err}
	}
	return nil
}

// Ping says whether the database answers (for /readyz).
func (q *Queue) Ping(ctx context.Context) error { return q.DB.PingContext(ctx) }

// UnreachableError is a queue database that does not answer.
type UnreachableError struct {
	Where string
	Err   error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("queue %s does not answer: %v", e.Where, e.Err)
}
func (e *UnreachableError) Unwrap() error { return e.Err }

// Where names the queue's database, without credentials.
func (q *Queue) Where() string { return q.where }

// Close closes the connections.
func (q *Queue) Close() error {
	err := q.DB.Close()
	if q.pool != nil {
		q.pool.Close()
	}
	return err
}

// schema is Exhibit's own tables, after River's. Times are Unix
// nanoseconds.
func (q *Queue) schema() []string {
	id := "id INTEGER PRIMARY KEY"
	if q.postgres {
		id = "id BIGSERIAL PRIMARY KEY"
	}
	return []string{
		`CREATE TABLE IF NOT EXISTS exhibit_file (` + id + `,
	job TEXT NOT NULL, path TEXT NOT NULL, size BIGINT NOT NULL, mtime BIGINT NOT NULL, version TEXT NOT NULL,
	state TEXT NOT NULL, batch TEXT, item TEXT, detail TEXT,
	seen_at BIGINT NOT NULL, done_at BIGINT,
	UNIQUE (job, path, size, mtime, version))`,
		`CREATE INDEX IF NOT EXISTS exhibit_file_state ON exhibit_file (job, state)`,
		`CREATE INDEX IF NOT EXISTS exhibit_file_batch ON exhibit_file (batch)`,
		`CREATE TABLE IF NOT EXISTS exhibit_run (` + id + `,
	job TEXT NOT NULL, kind TEXT NOT NULL, attempt INTEGER NOT NULL, worker TEXT NOT NULL,
	started_at BIGINT NOT NULL, ended_at BIGINT NOT NULL, outcome TEXT NOT NULL,
	items INTEGER NOT NULL, bytes BIGINT NOT NULL, failures INTEGER NOT NULL, detail TEXT NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS exhibit_run_job ON exhibit_run (job, started_at)`,
		`CREATE TABLE IF NOT EXISTS exhibit_fixity (item TEXT PRIMARY KEY, checked_at BIGINT NOT NULL, result TEXT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS exhibit_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
	}
}

// Migrate brings River's tables and Exhibit's to this version. It is safe
// to run again, and from several processes (each step is idempotent).
func (q *Queue) Migrate(ctx context.Context) error {
	var err error
	if q.postgres {
		err = migrateRiver(ctx, riverpgxv5.New(q.pool))
	} else {
		err = migrateRiver(ctx, riversqlite.New(q.DB))
	}
	if err != nil {
		return fmt.Errorf("queue %s: River's tables: %w", q.where, err)
	}
	for _, stmt := range q.schema() {
		if _, err := q.DB.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("queue %s: Exhibit's tables: %w", q.where, err)
		}
	}
	return nil
}

// MigrationSQL is the SQL Migrate runs on an empty database, for a
// database administrator to read or run.
func (q *Queue) MigrationSQL() (string, error) {
	var b strings.Builder
	var all []rivermigrate.Migration
	if q.postgres {
		m, err := rivermigrate.New(riverpgxv5.New(q.pool), nil)
		if err != nil {
			return "", err
		}
		all = m.AllVersions()
	} else {
		m, err := rivermigrate.New(riversqlite.New(q.DB), nil)
		if err != nil {
			return "", err
		}
		all = m.AllVersions()
	}
	for _, m := range all {
		fmt.Fprintf(&b, "-- River migration %03d %s\n%s\n", m.Version, m.Name, strings.TrimSpace(m.SQLUp))
	}
	b.WriteString("-- Exhibit's tables\n")
	for _, stmt := range q.schema() {
		b.WriteString(stmt + ";\n")
	}
	return b.String(), nil
}

func migrateRiver[TTx any](ctx context.Context, d riverdriver.Driver[TTx]) error {
	m, err := rivermigrate.New(d, nil)
	if err != nil {
		return err
	}
	_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	return err
}

// rebind turns ? placeholders into PostgreSQL's $1, $2, ….
func (q *Queue) rebind(query string) string {
	if !q.postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (q *Queue) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return q.DB.ExecContext(ctx, q.rebind(query), args...)
}

func (q *Queue) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return q.DB.QueryContext(ctx, q.rebind(query), args...)
}

func (q *Queue) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return q.DB.QueryRowContext(ctx, q.rebind(query), args...)
}

// state reads a value of exhibit_state ("" when absent).
func (q *Queue) state(ctx context.Context, key string) (string, error) {
	var v string
	err := q.queryRow(ctx, `SELECT value FROM exhibit_state WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

func (q *Queue) setState(ctx context.Context, key, value string) error {
	_, err := q.exec(ctx, `INSERT INTO exhibit_state (key, value) VALUES (?, ?)
	ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}
