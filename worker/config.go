package worker

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Job is one scheduled job as config.yaml declares it under jobs:. Every
// kind has a name, a schedule, the case its items go to, a timeout and a
// number of attempts; the other fields belong to one kind each.
type Job struct {
	Name string `yaml:"name"`
	// Kind is folder, s3-inbox, stac, urls or fixity.
	Kind string `yaml:"kind"`
	// Schedule is a cron expression ("0 6 * * *", "@daily") or an
	// interval ("15m", "@every 15m", "1d").
	Schedule string `yaml:"schedule"`
	Case     string `yaml:"case,omitempty"`
	// Timeout bounds one run of the job (default: the kind's); Attempts
	// is how often a failed run is tried (default 5).
	Timeout  Duration `yaml:"timeout,omitempty"`
	Attempts int      `yaml:"attempts,omitempty"`

	// folder: Path is the folder watched (with its subfolders); a file is
	// taken once it has not changed for Stable (default 1m); Batch files
	// go into one ingest run (default 100).
	Path   string   `yaml:"path,omitempty"`
	Stable Duration `yaml:"stable,omitempty"`
	Batch  int      `yaml:"batch,omitempty"`

	// s3-inbox: the objects under Prefix in Bucket, at Endpoint (default:
	// the archive's S3 endpoint; InsecureHTTP as for it); Stable and Batch
	// as for a folder. After says what becomes of an object once archived:
	// keep (default), tag (an exhibit-item tag naming its item) or delete.
	Bucket       string `yaml:"bucket,omitempty"`
	Prefix       string `yaml:"prefix,omitempty"`
	Endpoint     string `yaml:"endpoint,omitempty"`
	Region       string `yaml:"region,omitempty"`
	InsecureHTTP bool   `yaml:"insecure_http,omitempty"`
	After        string `yaml:"after,omitempty"`

	// stac: a saved search of the STAC API at API: the scenes of
	// Collections over BBox (west,south,east,north in degrees) whose
	// datetime falls in the last Lookback (default 7d), at most MaxCloud %
	// cloud cover, up to MaxItems a run (default 100); Assets are the asset
	// keys downloaded (default: all). Sign is "planetary-computer" for SAS
	// tokens. InsecureAllowPrivate lets it reach private addresses.
	API                  string    `yaml:"api,omitempty"`
	Collections          []string  `yaml:"collections,omitempty"`
	BBox                 []float64 `yaml:"bbox,omitempty"`
	Lookback             Duration  `yaml:"lookback,omitempty"`
	MaxCloud             *float64  `yaml:"max_cloud,omitempty"`
	MaxItems             int       `yaml:"max_items,omitempty"`
	Assets               []string  `yaml:"assets,omitempty"`
	Sign                 string    `yaml:"sign,omitempty"`
	InsecureAllowPrivate bool      `yaml:"insecure_allow_private,omitempty"`

	// urls: URLs and the lines of URLsFile (one URL a line; # comments)
	// are captured with the headless browser each run, as exhibit capture
	// does; Media fetches their media with yt-dlp too.
	URLs     []string `yaml:"urls,omitempty"`
	URLsFile string   `yaml:"urls_file,omitempty"`
	Media    bool     `yaml:"media,omitempty"`

	// fixity: Sample items are re-verified each run, those checked longest
	// ago first (default 100); every FullEvery (default 30d) a run checks
	// every item instead. Webhook, when set, receives a POST of JSON when a
	// run finds an item that does not verify.
	Sample    int      `yaml:"sample,omitempty"`
	FullEvery Duration `yaml:"full_every,omitempty"`
	Webhook   string   `yaml:"webhook,omitempty"`
}

// The kinds of job.
const (
	KindFolder  = "folder"
	KindS3Inbox = "s3-inbox"
	KindSTAC    = "stac"
	KindURLs    = "urls"
	KindFixity  = "fixity"
)

// Defaults of a job's settings.
const (
	defaultAttempts  = 5
	defaultStable    = time.Minute
	defaultBatch     = 100
	defaultSample    = 100
	defaultFullEvery = 30 * 24 * time.Hour
)

