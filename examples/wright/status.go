package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/edgewright/edgewright/inspector"
	"github.com/edgewright/edgewright/inspector/ctrsurvey"
	"github.com/edgewright/edgewright/materials/eve"
	"github.com/edgewright/edgewright/reporter"
)

func init() {
	commands["status"] = command{
		summary: "report what a root holds as EVE info and metrics messages",
		run:     runStatus,
	}
}

// runStatus surveys the root, reads the journal (the last applied
// Blueprint gives names, sizes and refcounts; usage and the last apply's
// failures come from it too) and prints the report: a table for people,
// proto-JSON lines (--json) or length-delimited binary (--binary).
func runStatus(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("status", "wright status --root DIR [--containerd SOCKET [--namespace NS]] [--json|--binary]", stdout, stderr)
	root := fs.String("root", "", "device root (required)")
	socket := fs.String("containerd", "", "containerd socket to survey as well")
	ns := fs.String("namespace", defaultNamespace, "containerd namespace (with --containerd)")
	asJSON := fs.Bool("json", false, "print proto-JSON ZInfoMsg records (and a ZMetricMsg), one per line")
	asBinary := fs.Bool("binary", false, "print the same records as length-delimited binary protobuf")
	devID := fs.String("device", "", "device uuid to put in the envelopes")
	ioFlag := fs.String("io", "", "read/write counters from the hypervisor: uuid=readBytes:writeBytes:readCount:writeCount[,…]")
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if *root == "" || fs.NArg() > 0 || (*asJSON && *asBinary) {
		fmt.Fprintln(stderr, "usage: wright status --root DIR [--containerd SOCKET --namespace NS] [--json|--binary]")
		return exitUsage
	}
	counters, err := parseIO(*ioFlag)
	if err != nil {
		fmt.Fprintf(stderr, "wright status: --io: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	opts := inspector.Options{Root: *root}
	if *socket != "" {
		opts.Containerd = &ctrsurvey.Daemon{Socket: *socket, Namespace: *ns}
	}
	in, err := statusInputs(ctx, opts, counters, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "wright status: %v\n", err)
		return exitFailed
	}
	fp := in.Floorplan
	format := "table"
	if *asJSON {
		format = "json"
	} else if *asBinary {
		format = "binary"
	}
	if err := writeStatus(stdout, in, format, *devID, time.Now()); err != nil {
		fmt.Fprintf(stderr, "wright status: write: %v\n", err)
		return exitFailed
	}
	if inspector.ContainerdUnreachable(fp) {
		fmt.Fprintf(stderr, "wright status: containerd is unreachable at %s\n", *socket)
		return exitFailed
	}
	return exitOK
}

// statusInputs surveys the root: with the journal's history (failures)
// and last applied Blueprint when it opens, and what the disk says while
// an apply holds it.
func statusInputs(ctx context.Context, opts inspector.Options, counters map[string]reporter.IOCounters, stderr io.Writer) (reporter.Inputs, error) {
	in := reporter.Inputs{IO: counters}
	if j := openJournal("status", opts.Root, stderr, "names, refcounts and usage are missing"); j != nil {
		defer j.Close()
		opts.Journal = j
		hist, err := j.History()
		if err != nil {
			return in, fmt.Errorf("journal history: %w", err)
		}
		in.Failures = reporter.FailuresFromHistory(hist)
	}
	fp, err := inspector.Survey(ctx, opts)
	if err != nil {
		return in, err
	}
	in.Floorplan = fp
	if fp.Journal != nil {
		in.Blueprint = fp.Journal.LastApplied
	}
	return in, nil
}

// writeStatus writes the report in a format: "json" and "binary" carry
// the ZInfoMsg records (content trees, volumes, then the apps with
// snapshots and their ZInfoSnapshots) and a ZMetricMsg; "table" the same
// as text.
func writeStatus(w io.Writer, in reporter.Inputs, format, devID string, now time.Time) error {
	rep := reporter.Build(in)
	apps := reporter.AppSnapshots(in)
	if format == "table" {
		if err := rep.WriteTable(w); err != nil {
			return err
		}
		return writeSnapshotTable(w, apps)
	}
	var msgs []proto.Message
	for _, m := range rep.InfoMessages(devID, now) {
		msgs = append(msgs, m)
	}
	for _, m := range reporter.AppMessages(apps, devID, now) {
		msgs = append(msgs, m)
	}
	msgs = append(msgs, rep.MetricMessage(devID, now))
	if format == "binary" {
		return reporter.WriteDelimited(w, msgs...)
	}
	return reporter.WriteJSONLines(w, msgs...)
}

// parseIO reads `uuid=rb:wb:rc:wc` items separated by commas.
func parseIO(s string) (map[string]reporter.IOCounters, error) {
	out := map[string]reporter.IOCounters{}
	if s == "" {
		return out, nil
	}
	for _, item := range strings.Split(s, ",") {
		id, nums, ok := strings.Cut(item, "=")
		parts := strings.Split(nums, ":")
		if !ok || id == "" || len(parts) != 4 {
			return nil, fmt.Errorf("%q: want uuid=readBytes:writeBytes:readCount:writeCount", item)
		}
		var v [4]uint64
		for i, p := range parts {
			n, err := strconv.ParseUint(p, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%q: counter %q is not a non-negative integer", item, p)
			}
			v[i] = n
		}
		out[id] = reporter.IOCounters{ReadBytes: v[0], WriteBytes: v[1], ReadCount: v[2], WriteCount: v[3]}
	}
	return out, nil
}

// writeSnapshotTable lists each app's snapshots below the status table,
// as ZInfoApp reports them.
func writeSnapshotTable(w io.Writer, apps []*eve.ZInfoApp) error {
	if len(apps) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\napp\tsnapshot\ttype\ttaken\terror")
	for _, a := range apps {
		for _, s := range a.GetSnapshots() {
			taken := "-"
			if s.GetCreateTime() != nil {
				taken = s.GetCreateTime().AsTime().UTC().Format(time.RFC3339)
			}
			errText := "-"
			if s.GetSnapErr() != nil {
				errText = s.GetSnapErr().GetDescription()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.GetAppID(), s.GetId(), s.GetType(), taken, errText)
		}
	}
	return tw.Flush()
}
