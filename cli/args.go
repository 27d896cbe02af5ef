package cli

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// normalizeArgs puts a command line in the order the flag parser reads, so
// that people can type flags where they think of them: flags of every
// command given before the command's name (`exhibit --json ls`) move after
// it, and flags given after the arguments (`exhibit get sha256:… -o x.jpg`)
// move before them. A flag's value goes with it; everything after "--" is
// left as it is (arguments that start with "-"). Unknown flags are moved as
// flags without a value, for the parser to refuse by name.
func normalizeArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	var global []string // flags before the command name
	rest := args[1:]
	var cmd *cli.Command
	for len(rest) > 0 {
		a := rest[0]
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			cmd = app.Command(a)
			break
		}
		if a == "-h" || a == "--help" || a == "-v" || a == "--version" {
			return args // the program's own help and version
		}
		n := flagLen(commonFlags(), rest)
		global, rest = append(global, rest[:n]...), rest[n:]
	}
	if cmd == nil {
		return args
	}
	out := []string{args[0], rest[0]}
	rest = rest[1:]
	// A subcommand (log show) takes the flags and arguments that follow.
	if len(cmd.Subcommands) > 0 && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		if sub := cmd.Command(rest[0]); sub != nil {
			out, rest, cmd = append(out, rest[0]), rest[1:], sub
		}
	}
	flags, positional := append([]string(nil), global...), []string(nil)
	for len(rest) > 0 {
		a := rest[0]
		switch {
		case a == "--":
			positional = append(positional, rest...)
			rest = nil
		case strings.HasPrefix(a, "-") && a != "-":
			n := flagLen(cmd.Flags, rest)
			flags, rest = append(flags, rest[:n]...), rest[n:]
		default:
			positional, rest = append(positional, a), rest[1:]
		}
	}
	out = append(out, flags...)
	if len(positional) > 0 && positional[0] != "--" {
		out = append(out, "--")
	}
	return append(out, positional...)
}

// flagLen is how many words of args (which start with a flag) the flag
// takes: 2 for a flag that takes a value given as the next word, else 1.
func flagLen(flags []cli.Flag, args []string) int {
	name := strings.TrimLeft(args[0], "-")
	if strings.Contains(name, "=") || len(args) < 2 {
		return 1
	}
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			if _, isBool := f.(*cli.BoolFlag); isBool {
				return 1
			}
			return 2
		}
	}
	return 1
}

// suggest returns the name among names closest to typed, when it is close
// enough to be what was meant (an edit distance of at most a third of its
// length, at least 1), else "".
func suggest(typed string, names []string) string {
	best, bestD := "", -1
	for _, n := range names {
		d := editDistance(typed, n)
		if d <= max(1, len(n)/3) && (bestD < 0 || d < bestD) {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// didYouMean is the hint for a mistyped flag, from the parser's error
// ("flag provided but not defined: -cse"), or "".
func didYouMean(flags []cli.Flag, err error) string {
	_, typed, ok := strings.Cut(err.Error(), "flag provided but not defined: ")
	if !ok {
		return ""
	}
	typed = strings.TrimLeft(typed, "-")
	var names []string
	for _, f := range flags {
		names = append(names, f.Names()...)
	}
	if s := suggest(typed, names); s != "" {
		if len(s) == 1 {
			return "did you mean -" + s + "?"
		}
		return "did you mean --" + s + "?"
	}
	return ""
}
