package archive_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/openexhibit/exhibit/archive"
	"github.com/openexhibit/exhibit/custody"
	"github.com/openexhibit/exhibit/verify"
)

// Exhibit as a library: create an archive in a folder, acquire something
// from a source of the program's own (a voicemail left on a hotline: the
// recording and its transcript, as byte streams), verify everything. The
// passphrase comes from the caller (here a constant; a program would ask
// for it or read it from a secrets store).
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

	// One acquisition, two parts that belong together: each part's signed
	// record names both, with the provenance in the hotline's own terms.
	stream := func(s string) func(context.Context) (io.ReadCloser, error) {
		return func(context.Context) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(s)), nil }
	}
	voicemail := &archive.Acquisition{
		Kind:           "hotline",
		ProvenanceType: "https://hotline.example/provenance/voicemail/v1",
		Provenance:     map[string]string{"line": "witness line 2", "caller": "withheld", "mailbox": "msg-0412"},
		Tools:          []custody.AcquisitionTool{{Name: "hotline-export", Version: "4.2"}},
		Parts: []archive.Part{
			{Name: "recording", FileName: "msg-0412.wav", Open: stream("RIFF....WAVEfmt (recording)")},
			{Name: "transcript", FileName: "msg-0412.txt", Open: stream("Trucks on the bridge at dawn.\n")},
		},
	}
	rep, err := a.Acquire(ctx, archive.IngestOptions{Case: "example"}, []*archive.Acquisition{voicemail})
	if err != nil {
		fmt.Println("acquire:", err)
		return
	}
	for _, r := range rep.Results {
		fmt.Println(r.Status, r.Part, r.Item)
	}
	fmt.Println("events logged:", rep.Logged)

	res, err := a.Verify(ctx, archive.Selection{Case: "example"}, archive.VerifyOptions{}, func(ir *verify.ItemReport) {
		fmt.Println(ir.Verdict, ir.Name)
	})
	if err != nil {
		fmt.Println("verify:", err)
		return
	}
	// warn: no timestamp authority is configured, so no trusted time.
	fmt.Println("report:", res.Report.Status)
	// Output:
	// archived recording sha256:18c058e06d98042889f9e8b29c165e8556b519658fe97eff0e77376d59dc23a4
	// archived transcript sha256:7200e5ad657d69f0b15bc01af21e1c6c93aefc74fdee3077ca3ed34accc53c18
	// events logged: 6
	// intact hotline:recording
	// intact hotline:transcript
	// report: warn
}
