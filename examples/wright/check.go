package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/edgewright/edgewright/check"
	"github.com/edgewright/edgewright/foreman"
	"github.com/edgewright/edgewright/inspector"
	"github.com/edgewright/edgewright/inspector/ctrsurvey"
)

func init() {
	commands["check"] = command{
		summary: "check a root for damage and waste and list the fixes (exit 4 when there are any)",
		run:     runCheck,
	}
}

// runCheck surveys the root (journal read-only, as survey does), deepens
// the survey with qemu-img check, and prints check.Check's report: a
// table, or with --json exactly {"fixes": [...], "volumes": [...]}. Exit 0
// when there is nothing to fix, exitFixes when there is, 1 when the root
// or containerd cannot be read.
func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("check", "wright check --root DIR [--json] [--containerd SOCKET [--namespace NS]]", stdout, stderr)
	root := fs.String("root", "", "device root to check (required)")
	asJSON := fs.Bool("json", false, `print {"fixes": [...], "volumes": [...]} as JSON`)
	socket := fs.String("containerd", "", "containerd socket to check as well")
	ns := fs.String("namespace", defaultNamespace, "containerd namespace (with --containerd)")
	grace := fs.Duration("grace", foreman.DefaultGracePeriod, "an unneeded blob is cleaned this long after its grace clock started")
	stale := fs.Duration("stale-after", check.DefaultStaleAfter, "work in progress untouched this long and not in flight is leaked")
	qemuImg := fs.String("qemu-img", "qemu-img", `qemu-img for the deep check of qcow2 volumes ("" skips it)`)
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if *root == "" {
		fmt.Fprintln(stderr, "wright check: --root is required")
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wright check: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	opts := inspector.Options{Root: *root}
	if *socket != "" {
		if *ns == "" {
			fmt.Fprintln(stderr, "wright check: --namespace must not be empty")
			return exitUsage
		}
		opts.Containerd = &ctrsurvey.Daemon{Socket: *socket, Namespace: *ns}
	}
	if j := openJournal("check", *root, stderr, "in-flight work is judged by age alone and no grace clock is known"); j != nil {
		defer j.Close()
		opts.Journal = j
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fp, err := inspector.Survey(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "wright check: %v\n", err)
		return exitFailed
	}
	if inspector.ContainerdUnreachable(fp) {
		fmt.Fprintf(stderr, "wright check: containerd is unreachable at %s; its blobs cannot be checked\n", *socket)
		return exitFailed
	}
	if *qemuImg != "" {
		if _, err := exec.LookPath(*qemuImg); err != nil {
			fmt.Fprintf(stderr, "wright check: %v; qcow2 metadata (refcounts, leaks) is not checked\n", err)
		} else if err := inspector.Deepen(ctx, fp, *root, *qemuImg); err != nil {
			fmt.Fprintf(stderr, "wright check: %v\n", err)
			return exitFailed
		}
		for _, v := range fp.Volumes {
			if v.Check != nil && v.Check.Error != "" {
				fmt.Fprintf(stderr, "wright check: %s: qcow2 metadata not checked: %s\n", v.Path, v.Check.Error)
			}
		}
	}
	rep := check.Check(fp, check.Options{Now: time.Now(), GracePeriod: *grace, StaleAfter: *stale})
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "wright check: write: %v\n", err)
			return exitFailed
		}
	} else {
		printCheck(stdout, rep)
	}
	if len(rep.Fixes) > 0 {
		return exitFixes
	}
	return exitOK
}

func printCheck(w io.Writer, rep check.Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(rep.Fixes) == 0 {
		fmt.Fprintln(tw, "No fixes: nothing is wrong.")
	} else {
		fmt.Fprintf(tw, "%d fixes:\nID\tTYPE\tBYTES\tREASON\n", len(rep.Fixes))
		for _, f := range rep.Fixes {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.ID, f.Type, strconv.FormatInt(f.Bytes, 10), f.Reason)
		}
	}
	if len(rep.Volumes) > 0 {
		fmt.Fprintf(tw, "\nVOLUME\tSTATUS\n")
		for _, v := range rep.Volumes {
			fmt.Fprintf(tw, "%s\t%s\n", v.ID, v.Status)
		}
	}
	tw.Flush()
}
