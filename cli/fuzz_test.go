package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/urfave/cli/v2"
)

func FuzzParseRetention(f *testing.F) {
	for _, s := range []string{"compliance:365d", "governance:7y", "compliance:0d", "x", ":", "compliance:99999999999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseRetention(s)
		if err != nil {
			return
		}
		if r.Days <= 0 || (r.Mode != "compliance" && r.Mode != "governance") {
			t.Fatalf("%q parsed to %+v", s, r)
		}
	})
}

// FuzzConfig: any config.yaml loads or fails with a usage error; no panic.
func FuzzConfig(f *testing.F) {
	f.Add([]byte("archive: /srv/archive\nkey: cosign.key\nretention:\n  mode: compliance\n  days: 30\n"))
	f.Add([]byte("s3: [1, 2]\n"))
	f.Add([]byte("&a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		home := t.TempDir()
		if err := os.WriteFile(filepath.Join(home, configName), data, 0o600); err != nil {
			t.Fatal(err)
		}
		app := &cli.App{Flags: commonFlags(), Action: func(c *cli.Context) error {
			_, err := loadConfig(c, home, false)
			if err != nil {
				if code, _ := classify(err); code != ExitUsage {
					t.Fatalf("config error with exit code %d: %v", code, err)
				}
			}
			return nil
		}}
		app.Run([]string{"x"})
	})
}
