// Command wright is edgewright's command line: it draws a Blueprint from a
// controller config, surveys a root into a Floorplan, plans, applies and
// reports status.
//
//	wright blueprint --config FILE
//	wright survey    --root DIR [--containerd SOCKET --namespace NS]
//	wright plan      --config FILE --root DIR [--json]
//	wright apply     --config FILE --root DIR [-v] [--log-format text|json]
//	wright status    --root DIR [--json|--binary]
//	wright check     --root DIR [--json]
//	wright fix       --root DIR (ID... | --all [--type TYPE])
//	wright chunk     IMAGE --out DIR [--store NAME]
//	wright snapshots --root DIR [--json]
//
// Every subcommand exits with the codes of exitCodeDoc; `wright <command>
// --help` prints its flags and the table.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
)

// The exit codes, the same for every subcommand.
const (
	exitOK      = 0 // done: converged, planned, printed; also --help
	exitFailed  = 1 // the config has errors, the root or containerd cannot be read, a remodel failed
	exitUsage   = 2 // bad usage: unknown command, unknown or missing flag, stray argument
	exitHeld    = 3 // apply: converged except remodels held by a guard (each printed with the flag that lets it through)
	exitFixes   = 4 // check: something is wrong; the fixes are printed
	exitCodeDoc = `exit codes (every command):
  0  done (converged, planned, printed); also --help
  1  failed: the config has errors, the root or containerd cannot be read, a remodel failed
  2  bad usage: unknown command, unknown or missing flag, stray argument
  3  apply only: converged except remodels held by a guard (see the flag each names)
  4  check only: fixes are listed (something is wrong or wasteful)
`
)

// command is one subcommand; it returns the process exit code.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// commands is filled by each subcommand's file in its init, so that each
// subcommand lives in a file of its own.
var commands = map[string]command{}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	case "help":
		if len(args) == 1 {
			usage(stdout)
			return exitOK
		}
		if c, ok := commands[args[1]]; ok {
			return c.run([]string{"--help"}, stdout, stderr)
		}
		args = args[1:]
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "wright: unknown command %q\n", args[0])
		usage(stderr)
		return exitUsage
	}
	return c.run(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: wright <command> [flags]")
	fmt.Fprintln(w, "       wright <command> --help   (that command's flags)")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, exitCodeDoc)
}
