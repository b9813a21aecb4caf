package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/edgewright/edgewright/architect"
	"github.com/edgewright/edgewright/foreman"
	"github.com/edgewright/edgewright/inspector"
	"github.com/edgewright/edgewright/inspector/ctrsurvey"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

func init() {
	commands["plan"] = command{
		summary: "draw the Blueprint, survey the root and print the construction plan",
		run:     runPlan,
	}
}

// runPlan prints the plan that would make --root match --config, as text
// (like terraform plan) or JSON. It changes nothing. Exit 0 whether or not
// changes are planned; 1 when the config is bad (errors, or not decodable:
// the plan is still printed, with every destructive remodel held) or the
// root cannot be read; 2 on bad usage.
func runPlan(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wright plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "controller config `FILE` (binary protobuf or proto-JSON; - for stdin)")
	root := fs.String("root", "", "device root `DIR` to survey")
	asJSON := fs.Bool("json", false, "print the plan as JSON")
	socket := fs.String("containerd", "", "containerd `SOCKET`: survey its content store and plan downloads into it")
	ns := fs.String("namespace", "default", "containerd namespace (with --containerd)")
	grace := fs.Duration("grace", foreman.DefaultGracePeriod, "keep unneeded blobs this long after their last reference went away")
	share := fs.Float64("mass-delete-share", foreman.DefaultMassDeleteShare, "hold the volume deletes of a plan that deletes more than this share of volumes")
	allowMass := fs.Bool("allow-mass-delete", false, "let a mass delete through")
	cleanUp := fs.Bool("cleanup", false, "delete unknown and broken files instead of only reporting them")
	noJournal := fs.Bool("no-journal", false, "do not read <root>/persist/edgewright/journal.db")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *config == "" || *root == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: wright plan --config FILE --root DIR [--json] [--containerd SOCKET --namespace NS]")
		return 2
	}

	data, err := readConfig(*config)
	if err != nil {
		fmt.Fprintf(stderr, "wright plan: read config: %v\n", err)
		return 1
	}
	bp := architect.Load(data)

	sopts := inspector.Options{Root: *root}
	if *socket != "" {
		sopts.Containerd = &ctrsurvey.Daemon{Socket: *socket, Namespace: *ns}
	}
	if !*noJournal {
		if j := openJournal("plan", *root, stderr, "no last applied config, in-flight items or grace clocks"); j != nil {
			defer j.Close()
			sopts.Journal = j
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fp, err := inspector.Survey(ctx, sopts)
	if err != nil {
		fmt.Fprintf(stderr, "wright plan: %v\n", err)
		return 1
	}

	opts := foreman.Options{
		Now:             time.Now(),
		FreeBytes:       foreman.FreeBytesOf(fp),
		GracePeriod:     *grace,
		MassDeleteShare: *share,
		AllowMassDelete: *allowMass,
		CleanUp:         *cleanUp,
	}
	if *socket != "" {
		opts.Store = materials.BlobStoreContainerd
	}
	plan := foreman.Plan(bp, fp, opts)

	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		err = enc.Encode(plan)
	} else {
		err = remodel.RenderText(stdout, plan)
	}
	if err != nil {
		fmt.Fprintf(stderr, "wright plan: write: %v\n", err)
		return 1
	}
	for _, d := range fp.Diagnostics {
		fmt.Fprintf(stderr, "%s: %s\n", *root, d)
	}
	for _, d := range bp.Diagnostics {
		fmt.Fprintf(stderr, "%s: %s\n", *config, d)
	}
	if !bp.Valid() {
		if !bp.Complete {
			fmt.Fprintf(stderr, "wright plan: %s: the Blueprint is incomplete; no destructive remodel is planned\n", *config)
		} else {
			fmt.Fprintf(stderr, "wright plan: %s: the config has errors; no destructive remodel is planned\n", *config)
		}
		return 1
	}
	return 0
}
