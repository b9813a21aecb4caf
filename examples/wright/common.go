package main

import (
	"fmt"
	"io"
	"os"
	"time"

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
