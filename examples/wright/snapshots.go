package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/edgewright/edgewright/inspector"
	"github.com/edgewright/edgewright/materials"
)

func init() {
	commands["snapshots"] = command{
		summary: "list the snapshots on a root, with what the last applied config says of each",
		run:     runSnapshots,
	}
}

// snapshotLine is one snapshot of one volume file: what the disk holds
// and, when the last applied config asked for it, whose it is.
type snapshotLine struct {
	Volume  string                 `json:"volume"`
	Path    string                 `json:"path"`
	Name    string                 `json:"name"`
	Created time.Time              `json:"created"`
	Copy    string                 `json:"copy,omitempty"`
	State   materials.State        `json:"state"`
	Reason  string                 `json:"reason,omitempty"`
	App     string                 `json:"app,omitempty"`
	Type    materials.SnapshotType `json:"type,omitempty"`
	Active  bool                   `json:"active,omitempty"`
	// Lineage is the journal's record of this snapshot of this volume
	// generation: when it was taken, for which config version.
	Lineage *materials.SnapshotLineage `json:"lineage,omitempty"`
}

// runSnapshots lists every snapshot the survey finds: qcow2 internal ones
// and raw or directory copies, joined with the last applied Blueprint's
// snapshots (app, type, active) by name. A snapshot no config named is
// listed without an app: someone else's, or one the config dropped.
func runSnapshots(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("snapshots", "wright snapshots --root DIR [--json]", stdout, stderr)
	root := fs.String("root", "", "device root (required)")
	asJSON := fs.Bool("json", false, "print JSON")
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if *root == "" {
		fmt.Fprintln(stderr, "wright snapshots: --root is required")
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wright snapshots: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	opts := inspector.Options{Root: *root}
	if j := openJournal("snapshots", *root, stderr, "snapshots are listed without their apps"); j != nil {
		defer j.Close()
		opts.Journal = j
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fp, err := inspector.Survey(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "wright snapshots: %v\n", err)
		return exitFailed
	}
	lines := snapshotLines(fp)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(struct {
			Snapshots []snapshotLine `json:"snapshots"`
		}{lines})
	} else {
		err = writeSnapshotLines(stdout, lines)
	}
	if err != nil {
		fmt.Fprintf(stderr, "wright snapshots: write: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// writeSnapshotLines writes the lineage as a table: each snapshot with
// where it is kept, its state, and the app, type and config version the
// journal records for it.
func writeSnapshotLines(w io.Writer, lines []snapshotLine) error {
	if len(lines) == 0 {
		_, err := fmt.Fprintln(w, "no snapshots")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "volume\tsnapshot\ttaken\tkept as\tstate\tapp\ttype\tconfig version")
	for _, l := range lines {
		kept := "internal (qcow2)"
		if l.Copy != "" {
			kept = l.Copy
		}
		typ := string(l.Type)
		if l.Active {
			typ += " (active)"
		}
		version := "-"
		if l.Lineage != nil {
			version = dash(l.Lineage.ConfigVersion)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.Volume, l.Name, l.Created.UTC().Format(time.RFC3339), kept, dash(string(l.State)), dash(l.App), dash(typ), version)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// snapshotLines joins the survey's snapshots with the last applied
// Blueprint's, by snapshot id and volume.
func snapshotLines(fp *materials.Floorplan) []snapshotLine {
	type key struct{ id, volume string }
	asked := map[key]materials.Snapshot{}
	if fp.Journal != nil && fp.Journal.LastApplied != nil {
		for _, s := range fp.Journal.LastApplied.Snapshots {
			for _, v := range s.Volumes {
				asked[key{s.ID, v.Volume}] = s
			}
		}
	}
	// The journal's lineage, by snapshot and volume generation: whose
	// snapshot it is even when the config no longer lists it.
	type gen struct {
		id string
		k  materials.VolumeKey
	}
	lineage := map[gen]materials.SnapshotLineage{}
	if fp.Journal != nil {
		for _, l := range fp.Journal.Lineage {
			lineage[gen{l.Snapshot, l.Volume}] = l
		}
	}
	lines := []snapshotLine{}
	for _, v := range fp.Volumes {
		for _, s := range v.Snapshots {
			l := snapshotLine{Volume: v.Key().String(), Path: v.Path, Name: s.Name, Created: s.Created, Copy: s.Path, State: s.State, Reason: s.Reason}
			if a, ok := asked[key{s.Name, v.ID}]; ok {
				l.App, l.Type, l.Active = a.App, a.Type, a.Active
			}
			if r, ok := lineage[gen{s.Name, v.Key()}]; ok {
				l.Lineage = &r
				l.App, l.Type = r.App, r.Type
				delete(lineage, gen{s.Name, v.Key()})
			}
			lines = append(lines, l)
		}
	}
	// Records whose snapshot the disk does not show (a crash in between;
	// the next apply drops them).
	for _, r := range fp.Journal.GetLineage() {
		if _, left := lineage[gen{r.Snapshot, r.Volume}]; left {
			lines = append(lines, snapshotLine{Volume: r.Volume.String(), Name: r.Snapshot, Created: r.Taken, App: r.App, Type: r.Type,
				Lineage: &r, Reason: "recorded in the journal, not on disk"})
		}
	}
	return lines
}
