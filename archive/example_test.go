package archive_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/openexhibit/exhibit/archive"
	"github.com/openexhibit/exhibit/verify"
)

// Exhibit as a library: create an archive in a folder, ingest a file,
// verify everything. The passphrase comes from the caller (here a
// constant; a program would ask for it or read it from a secrets store).
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "exhibit-example-")
	defer os.RemoveAll(dir)
	loc, _ := archive.ParseLocation(filepath.Join(dir, "archive"))
	opts := archive.Options{Location: loc, Home: filepath.Join(dir, "home"),
		Credentials: archive.Passphrase("correct horse battery staple"), Operator: "Field Team 3"}

	// Create makes the signing key, the custody log key, the trust file
	// and the archive; Open then uses the key Create made.
	created, err := archive.Create(ctx, archive.CreateOptions{Options: opts})
	if err != nil {
		fmt.Println("create:", err)
		return
	}
	opts.Key = created.KeyRef
	a, err := archive.Open(ctx, opts)
	if err != nil {
		fmt.Println("open:", err)
		return
	}
	evidence := filepath.Join(dir, "statement.txt")
	os.WriteFile(evidence, []byte("witness statement, 2026-03-12\n"), 0o600)
	rep, err := a.Ingest(ctx, archive.IngestOptions{Case: "example"}, []string{evidence})
	if err != nil {
		fmt.Println("ingest:", err)
		return
	}
	fmt.Println(rep.Results[0].Status, rep.Results[0].Item)
	fmt.Println("events logged:", rep.Logged)

	res, err := a.Verify(ctx, archive.Selection{Case: "example"}, archive.VerifyOptions{}, func(ir *verify.ItemReport) {
		fmt.Println(ir.Verdict, ir.Item)
	})
	if err != nil {
		fmt.Println("verify:", err)
		return
	}
	// warn: no timestamp authority is configured, so no trusted time.
	fmt.Println("report:", res.Report.Status)
	// Output:
	// archived sha256:90f9fb1c35dd9d4a08803464e5a71000c1b69fdeb5641c5e2b0785fd32156f9b
	// events logged: 3
	// intact sha256:90f9fb1c35dd9d4a08803464e5a71000c1b69fdeb5641c5e2b0785fd32156f9b
	// report: warn
}
