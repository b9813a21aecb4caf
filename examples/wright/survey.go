package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/edgewright/edgewright/inspector"
	"github.com/edgewright/edgewright/inspector/ctrsurvey"
)

func init() {
	commands["survey"] = command{
		summary: "survey a root (and containerd) and print the Floorplan as JSON",
		run:     runSurvey,
	}
}

// runSurvey prints the Floorplan. Exit 1 when the root cannot be read or
// containerd, when asked for, cannot be reached; other problems are
// diagnostics in the output.
func runSurvey(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("survey", "wright survey --root DIR [--containerd SOCKET [--namespace NS]]", stdout, stderr)
	root := fs.String("root", "", "device root to survey (required)")
	socket := fs.String("containerd", "", "containerd socket to survey as well")
	ns := fs.String("namespace", defaultNamespace, "containerd namespace (with --containerd)")
	noJournal := fs.Bool("no-journal", false, "do not read <root>/persist/edgewright/journal.db")
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if *root == "" {
		fmt.Fprintln(stderr, "wright survey: --root is required")
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wright survey: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	opts := inspector.Options{Root: *root}
	if *socket != "" {
		if *ns == "" {
			fmt.Fprintln(stderr, "wright survey: --namespace must not be empty")
			return exitUsage
		}
		opts.Containerd = &ctrsurvey.Daemon{Socket: *socket, Namespace: *ns}
	}
	// The journal says what was in flight when the last apply stopped; a
	// running agent holds it for writing, in which case the survey goes on
	// without it and says so.
	if !*noJournal {
		if j := openJournal("survey", *root, stderr, "in-flight items are not marked"); j != nil {
			defer j.Close()
			opts.Journal = j
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fp, err := inspector.Survey(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "wright survey: %v\n", err)
		return exitFailed
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(fp); err != nil {
		fmt.Fprintf(stderr, "wright survey: write: %v\n", err)
		return exitFailed
	}
	if inspector.ContainerdUnreachable(fp) {
		fmt.Fprintf(stderr, "wright survey: containerd is unreachable at %s; its blobs and images are missing from the Floorplan\n", *socket)
		return exitFailed
	}
	return exitOK
}
