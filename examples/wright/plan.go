package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/edgewright/edgewright/architect"
	"github.com/edgewright/edgewright/assembler"
	"github.com/edgewright/edgewright/assembler/crafts/chunkfetch"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/foreman"
	"github.com/edgewright/edgewright/inspector"
	"github.com/edgewright/edgewright/inspector/ctrsurvey"
	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

func init() {
	commands["plan"] = command{
		summary: "draw the Blueprint, survey the root and print the construction plan",
		run:     runPlan,
	}
}

// planFlags are plan's flags.
type planFlags struct {
	config, root, socket, ns, ctrContent *string
	asJSON, allowMass, cleanUp           *bool
	noJournal, scout                     *bool
	grace                                *time.Duration
	share                                *float64
	strategy                             *materials.Strategy
}

func addPlanFlags(flags *flag.FlagSet) *planFlags {
	return &planFlags{
		config:     flags.String("config", "", "controller config `FILE` (binary protobuf or proto-JSON; - for stdin)"),
		root:       flags.String("root", "", "device root `DIR` to survey"),
		asJSON:     flags.Bool("json", false, "print the plan as JSON"),
		socket:     flags.String("containerd", "", "containerd `SOCKET`: survey its content store and plan downloads into it"),
		ns:         flags.String("namespace", defaultNamespace, "containerd namespace (with --containerd)"),
		ctrContent: flags.String("containerd-content", "", "containerd's content `DIR` (with --containerd): the survey follows overlays backed by its blobs, and --strategy space plans overlays on them"),
		grace:      flags.Duration("grace", foreman.DefaultGracePeriod, "keep unneeded blobs this long after their last reference went away"),
		share:      flags.Float64("mass-delete-share", foreman.DefaultMassDeleteShare, "hold the volume deletes of a plan that deletes more than this share of volumes"),
		allowMass:  flags.Bool("allow-mass-delete", false, "let a mass delete through"),
		cleanUp:    flags.Bool("cleanup", false, "delete unknown and broken files instead of only reporting them"),
		strategy:   strategyFlag(flags),
		noJournal:  flags.Bool("no-journal", false, "do not read <root>/persist/edgewright/journal.db"),
		scout:      flags.Bool("scout", false, "ask each VM image download's HTTP(S) datastore for a chunk index first, so the plan says what it fetches (reads the index and the local blobs, writes nothing)"),
	}
}

// runPlan prints the plan that would make --root match --config, as text
// (like terraform plan) or JSON. It changes nothing. Exit 0 whether or not
// changes are planned; 1 when the config is bad (errors, or not decodable:
// the plan is still printed, with every destructive remodel held) or the
// root cannot be read; 2 on bad usage.
func runPlan(args []string, stdout, stderr io.Writer) int {
	flags := newFlags("plan", "wright plan --config FILE --root DIR [--json] [--scout] [--containerd SOCKET [--namespace NS]]", stdout, stderr)
	pf := addPlanFlags(flags)
	if code, ok := parseFlags(flags, args, stdout); !ok {
		return code
	}
	if *pf.config == "" || *pf.root == "" || flags.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: wright plan --config FILE --root DIR [--json] [--containerd SOCKET --namespace NS]")
		return exitUsage
	}
	data, err := readConfig(*pf.config)
	if err != nil {
		fmt.Fprintf(stderr, "wright plan: read config: %v\n", err)
		return exitFailed
	}
	bp := architect.Load(data)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fp, closeJournal, err := pf.survey(ctx, stderr)
	defer closeJournal()
	if err != nil {
		fmt.Fprintf(stderr, "wright plan: %v\n", err)
		return exitFailed
	}
	plan := pf.plan(ctx, bp, fp)
	if err := printPlan(stdout, plan, *pf.asJSON); err != nil {
		fmt.Fprintf(stderr, "wright plan: write: %v\n", err)
		return exitFailed
	}
	return planVerdict(stderr, *pf.root, *pf.config, fp, bp)
}

