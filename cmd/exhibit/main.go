// Command exhibit preserves digital evidence: see the README and
// `exhibit --help`. It runs the cli and exits with its code.
package main

import (
	"os"

	"github.com/openexhibit/exhibit/cli"
)

func main() { os.Exit(cli.Main()) }
