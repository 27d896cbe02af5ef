package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"filippo.io/age"
	"github.com/urfave/cli/v2"

	"github.com/openexhibit/exhibit/ingest"
)

func identityFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: "identity", Aliases: []string{"i"},
		Usage: "age identity file that decrypts encrypted originals and metadata (repeatable)"}
}

// loadIdentities reads age identity files (the output of age-keygen). Their
// contents never reach an error message.
func loadIdentities(paths []string) ([]age.Identity, error) {
	var ids []age.Identity
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, withCode(ExitKey, fmt.Errorf("identity file: %w", err), "check the path given to --identity")
		}
		got, err := age.ParseIdentities(f)
		f.Close()
		if err != nil {
			return nil, withCode(ExitKey, fmt.Errorf("identity file %s: %w", p, err),
				"pass a file made by age-keygen (passphrase-protected identity files are not supported: decrypt it with age -d first)")
		}
		ids = append(ids, got...)
	}
	return ids, nil
}

// parseRecipients parses age recipients ("age1…", "age1pq1…"), as given
// with --encrypt-to or in the configuration's encrypt_to list.
func parseRecipients(names []string) (*ingest.Encryption, error) {
	if len(names) == 0 {
		return nil, nil
	}
	enc := &ingest.Encryption{}
	for _, n := range names {
		n = strings.TrimSpace(n)
		rs, err := age.ParseRecipients(strings.NewReader(n))
		if err != nil || len(rs) != 1 || strings.ContainsAny(n, "\n#") {
			return nil, usageErr("encrypt-to %q is not an age recipient (want the age1… public key that age-keygen prints)", n)
		}
		enc.Recipients = append(enc.Recipients, rs[0])
		enc.Names = append(enc.Names, n)
	}
	return enc, nil
}

func isNoIdentity(err error) bool {
	var nm *age.NoIdentityMatchError
	return errors.As(err, &nm)
}
