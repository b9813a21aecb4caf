package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/edgewright/edgewright/assembler/ctrstore"
	"github.com/edgewright/edgewright/journal"
)

// readConfig reads a controller config from a file, or from standard
// input for "-".
func readConfig(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(path)
}

// openJournal opens the root's journal for reading when there is one. A
// running apply holds it for writing: then the command goes on without it,
// saying on stderr what is missing for want of it, and gets nil. The
// caller closes a journal it gets.
func openJournal(cmd, root string, stderr io.Writer, missing string) *journal.Journal {
	if _, err := os.Stat(journal.Path(root)); err != nil {
		return nil
	}
	j, err := journal.Open(journal.Path(root), journal.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		fmt.Fprintf(stderr, "wright %s: journal not read (%v); %s\n", cmd, err, missing)
		return nil
	}
	return j
}

// defaultNamespace is the containerd namespace every subcommand uses
// unless --namespace says otherwise: the one apply stores blobs in, so
// that plan, survey and status see them.
const defaultNamespace = ctrstore.DefaultNamespace

// newFlags makes a subcommand's flag set: errors and --help go to stderr,
// and --help prints the synopsis, the flags and the exit codes.
func newFlags(name, synopsis string, stdout, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("wright "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: %s\n\nflags:\n", synopsis)
		fs.PrintDefaults()
		fmt.Fprintln(w)
		fmt.Fprint(w, exitCodeDoc)
	}
	return fs
}

// parseFlags parses args; when it returns false the command ends with
// the code it gives: 0 for --help (printed to stdout), 2 for bad usage.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) (int, bool) {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(stdout)
			fs.Usage()
			return exitOK, false
		}
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage, false
	}
	return exitOK, true
}
