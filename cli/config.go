package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/openexhibit/exhibit/archive"
	"github.com/openexhibit/exhibit/internal/files"
	"github.com/openexhibit/exhibit/worker"
	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"
)

// Config is the file $EXHIBIT_HOME/config.yaml. Every field can be overridden
// by an EXHIBIT_* environment variable, which a flag overrides in turn.
type Config struct {
	// Archive is a folder path or s3://bucket/prefix.
	Archive string `yaml:"archive"`
	// Key is the private key file (relative to the home folder) or a KMS URI.
	Key string `yaml:"key"`
	// Trust is the trust file (relative to the home folder).
	Trust    string `yaml:"trust"`
	Operator string `yaml:"operator,omitempty"`
	// Organization and Contact name the sender of disclosure packages
	// (exhibit export; bag-info.txt's Source-Organization, Contact-Name).
	Organization string `yaml:"organization,omitempty"`
	Contact      string `yaml:"contact,omitempty"`
	S3           S3     `yaml:"s3,omitempty"`
	// Retention applies S3 Object Lock to every object ingested.
	Retention *RetentionConfig `yaml:"retention,omitempty"`
	LegalHold bool             `yaml:"legal_hold,omitempty"`
	// Parallel is how many files ingest reads at once (0: number of CPUs).
	Parallel int `yaml:"parallel,omitempty"`
	// Jobs are the scheduled jobs exhibit worker runs (docs/operations.md).
	Jobs JobsSetting `yaml:"jobs,omitempty"`
	// Worker configures exhibit worker.
	Worker WorkerConfig `yaml:"worker,omitempty"`
	// TSA lists the RFC 3161 timestamp authorities (timestamp endpoints)
	// that timestamp every bundle; their chains are in the trust file.
	TSA []string `yaml:"tsa,omitempty"`
	// EncryptTo lists age recipients every original (and its metadata
	// document) is encrypted to before it is written.
	EncryptTo []string `yaml:"encrypt_to,omitempty"`
	// Strip says what stripped working copies keep (default: strip.Default).
	Strip *StripConfig `yaml:"strip,omitempty"`
}

// JobsSetting is the jobs: key: the list of scheduled jobs. Releases
// before the worker wrote a number there, which parallel: now holds; it is
// still read as such.
type JobsSetting struct {
	List     []worker.Job
	parallel int
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (j *JobsSetting) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return n.Decode(&j.parallel)
	}
	// Strictly, as the rest of the file: a misspelt setting is an error,
	// not a job without it.
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	return dec.Decode(&j.List)
}

// MarshalYAML implements yaml.Marshaler.
func (j JobsSetting) MarshalYAML() (any, error) { return j.List, nil }

// IsZero makes omitempty leave an empty list out.
func (j JobsSetting) IsZero() bool { return len(j.List) == 0 }

// WorkerConfig configures exhibit worker; its flags override it.
type WorkerConfig struct {
	// Queue is the queue database: empty for SQLite in the home folder,
	// sqlite:PATH, or a postgres:// URL (its password is better given in
	// EXHIBIT_QUEUE or a PGPASSFILE than here).
	Queue string `yaml:"queue,omitempty"`
	// Listen is where /healthz, /readyz and /metrics are served
	// (default 127.0.0.1:9464; "off" serves none).
	Listen string `yaml:"listen,omitempty"`
	// Concurrency is how many jobs run at once (default 4).
	Concurrency int `yaml:"concurrency,omitempty"`
	// Drain is how long a drain waits for running jobs (default 1m).
	Drain worker.Duration `yaml:"drain,omitempty"`
	// RescueAfter: a job whose worker is gone runs again after this long
	// (default: the longest job timeout plus 10 minutes).
	RescueAfter worker.Duration `yaml:"rescue_after,omitempty"`
}

// StripConfig is a strip profile: its name, recorded with each working
// copy, and the metadata groups it keeps (see docs/stripping.md).
type StripConfig struct {
	Profile string   `yaml:"profile"`
	Keep    []string `yaml:"keep"`
}

// S3 configures an S3-compatible endpoint.
type S3 struct {
	Endpoint string `yaml:"endpoint,omitempty"` // host:port
	Region   string `yaml:"region,omitempty"`
	// InsecureHTTP sends requests (and credentials) without TLS. Allowed for
	// loopback endpoints without it.
	InsecureHTTP bool   `yaml:"insecure_http,omitempty"`
	AccessKey    string `yaml:"access_key,omitempty"`
	SecretKey    string `yaml:"secret_key,omitempty"`
}

// RetentionConfig is an Object Lock retention: mode and period in days.
type RetentionConfig = archive.Retention

