package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/edgewright/edgewright/architect"
	"github.com/edgewright/edgewright/assembler"
	"github.com/edgewright/edgewright/assembler/crafts"
	"github.com/edgewright/edgewright/check"
	"github.com/edgewright/edgewright/inspector"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

func init() {
	commands["fix"] = command{
		summary: "run fixes a check lists, as journaled remodels, and check again",
		run:     runFix,
	}
}

// runFix checks the root as check does, plans the chosen fixes
// (check.PlanFixes) from that fresh survey, applies the plan through the
// assembler (the root's lock, the journal, the stale-plan check: the
// root must not have changed since the survey), printing each fix's
// stage X/Y and percent, then checks again and prints what remains.
// Report-only fixes (unknown files) are never run; the output says so.
// Exit 0 when nothing but report-only fixes remains, exitFixes when
// more does, 1 when a fix failed or an id is not listed, 2 on bad usage.
func runFix(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("fix", "wright fix --root DIR (ID... | --all [--type TYPE]) [--config FILE]", stdout, stderr)
	root := fs.String("root", "", "device root to fix (required)")
	all := fs.Bool("all", false, "run every fix the check lists")
	typ := fs.String("type", "", "with --all: only fixes of `TYPE` (clean, mend, optimize, merge)")
	config := fs.String("config", "", "controller config `FILE` whose datastores' credentials a re-fetch uses (default: the last applied config's datastores, without credentials); no blob it names is cleaned")
	cf := addCheckFlags(fs)
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	sel := check.Selection{IDs: fs.Args(), All: *all, Type: check.Type(*typ)}
	switch {
	case *root == "":
		fmt.Fprintln(stderr, "wright fix: --root is required")
		return exitUsage
	case sel.All == (len(sel.IDs) > 0):
		fmt.Fprintln(stderr, "wright fix: name fix ids or --all, not both or neither")
		return exitUsage
	case sel.Type != "" && !sel.All:
		fmt.Fprintln(stderr, "wright fix: --type needs --all")
		return exitUsage
	case sel.Type != "" && sel.Type != check.TypeClean && sel.Type != check.TypeMend && sel.Type != check.TypeOptimize && sel.Type != check.TypeMerge:
		fmt.Fprintf(stderr, "wright fix: --type %q: want clean, mend, optimize or merge\n", sel.Type)
		return exitUsage
	case !cf.valid("fix", stderr):
		return exitUsage
	}
	for _, id := range sel.IDs {
		if !fixIDShape(id) {
			fmt.Fprintf(stderr, "wright fix: %q is not a fix id (<type>:<kind>/<id>, as wright check lists them)\n", id)
			return exitUsage
		}
	}
	var creds []materials.Datastore
	var needs []*materials.Blueprint
	if *config != "" {
		data, err := readConfig(*config)
		if err != nil {
			fmt.Fprintf(stderr, "wright fix: read config: %v\n", err)
			return exitFailed
		}
		bp := architect.Load(data)
		// What the given config names is needed too: never cleaned.
		creds, needs = bp.Datastores, []*materials.Blueprint{bp}
	}
	log, err := newLogger("text", false, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "wright fix: %v\n", err)
		return exitFailed
	}
	defer log.Sync()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fp, rep, err := cf.checkRoot(ctx, "fix", inspector.Options{Root: *root}, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "wright fix: %v\n", err)
		return exitFailed
	}
	set, err := crafts.Open(ctx, *root, crafts.Options{Logger: log})
	if err != nil {
		fmt.Fprintf(stderr, "wright fix: %v\n", err)
		return exitFailed
	}
	defer set.Close()
	var sv *stageView
	a, err := assembler.New(assembler.Options{Root: *root, Logger: log, Crafts: set.Crafts, Datastores: fixDatastores(fp, creds),
		Progress: func(e assembler.Event) { sv.event(e) }, OnRemodel: func(e assembler.RemodelEvent) { sv.remodel(e) },
		AfterJournalWrite: crashHook()})
	if err != nil {
		fmt.Fprintf(stderr, "wright fix: %v\n", err)
		return exitFailed
	}
	if fp.Journal != nil && len(fp.Journal.InFlight) > 0 {
		// Intents a run that stopped (a killed fix) left in flight make
		// their leftovers uncertain, so no fix names them. An empty plan
		// settles them, as any apply settles the intents its plan knew:
		// only when the root's lock is free (no assembler is running)
		// and the root is as surveyed. Then the root is checked again.
		n := len(fp.Journal.InFlight)
		settle := &remodel.Plan{Fingerprint: fp.Fingerprint, MadeAt: time.Now(), Remodels: []remodel.Remodel{}, Held: []remodel.Held{},
			Unreferenced: fp.Journal.Unreferenced}
		if _, err := a.Apply(ctx, settle); err != nil {
			return applyFailed(stderr, err)
		}
		fmt.Fprintf(stdout, "settled %d intents a run that stopped left in flight\n", n)
		if fp, rep, err = cf.checkRoot(ctx, "fix", inspector.Options{Root: *root}, stderr); err != nil {
			fmt.Fprintf(stderr, "wright fix: %v\n", err)
			return exitFailed
		}
	}
	fplan, err := check.PlanFixes(fp, rep, sel, time.Now(), needs...)
	if err != nil {
		fmt.Fprintf(stderr, "wright fix: %v\n", err)
		return exitFailed
	}
	sv = newStageView(stdout, fplan)
	for _, s := range fplan.Reported {
		fmt.Fprintf(stdout, "not run  %s: %s\n", s.Fix.ID, s.Why)
	}
	for _, s := range fplan.Refused {
		fmt.Fprintf(stdout, "refused  %s: %s\n", s.Fix.ID, s.Why)
	}
	failed := false
	if len(fplan.Plan.Remodels) > 0 {
		arep, err := a.Apply(ctx, fplan.Plan)
		if err != nil {
			return applyFailed(stderr, err)
		}
		failed = !arep.OK()
		fmt.Fprintf(stdout, "%d fixes run: %d remodels done, %d failed, %d skipped\n", len(fplan.Fixes), arep.Done, arep.Failed, arep.Skipped)
	}
	// Check again: what remains is what the fixes did not cure.
	_, after, err := cf.checkRoot(ctx, "fix", inspector.Options{Root: *root}, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "wright fix: check again: %v\n", err)
		return exitFailed
	}
	fmt.Fprintln(stdout, "\nchecked again:")
	printCheck(stdout, after)
	remain := 0
	for _, f := range after.Fixes {
		if f.Remedy != check.RemedyReport {
			remain++
		}
	}
	switch {
	case failed:
		return exitFailed
	case remain > 0:
		return exitFixes
	}
	return exitOK
}

