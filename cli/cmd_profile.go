package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/openexhibit/exhibit/acquire/web/profile"
	"github.com/openexhibit/exhibit/archive"
)

func profileCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "profile",
		Usage: "keep login profiles for web captures (capture --profile NAME)",
		Description: "A login profile is a set of cookies: export them from a browser where you are logged in to the\n" +
			"account (a cookies.txt file, the Netscape format that browser extensions write) and add them.\n" +
			"The profile is kept in the home folder encrypted to a passphrase (EXHIBIT_PROFILE_PASSWORD, else\n" +
			"EXHIBIT_PASSWORD, else asked). A capture made with it records the profile's name, never its cookies;\n" +
			"the cookies are in the capture's requests, and its working copy has them removed.",
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "add (or replace) a profile from a cookies.txt file",
				ArgsUsage: "NAME",
				Flags:     append(commonFlags(), &cli.StringFlag{Name: "cookies", Usage: "the cookies.txt file", Required: true}),
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usageErr("profile add: give one NAME")
					}
					home, _, err := e.config(c)
					if err != nil {
						return err
					}
					return runProfileAdd(c.Context, e, home, c.Args().First(), c.String("cookies"))
				},
			},
			{
				Name:      "ls",
				Usage:     "list the profiles",
				ArgsUsage: " ",
				Flags:     commonFlags(),
				Action: func(c *cli.Context) error {
					home, _, err := e.config(c)
					if err != nil {
						return err
					}
					names, err := profiles(home).List()
					if err != nil {
						return withCode(ExitIO, err, "check the home folder's profiles folder")
					}
					if e.json {
						writeJSON(e.stdout, schemaProfiles, map[string]any{"profiles": append([]string{}, names...)})
						return nil
					}
					for _, n := range names {
						fmt.Fprintln(e.stdout, n)
					}
					return nil
				},
			},
			{
				Name:      "rm",
				Usage:     "remove a profile",
				ArgsUsage: "NAME",
				Flags:     commonFlags(),
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usageErr("profile rm: give one NAME")
					}
					home, _, err := e.config(c)
					if err != nil {
						return err
					}
					if err := profiles(home).Remove(c.Args().First()); err != nil {
						return profileErr(err)
					}
					fmt.Fprintf(e.stdout, "removed profile %s\n", c.Args().First())
					return nil
				},
			},
		},
	}
}

func profiles(home string) profile.Store { return profile.Store(filepath.Join(home, "profiles")) }

func runProfileAdd(ctx context.Context, e *env, home, name, file string) error {
	if !profile.ValidName(name) {
		return usageErr("profile add: %q is not a profile name (1 to 64 letters, digits, - and _)", name)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return withCode(ExitInput, err, "check the path given to --cookies")
	}
	if _, err := profile.Parse(data); err != nil {
		return withCode(ExitInput, fmt.Errorf("%s: %w", file, err), "export the cookies as cookies.txt (Netscape format) from a browser where the account is logged in")
	}
	pass, err := e.creds.Passphrase(ctx, archive.ProfileKey, true)
	if err != nil {
		return withCode(ExitKey, err, "set EXHIBIT_PROFILE_PASSWORD (or EXHIBIT_PASSWORD), or run in a terminal")
	}
	if err := profiles(home).Add(name, data, pass); err != nil {
		return withCode(ExitIO, err, "check that the home folder is writable")
	}
	fmt.Fprintf(e.stdout, "added profile %s (encrypted in %s)\n", name, filepath.Join(home, "profiles"))
	fmt.Fprintf(e.stderr, "note: %s still holds the session in clear: delete it\n", file)
	return nil
}

// loadProfile opens the profile name for a capture.
func loadProfile(ctx context.Context, e *env, home, name string) (*profile.Profile, error) {
	pass, err := e.creds.Passphrase(ctx, archive.ProfileKey, false)
	if err != nil {
		return nil, withCode(ExitKey, err, "set EXHIBIT_PROFILE_PASSWORD (or EXHIBIT_PASSWORD), or run in a terminal")
	}
	p, err := profiles(home).Load(name, pass)
	if err != nil {
		return nil, profileErr(err)
	}
	return p, nil
}

func profileErr(err error) error {
	switch {
	case errors.Is(err, profile.ErrNotFound):
		return withCode(ExitNotFound, err, "exhibit profile ls lists the profiles; exhibit profile add NAME --cookies FILE adds one")
	case errors.Is(err, profile.ErrPassphrase):
		return withCode(ExitKey, err, "give the passphrase the profile was added with (EXHIBIT_PROFILE_PASSWORD or EXHIBIT_PASSWORD)")
	}
	return withCode(ExitIO, err, "check the home folder's profiles folder")
}