// splitList splits a comma-separated setting, dropping empty elements.
func splitList(v string) []string {
	var out []string
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

const configName = "config.yaml"

// env is one setting's environment variable.
type envSetting struct {
	name string
	set  func(c *Config, v string) error
}

var envSettings = []envSetting{
	{"EXHIBIT_ARCHIVE", func(c *Config, v string) error { c.Archive = v; return nil }},
	{"EXHIBIT_KEY", func(c *Config, v string) error { c.Key = v; return nil }},
	{"EXHIBIT_TRUST", func(c *Config, v string) error { c.Trust = v; return nil }},
	{"EXHIBIT_OPERATOR", func(c *Config, v string) error { c.Operator = v; return nil }},
	{"EXHIBIT_ORGANIZATION", func(c *Config, v string) error { c.Organization = v; return nil }},
	{"EXHIBIT_CONTACT", func(c *Config, v string) error { c.Contact = v; return nil }},
	{"EXHIBIT_ENCRYPT_TO", func(c *Config, v string) error { c.EncryptTo = splitList(v); return nil }},
	{"EXHIBIT_S3_ENDPOINT", func(c *Config, v string) error { c.S3.Endpoint = v; return nil }},
	{"EXHIBIT_S3_REGION", func(c *Config, v string) error { c.S3.Region = v; return nil }},
	{"EXHIBIT_S3_ACCESS_KEY", func(c *Config, v string) error { c.S3.AccessKey = v; return nil }},
	{"EXHIBIT_S3_SECRET_KEY", func(c *Config, v string) error { c.S3.SecretKey = v; return nil }},
	{"EXHIBIT_TSA", func(c *Config, v string) error { c.TSA = splitList(v); return nil }}, // empty: none
	{"EXHIBIT_QUEUE", func(c *Config, v string) error { c.Worker.Queue = v; return nil }},
	{"EXHIBIT_S3_INSECURE_HTTP", func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		c.S3.InsecureHTTP = b
		return err
	}},
}

// homeDir returns the configuration folder: --home, EXHIBIT_HOME, or the
// user's configuration folder + /exhibit.
func homeDir(c *cli.Context) (string, error) {
	if h := c.String("home"); h != "" {
		return filepath.Abs(h)
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", usageErr("no home folder: set EXHIBIT_HOME or --home")
	}
	return filepath.Join(d, "exhibit"), nil
}

// loadConfig reads the configuration file, then applies the environment and
// the global flags. A missing file is not an error when allowMissing is set.
func loadConfig(c *cli.Context, home string, allowMissing bool) (*Config, error) {
	cfg := &Config{}
	path := filepath.Join(home, configName)
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if !allowMissing {
			return nil, usageErr("no configuration at %s: run `exhibit init --archive DIR` first (or set EXHIBIT_HOME)", path)
		}
	case err != nil:
		return nil, usageErr("read configuration: %v", err)
	default:
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
			return nil, usageErr("configuration %s: %v", path, err)
		}
		if cfg.Parallel == 0 {
			cfg.Parallel = cfg.Jobs.parallel
		}
	}
	for _, s := range envSettings {
		if v, ok := os.LookupEnv(s.name); ok {
			if err := s.set(cfg, v); err != nil {
				return nil, usageErr("%s=%q: %v", s.name, v, err)
			}
		}
	}
	// Flags (their EXHIBIT_* variables were applied above).
	for name, dst := range map[string]*string{"archive": &cfg.Archive, "key": &cfg.Key, "trust": &cfg.Trust, "operator": &cfg.Operator} {
		if c.IsSet(name) {
			*dst = c.String(name)
		}
	}
	// Files named on the command line are where the user is, not in the
	// home folder (as the configuration's relative paths are).
	for name, dst := range map[string]*string{"key": &cfg.Key, "trust": &cfg.Trust} {
		if c.IsSet(name) && *dst != "" && !strings.Contains(*dst, "://") {
			abs, err := filepath.Abs(*dst)
			if err != nil {
				return nil, usageErr("--%s %s: %v", name, *dst, err)
			}
			*dst = abs
		}
	}
	if cfg.S3.AccessKey == "" {
		cfg.S3.AccessKey = os.Getenv("AWS_ACCESS_KEY_ID")
	}
	if cfg.S3.SecretKey == "" {
		cfg.S3.SecretKey = os.Getenv("AWS_SECRET_ACCESS_KEY")
	}
	if cfg.Trust == "" {
		cfg.Trust = "trust.json"
	}
	return cfg, nil
}

func writeConfig(home string, cfg *Config) error {
	var buf bytes.Buffer
	buf.WriteString("# Exhibit configuration. Environment variables (EXHIBIT_*) override it,\n# and flags override those. See docs/operations.md.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(cfg); err != nil {
		return err
	}
	return files.WriteNew(filepath.Join(home, configName), buf.Bytes(), 0o600)
}

// parseRetention parses "compliance:365d", "governance:30d" or "compliance:7y".
func parseRetention(s string) (*RetentionConfig, error) {
	mode, period, ok := strings.Cut(strings.ToLower(s), ":")
	if !ok || (mode != "compliance" && mode != "governance") {
		return nil, fmt.Errorf("object lock %q: want MODE:PERIOD, MODE compliance or governance, PERIOD like 365d or 7y", s)
	}
	if len(period) < 2 {
		return nil, fmt.Errorf("object lock %q: missing period (e.g. 365d)", s)
	}
	n, err := strconv.Atoi(period[:len(period)-1])
	if err != nil || n <= 0 || n > 100*366 {
		return nil, fmt.Errorf("object lock %q: period must be a positive number of days (d) or years (y)", s)
	}
	switch period[len(period)-1] {
	case 'd':
	case 'y':
		n *= 365
	default:
		return nil, fmt.Errorf("object lock %q: period unit must be d (days) or y (years)", s)
	}
	return &RetentionConfig{Mode: mode, Days: n}, nil
}