// fixIDShape says whether id looks like a fix id: a type, ':', a kind,
// '/', something.
func fixIDShape(id string) bool {
	t, rest, ok := strings.Cut(id, ":")
	kind, what, ok2 := strings.Cut(rest, "/")
	switch check.Type(t) {
	case check.TypeClean, check.TypeMend, check.TypeOptimize, check.TypeMerge:
		return ok && ok2 && kind != "" && what != ""
	}
	return false
}

func applyFailed(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "wright fix: %v\n", err)
	var stale *assembler.StalePlanError
	switch {
	case errors.As(err, &stale):
		fmt.Fprintln(stderr, "wright fix: the root changed since it was checked; run the fix again")
	case errors.Is(err, assembler.ErrRootLocked):
		fmt.Fprintln(stderr, "wright fix: another assembler holds the root; run the fix when it is done")
	}
	return exitFailed
}

// fixDatastores are the datastores a re-fetch may use: the last applied
// config's, with the credentials of the same ids in the given config.
func fixDatastores(fp *materials.Floorplan, creds []materials.Datastore) []materials.Datastore {
	var out []materials.Datastore
	if fp.Journal != nil && fp.Journal.LastApplied != nil {
		out = append(out, fp.Journal.LastApplied.Datastores...)
	}
	for _, c := range creds {
		replaced := false
		for i := range out {
			if out[i].ID == c.ID {
				out[i], replaced = c, true
			}
		}
		if !replaced {
			out = append(out, c)
		}
	}
	return out
}

// stageView prints each fix's progress as VDSM reports a job's: the
// stage (the fix's remodel) X of Y, and its percent, a line a tenth.
type stageView struct {
	w      io.Writer
	mu     sync.Mutex
	stages map[remodel.ID]stageOf
	tenths map[remodel.ID]int64
}

type stageOf struct {
	fix      string
	n, total int
	action   remodel.Action
}

func newStageView(w io.Writer, fp *check.FixPlan) *stageView {
	v := &stageView{w: w, stages: map[remodel.ID]stageOf{}, tenths: map[remodel.ID]int64{}}
	actions := map[remodel.ID]remodel.Action{}
	for _, r := range fp.Plan.Remodels {
		actions[r.ID] = r.Action
	}
	for _, f := range fp.Fixes {
		for i, id := range f.Remodels {
			if _, ok := v.stages[id]; !ok { // a download two fixes share is the first's
				v.stages[id] = stageOf{fix: f.Fix.ID, n: i + 1, total: len(f.Remodels), action: actions[id]}
			}
		}
	}
	return v
}

func (v *stageView) line(id remodel.ID, what string) {
	if v == nil {
		return
	}
	s, ok := v.stages[id]
	if !ok {
		return
	}
	fmt.Fprintf(v.w, "fix %s: stage %d/%d %s %s\n", s.fix, s.n, s.total, s.action, what)
}

// remodel hears a stage start and end (called with the walk's lock held:
// it only prints).
func (v *stageView) remodel(e assembler.RemodelEvent) {
	if v == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case e.Result == nil:
		v.line(e.Remodel.ID, "started")
	case e.Result.Status == assembler.StatusDone:
		note := "done"
		if e.Result.Reason != "" {
			note += " (" + e.Result.Reason + ")"
		}
		v.line(e.Remodel.ID, note)
	case e.Result.Status == assembler.StatusFailed:
		v.line(e.Remodel.ID, "FAILED: "+e.Result.Error)
	default:
		v.line(e.Remodel.ID, "skipped: "+e.Result.Reason)
	}
}

func (v *stageView) event(e assembler.Event) {
	if v == nil || e.Known <= 0 {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	tenth := e.Done * 10 / e.Known
	if last, ok := v.tenths[e.RemodelID]; ok && last >= tenth {
		return
	}
	v.tenths[e.RemodelID] = tenth
	v.line(e.RemodelID, fmt.Sprintf("%d%%", e.Done*100/e.Known))
}