// defaultTimeout is a run's timeout by kind: long enough for a large
// folder's batch or a full audit of a large archive on a slow store.
var defaultTimeout = map[string]time.Duration{KindFolder: 2 * time.Hour, KindS3Inbox: 2 * time.Hour, KindSTAC: 6 * time.Hour, KindURLs: 2 * time.Hour, KindFixity: 24 * time.Hour}

var jobName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// Check validates the jobs and fills in defaults. Errors name the job and
// the setting.
func Check(jobs []Job) error {
	names := map[string]bool{}
	for i := range jobs {
		j := &jobs[i]
		if !jobName.MatchString(j.Name) {
			return fmt.Errorf("jobs[%d]: name %q: use 1 to 64 lower-case letters, digits, '.', '_' or '-'", i, j.Name)
		}
		if names[j.Name] {
			return fmt.Errorf("job %s: declared twice", j.Name)
		}
		names[j.Name] = true
		if _, err := ParseSchedule(j.Schedule); err != nil {
			return fmt.Errorf("job %s: schedule: %v", j.Name, err)
		}
		if j.Attempts == 0 {
			j.Attempts = defaultAttempts
		}
		if j.Attempts < 1 || j.Attempts > 100 {
			return fmt.Errorf("job %s: attempts %d: give 1 to 100", j.Name, j.Attempts)
		}
		if j.Timeout == 0 {
			j.Timeout = Duration(defaultTimeout[j.Kind])
		}
		if j.Timeout < 0 {
			return fmt.Errorf("job %s: timeout must be positive", j.Name)
		}
		other := func(set bool, field string) error {
			if set {
				return fmt.Errorf("job %s: %s is not a setting of a %s job", j.Name, field, j.Kind)
			}
			return nil
		}
		var err error
		switch j.Kind {
		case KindFolder:
			if j.Path == "" || !filepath.IsAbs(j.Path) {
				return fmt.Errorf("job %s: path: give the folder's absolute path", j.Name)
			}
			j.Path = filepath.Clean(j.Path)
			if j.Stable == 0 {
				j.Stable = Duration(defaultStable)
			}
			if j.Batch == 0 {
				j.Batch = defaultBatch
			}
			if j.Stable < 0 || j.Batch < 1 || j.Batch > 10000 {
				return fmt.Errorf("job %s: stable must be positive and batch 1 to 10000", j.Name)
			}
			for _, e := range []error{other(j.Sample != 0, "sample"), other(j.FullEvery != 0, "full_every"), other(j.Webhook != "", "webhook"), other(j.Bucket != "", "bucket")} {
				err = firstErr(err, e)
			}
		case KindS3Inbox:
			if j.Bucket == "" {
				return fmt.Errorf("job %s: bucket: give the inbox's bucket", j.Name)
			}
			if j.Stable == 0 {
				j.Stable = Duration(defaultStable)
			}
			if j.Batch == 0 {
				j.Batch = defaultBatch
			}
			if j.After == "" {
				j.After = "keep"
			}
			if j.After != "keep" && j.After != "tag" && j.After != "delete" {
				return fmt.Errorf("job %s: after %q: give keep, tag or delete", j.Name, j.After)
			}
			if j.Stable < 0 || j.Batch < 1 || j.Batch > 10000 {
				return fmt.Errorf("job %s: stable must be positive and batch 1 to 10000", j.Name)
			}
			for _, e := range []error{other(j.Path != "", "path"), other(j.Sample != 0, "sample"), other(j.FullEvery != 0, "full_every"), other(j.Webhook != "", "webhook")} {
				err = firstErr(err, e)
			}
		case KindSTAC:
			if !strings.HasPrefix(j.API, "https://") && !strings.HasPrefix(j.API, "http://") {
				return fmt.Errorf("job %s: api: give the STAC API's URL", j.Name)
			}
			if bb := j.BBox; bb != nil && (len(bb) != 4 || bb[0] < -180 || bb[2] > 180 || bb[1] < -90 || bb[3] > 90 || bb[1] > bb[3]) {
				return fmt.Errorf("job %s: bbox: give west, south, east, north in degrees", j.Name)
			}
			if j.Lookback == 0 {
				j.Lookback = Duration(7 * 24 * time.Hour)
			}
			if j.MaxItems == 0 {
				j.MaxItems = 100
			}
			if j.Lookback < 0 || j.MaxItems < 1 || j.MaxItems > 10000 {
				return fmt.Errorf("job %s: lookback must be positive and max_items 1 to 10000", j.Name)
			}
			if j.Sign != "" && j.Sign != "planetary-computer" {
				return fmt.Errorf("job %s: sign %q: give planetary-computer, or leave it out", j.Name, j.Sign)
			}
			for _, e := range []error{other(j.Path != "", "path"), other(j.Bucket != "", "bucket"), other(j.Sample != 0, "sample"), other(j.Webhook != "", "webhook"), other(j.Batch != 0, "batch")} {
				err = firstErr(err, e)
			}
		case KindFixity:
			if j.Sample == 0 {
				j.Sample = defaultSample
			}
			if j.FullEvery == 0 {
				j.FullEvery = Duration(defaultFullEvery)
			}
			if j.Sample < 1 || j.FullEvery < 0 {
				return fmt.Errorf("job %s: sample must be at least 1 and full_every positive", j.Name)
			}
			if j.Webhook != "" && !strings.HasPrefix(j.Webhook, "https://") && !strings.HasPrefix(j.Webhook, "http://") {
				return fmt.Errorf("job %s: webhook: give an http(s) URL", j.Name)
			}
			for _, e := range []error{other(j.Path != "", "path"), other(j.Stable != 0, "stable"), other(j.Batch != 0, "batch"), other(j.Case != "", "case"), other(j.Bucket != "", "bucket")} {
				err = firstErr(err, e)
			}
		case KindURLs:
			if len(j.URLs) == 0 && j.URLsFile == "" {
				return fmt.Errorf("job %s: give urls: or urls_file:", j.Name)
			}
			if j.URLsFile != "" && !filepath.IsAbs(j.URLsFile) {
				return fmt.Errorf("job %s: urls_file: give the file's absolute path", j.Name)
			}
			for _, u := range j.URLs {
				if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
					return fmt.Errorf("job %s: urls: %q is not an http(s) URL", j.Name, u)
				}
			}
			for _, e := range []error{other(j.Path != "", "path"), other(j.Bucket != "", "bucket"), other(j.Sample != 0, "sample"), other(j.API != "", "api"), other(j.Batch != 0, "batch")} {
				err = firstErr(err, e)
			}
		default:
			return fmt.Errorf("job %s: kind %q: give folder, s3-inbox, stac, urls or fixity", j.Name, j.Kind)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// Schedule is when a job runs: its Next time after a given one, and its
// Period, the gap between two runs (at most one run per period).
type Schedule struct {
	cron.Schedule
	Period time.Duration
}

// ParseSchedule reads a cron expression (five fields, or a descriptor such
// as @daily) or an interval ("15m", "1d", "@every 15m"; at least a minute).
func ParseSchedule(s string) (Schedule, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Schedule{}, fmt.Errorf("give a cron expression (\"0 6 * * *\") or an interval (\"15m\")")
	}
	interval := strings.TrimPrefix(s, "@every ")
	if d, err := ParseDuration(interval); err == nil {
		if d < time.Minute {
			return Schedule{}, fmt.Errorf("%q: run at most once a minute", s)
		}
		return Schedule{Schedule: cron.Every(d), Period: d}, nil
	}
	sched, err := cron.ParseStandard(s)
	if err != nil {
		return Schedule{}, fmt.Errorf("%q: %v", s, err)
	}
	// The shortest gap over the next runs is the period.
	t, period := sched.Next(time.Now()), time.Duration(0)
	for range 32 {
		n := sched.Next(t)
		if g := n.Sub(t); period == 0 || g < period {
			period = g
		}
		t = n
	}
	if period < time.Minute {
		return Schedule{}, fmt.Errorf("%q: run at most once a minute", s)
	}
	return Schedule{Schedule: sched, Period: period}, nil
}

// Duration is a time.Duration that reads "90s", "15m", "12h" and "30d"
// from YAML.
type Duration time.Duration

// ParseDuration is time.ParseDuration plus a "d" (24 hours) suffix.
func ParseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseFloat(n, 64)
		if err != nil || days <= 0 || days > 3650 {
			return 0, fmt.Errorf("duration %q: give days as a number up to 3650", s)
		}
		return time.Duration(days * 24 * float64(time.Hour)), nil
	}
	return time.ParseDuration(s)
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }
