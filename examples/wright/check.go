package main

import (
	"context"
	"encoding/json"
	"flag"
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
	"github.com/edgewright/edgewright/materials"
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
	cf := addCheckFlags(fs)
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
	if !cf.valid("check", stderr) {
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	_, rep, err := cf.checkRoot(ctx, "check", opts, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "wright check: %v\n", err)
		return exitFailed
	}
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

// checkFlags are the check's flags, which fix has too.
type checkFlags struct {
	grace, stale      *time.Duration
	qemuImg, strategy *string
	// store is where the device keeps blobs ("": the blob directory),
	// for the check's fixes that download.
	store materials.BlobStore
}

func addCheckFlags(fs *flag.FlagSet) *checkFlags {
	return &checkFlags{
		grace:    fs.Duration("grace", foreman.DefaultGracePeriod, "an unneeded blob is cleaned this long after its grace clock started"),
		stale:    fs.Duration("stale-after", check.DefaultStaleAfter, "work in progress untouched this long and not in flight is leaked"),
		qemuImg:  fs.String("qemu-img", "qemu-img", `qemu-img for the deep check of qcow2 volumes ("" skips it)`),
		strategy: fs.String("strategy", "", "the device's volume `STRATEGY` (space or performance): overlays under performance are to flatten; \"\" judges none"),
	}
}

func (cf *checkFlags) valid(cmd string, stderr io.Writer) bool {
	if s := *cf.strategy; s != "" && s != check.StrategySpace && s != check.StrategyPerformance {
		fmt.Fprintf(stderr, "wright %s: --strategy %q: want space or performance\n", cmd, s)
		return false
	}
	return true
}

// checkRoot surveys the root (journal read-only, closed again before it
// returns), deepens the survey with qemu-img check and checks it now.
func (cf *checkFlags) checkRoot(ctx context.Context, cmd string, opts inspector.Options, stderr io.Writer) (*materials.Floorplan, check.Report, error) {
	qemuImg := *cf.qemuImg
	copts := check.Options{GracePeriod: *cf.grace, StaleAfter: *cf.stale, Strategy: *cf.strategy, Store: cf.store}
	if j := openJournal(cmd, opts.Root, stderr, "in-flight work is judged by age alone and no grace clock is known"); j != nil {
		defer j.Close()
		opts.Journal = j
	}
	fp, err := inspector.Survey(ctx, opts)
	if err != nil {
		return nil, check.Report{}, err
	}
	if inspector.ContainerdUnreachable(fp) {
		return nil, check.Report{}, fmt.Errorf("containerd is unreachable; its blobs cannot be checked")
	}
	if qemuImg != "" {
		if _, err := exec.LookPath(qemuImg); err != nil {
			fmt.Fprintf(stderr, "wright %s: %v; qcow2 metadata (refcounts, leaks) is not checked\n", cmd, err)
		} else if err := inspector.Deepen(ctx, fp, opts.Root, qemuImg); err != nil {
			return nil, check.Report{}, err
		}
		for _, v := range fp.Volumes {
			if v.Check != nil && v.Check.Error != "" {
				fmt.Fprintf(stderr, "wright %s: %s: qcow2 metadata not checked: %s\n", cmd, v.Path, v.Check.Error)
			}
		}
	}
	if fp.Journal != nil {
		copts.VolumeStrategy = check.VolumeStrategies(fp.Journal.LastApplied)
	}
	copts.Now = time.Now()
	return fp, check.Check(fp, copts), nil
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