// survey surveys the root (with its journal unless --no-journal), or
// makes the Floorplan of an empty device when the root is not there
// yet. The caller calls the func it gets when done with the Floorplan.
func (pf *planFlags) survey(ctx context.Context, stderr io.Writer) (*materials.Floorplan, func(), error) {
	sopts := inspector.Options{Root: *pf.root}
	if *pf.socket != "" {
		sopts.Containerd = &ctrsurvey.Daemon{Socket: *pf.socket, Namespace: *pf.ns}
		sopts.ContainerdContentDir = *pf.ctrContent
	}
	done := func() {}
	if !*pf.noJournal {
		if j := openJournal("plan", *pf.root, stderr, "no last applied config, in-flight items or grace clocks"); j != nil {
			done = func() { j.Close() }
			sopts.Journal = j
		}
	}
	if _, serr := os.Lstat(*pf.root); errors.Is(serr, fs.ErrNotExist) {
		// apply creates the root: plan what it would do there.
		fmt.Fprintf(stderr, "wright plan: %s does not exist yet; planning for an empty device\n", *pf.root)
		fp, err := emptyFloorplan(*pf.root)
		return fp, done, err
	}
	fp, err := inspector.Survey(ctx, sopts)
	return fp, done, err
}

// plan is the foreman's plan of fp for bp, scouted for chunk offers
// with --scout.
func (pf *planFlags) plan(ctx context.Context, bp *materials.Blueprint, fp *materials.Floorplan) *remodel.Plan {
	opts := foreman.Options{
		Now:             time.Now(),
		Space:           fp.Space,
		GracePeriod:     *pf.grace,
		MassDeleteShare: *pf.share,
		AllowMassDelete: *pf.allowMass,
		CleanUp:         *pf.cleanUp,
		Strategy:        *pf.strategy,
	}
	if *pf.socket != "" {
		opts.Store = materials.BlobStoreContainerd
		opts.ContentDirKnown = *pf.ctrContent != ""
	}
	plan := foreman.Plan(bp, fp, opts)
	if *pf.scout {
		if opts.Offers = scoutOffers(ctx, *pf.root, bp, plan); len(opts.Offers) > 0 {
			plan = foreman.Plan(bp, fp, opts)
		}
	}
	return plan
}

func printPlan(w io.Writer, plan *remodel.Plan, asJSON bool) error {
	if !asJSON {
		return remodel.RenderText(w, plan)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(plan)
}

// planVerdict prints the survey's and the config's diagnostics and says
// whether the config let every remodel be planned.
func planVerdict(stderr io.Writer, root, config string, fp *materials.Floorplan, bp *materials.Blueprint) int {
	for _, d := range fp.Diagnostics {
		fmt.Fprintf(stderr, "%s: %s\n", root, d)
	}
	for _, d := range bp.Diagnostics {
		fmt.Fprintf(stderr, "%s: %s\n", config, d)
	}
	if !bp.Valid() {
		if !bp.Complete {
			fmt.Fprintf(stderr, "wright plan: %s: the Blueprint is incomplete; no destructive remodel is planned\n", config)
		} else {
			fmt.Fprintf(stderr, "wright plan: %s: the config has errors; no destructive remodel is planned\n", config)
		}
		return exitFailed
	}
	return exitOK
}

// scoutOffers asks the chunk fetcher `wright apply` uses (over the blob
// directory's seeds) what each download's datastore offers; it writes
// nothing.
func scoutOffers(ctx context.Context, root string, bp *materials.Blueprint, plan *remodel.Plan) []materials.ChunkOffer {
	cf := &chunkfetch.Fetcher{Whole: &assembler.HTTPFetcher{}, Seeds: chunkfetch.DirSeeds(filepath.Join(layout.BlobsPath(root), "sha256"), 0)}
	fetchers := map[materials.DatastoreType]device.Fetcher{materials.DatastoreHTTP: cf, materials.DatastoreHTTPS: cf}
	return assembler.ScoutOffers(ctx, fetchers, bp, plan, 0, nil)
}

// emptyFloorplan is the Floorplan of a device whose root is not made yet:
// nothing on it, and the free space of the nearest directory above it
// that exists.
func emptyFloorplan(root string) (*materials.Floorplan, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("root %s: %w", root, err)
	}
	fp := &materials.Floorplan{
		Root: abs, Volumes: []materials.VolumeFile{}, Blobs: []materials.BlobRecord{},
		Images: []materials.ImageRecord{}, Diagnostics: materials.Diagnostics{},
	}
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		var st unix.Statfs_t
		if err := unix.Statfs(dir, &st); err == nil {
			fp.Space.TotalBytes = st.Blocks * uint64(st.Bsize)
			fp.Space.FreeBytes = st.Bavail * uint64(st.Bsize)
			break
		}
		if dir == "/" {
			break
		}
	}
	return fp, nil
}
