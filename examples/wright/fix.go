package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/architect"
	"github.com/edgewright/edgewright/assembler"
	"github.com/edgewright/edgewright/assembler/crafts"
	"github.com/edgewright/edgewright/assembler/crafts/containerd"
	"github.com/edgewright/edgewright/assembler/ctrstore"
	"github.com/edgewright/edgewright/check"
	"github.com/edgewright/edgewright/inspector"
	"github.com/edgewright/edgewright/inspector/ctrsurvey"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

func init() {
	commands["fix"] = command{
		summary: "run fixes a check lists, as journaled remodels, and check again",
		run:     runFix,
	}
}

// runFix checks the root as check does, settles the intents a killed
// run left in flight (assembler.Settle), plans the chosen fixes
// (check.PlanFixes) from that fresh survey, applies the plan through the
// assembler (the root's lock, the journal, the stale-plan check: the
// root must not have changed since the survey), printing each fix's
// stage X/Y and percent, then checks again and prints what remains.
// Report-only fixes (unknown files) are never run; the output says so.
// With --containerd the root's blobs are in containerd, as wright apply
// keeps them: the check surveys it, a re-fetch or a download for a
// recreate goes there, and --containerd-content means what it means to
// apply.
//
// With --json stdout is one object (progress goes to stderr):
//
//	{"settled": N,
//	 "selected": [{"id", "type", "target", "outcome", "error", "why"}],
//	 "fixes": [...], "volumes": [...]}
//
// settled counts the intents settled; selected is each fix the command
// was asked to run, by id, with its outcome: "applied" (every stage
// done), "failed" (error says why: a stage failed or was skipped, or the
// apply as a whole failed), "reported" (report only, never run) or
// "refused" (the trust rule holds it); why says why for the last two.
// fixes and volumes are the check after the fixes, exactly as
// `wright check --json` prints them; they are left out when the apply
// as a whole failed (then "error" says why) and no check followed.
// Exit 0 when nothing but report-only fixes remains, exitFixes when
// more does, 1 when a fix failed or an id is not listed, 2 on bad usage.
func runFix(args []string, stdout, stderr io.Writer) int {
	// The log and, with --json, the stage lines share stderr.
	stderr = &lockedWriter{w: stderr}
	fs := newFlags("fix", "wright fix --root DIR (ID... | --all [--type TYPE]) [--config FILE] [--json] [--containerd SOCKET [--namespace NS] [--containerd-content DIR]]", stdout, stderr)
	ff := addFixFlags(fs)
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	sel, ok := ff.selection(stderr)
	if !ok {
		return exitUsage
	}
	creds, needs, err := fixConfig(*ff.config)
	if err != nil {
		fmt.Fprintf(stderr, "wright fix: read config: %v\n", err)
		return exitFailed
	}
	log, err := newLogger("text", false, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "wright fix: %v\n", err)
		return exitFailed
	}
	defer log.Sync()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r := &fixRun{ff: ff, stdout: stdout, stderr: stderr, progress: stdout}
	if *ff.asJSON {
		r.progress = stderr
	}
	fp, rep, err := r.check(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "wright fix: %v\n", err)
		return exitFailed
	}
	closeCrafts, err := r.open(ctx, log, fixDatastores(fp, creds))
	if err != nil {
		fmt.Fprintf(stderr, "wright fix: %v\n", err)
		return exitFailed
	}
	defer closeCrafts()
	return r.run(ctx, fp, rep, sel, needs)
}

// fixFlags are fix's flags.
type fixFlags struct {
	fs                                          *flag.FlagSet
	root, typ, config, ctrSocket, ctrNS, ctrDir *string
	all, asJSON                                 *bool
	cf                                          *checkFlags
}

func addFixFlags(fs *flag.FlagSet) *fixFlags {
	return &fixFlags{fs: fs,
		root:      fs.String("root", "", "device root to fix (required)"),
		all:       fs.Bool("all", false, "run every fix the check lists"),
		typ:       fs.String("type", "", "with --all: only fixes of `TYPE` (clean, mend, optimize, merge)"),
		config:    fs.String("config", "", "controller config `FILE` whose datastores' credentials a re-fetch uses (default: the last applied config's datastores, without credentials); no blob it names is cleaned"),
		asJSON:    fs.Bool("json", false, `print {"settled", "selected": [...], "fixes": [...], "volumes": [...]} as JSON (progress on stderr)`),
		ctrSocket: fs.String("containerd", "", "the root's blobs are in the containerd at `SOCKET` (as wright apply --containerd keeps them): checked, and re-fetched into it"),
		ctrNS:     fs.String("namespace", defaultNamespace, "containerd `NAMESPACE` (with --containerd)"),
		ctrDir:    fs.String("containerd-content", containerd.DefaultContentDir, "containerd's content `DIR`, read directly for raw and qcow2 volumes when there (with --containerd); when given, the check follows overlays backed by its blobs and --strategy space re-creates overlays on them"),
		cf:        addCheckFlags(fs),
	}
}

// selection is the fixes the arguments name, or false (said on stderr)
// when the usage is bad.
func (ff *fixFlags) selection(stderr io.Writer) (check.Selection, bool) {
	sel := check.Selection{IDs: ff.fs.Args(), All: *ff.all, Type: check.Type(*ff.typ)}
	bad := func(format string, args ...any) (check.Selection, bool) {
		fmt.Fprintf(stderr, "wright fix: "+format+"\n", args...)
		return sel, false
	}
	switch {
	case *ff.root == "":
		return bad("--root is required")
	case sel.All == (len(sel.IDs) > 0):
		return bad("name fix ids or --all, not both or neither")
	case sel.Type != "" && !sel.All:
		return bad("--type needs --all")
	case sel.Type != "" && sel.Type != check.TypeClean && sel.Type != check.TypeMend && sel.Type != check.TypeOptimize && sel.Type != check.TypeMerge:
		return bad("--type %q: want clean, mend, optimize or merge", sel.Type)
	case *ff.ctrSocket == "" && (flagSet(ff.fs, "namespace") || flagSet(ff.fs, "containerd-content")):
		return bad("--namespace and --containerd-content need --containerd SOCKET")
	case *ff.ctrSocket != "" && *ff.ctrNS == "":
		return bad("--namespace must not be empty")
	case !ff.cf.valid("fix", stderr):
		return sel, false
	}
	for _, id := range sel.IDs {
		if !fixIDShape(id) {
			return bad("%q is not a fix id (<type>:<kind>/<id>, as wright check lists them)", id)
		}
	}
	return sel, true
}

// fixConfig reads the given config: its datastores' credentials, and
// the Blueprint whose content no fix may clean.
func fixConfig(path string) ([]materials.Datastore, []*materials.Blueprint, error) {
	if path == "" {
		return nil, nil, nil
	}
	data, err := readConfig(path)
	if err != nil {
		return nil, nil, err
	}
	bp := architect.Load(data)
	return bp.Datastores, []*materials.Blueprint{bp}, nil
}

// fixRun is one run of wright fix: where it prints, and the assembler
// it applies through.
type fixRun struct {
	ff             *fixFlags
	stdout, stderr io.Writer
	progress       io.Writer // stage lines and notes: stdout, or stderr with --json
	a              *assembler.Assembler
	sv             *stageView
	settled        int
}

// surveyOptions are the check's: the root, and containerd's store and
// content directory as the flags say.
func (r *fixRun) surveyOptions() inspector.Options {
	opts := inspector.Options{Root: *r.ff.root}
	if *r.ff.ctrSocket != "" {
		opts.Containerd = &ctrsurvey.Daemon{Socket: *r.ff.ctrSocket, Namespace: *r.ff.ctrNS}
		if flagSet(r.ff.fs, "containerd-content") {
			opts.ContainerdContentDir = *r.ff.ctrDir
		}
	}
	return opts
}

func (r *fixRun) check(ctx context.Context) (*materials.Floorplan, check.Report, error) {
	if *r.ff.ctrSocket != "" {
		r.ff.cf.store = materials.BlobStoreContainerd
	}
	return r.ff.cf.checkRoot(ctx, "fix", r.surveyOptions(), r.stderr)
}

// open wires the crafts (containerd's with --containerd, as apply does)
// and the assembler; the func it returns closes the crafts.
func (r *fixRun) open(ctx context.Context, log *zap.Logger, datastores []materials.Datastore) (func(), error) {
	copts := crafts.Options{Logger: log, ContainerdContentDir: *r.ff.ctrDir}
	if *r.ff.ctrSocket != "" {
		copts.Containerd = &ctrstore.Options{Socket: *r.ff.ctrSocket, Namespace: *r.ff.ctrNS}
	}
	set, err := crafts.Open(ctx, *r.ff.root, copts)
	if err != nil {
		return nil, err
	}
	aopts := assembler.Options{Root: *r.ff.root, Logger: log, Crafts: set.Crafts, Datastores: datastores,
		Progress: func(e assembler.Event) { r.sv.event(e) }, OnRemodel: func(e assembler.RemodelEvent) { r.sv.remodel(e) },
		AfterJournalWrite: crashHook()}
	if so := r.surveyOptions(); so.ContainerdContentDir != "" {
		// Said, not defaulted, as with apply: the stale-plan survey
		// follows overlays backed by its blobs as the check's did.
		aopts.ContainerdContentDir = so.ContainerdContentDir
	}
	if r.a, err = assembler.New(aopts); err != nil {
		set.Close()
		return nil, err
	}
	return func() { set.Close() }, nil
}

// run settles, plans, applies, checks again and reports.
func (r *fixRun) run(ctx context.Context, fp *materials.Floorplan, rep check.Report, sel check.Selection, needs []*materials.Blueprint) int {
	fp, rep, err := r.settle(ctx, fp, rep)
	if err != nil {
		return r.failed(err, nil)
	}
	fplan, arep, err := r.planAndApply(ctx, fp, rep, sel, needs)
	if err != nil {
		var pe *planError
		if errors.As(err, &pe) {
			fmt.Fprintf(r.stderr, "wright fix: %v\n", pe.err)
			return exitFailed
		}
		return r.failed(err, fplan)
	}
	// Check again: what remains is what the fixes did not cure.
	_, after, err := r.check(ctx)
	if err != nil {
		fmt.Fprintf(r.stderr, "wright fix: check again: %v\n", err)
		return exitFailed
	}
	if err := r.report(fplan, arep, nil, &after); err != nil {
		fmt.Fprintf(r.stderr, "wright fix: write: %v\n", err)
		return exitFailed
	}
	return fixVerdict(arep, after)
}

// planError is a fix selection the check refused (an unknown id): a
// usage failure, not an apply's.
type planError struct{ err error }

func (e *planError) Error() string { return e.err.Error() }

// planAndApply plans the selected fixes and applies them. A root that
// changed between the check and the apply (the first fix on a root
// creates its journal, which the check did not see) is checked and
// planned once more: fix ids are stable, so the selection still holds.
func (r *fixRun) planAndApply(ctx context.Context, fp *materials.Floorplan, rep check.Report, sel check.Selection, needs []*materials.Blueprint) (*check.FixPlan, *assembler.Report, error) {
	for attempt := 0; ; attempt++ {
		fplan, err := check.PlanFixes(fp, rep, sel, time.Now(), needs...)
		if err != nil {
			return nil, nil, &planError{err}
		}
		r.sv = newStageView(r.progress, fplan)
		if attempt == 0 && !*r.ff.asJSON {
			printSkipped(r.stdout, fplan)
		}
		if len(fplan.Plan.Remodels) == 0 {
			return fplan, nil, nil
		}
		arep, err := r.a.Apply(ctx, fplan.Plan)
		if errors.Is(err, assembler.ErrStalePlan) && attempt == 0 {
			if fp, rep, err = r.check(ctx); err != nil {
				return fplan, nil, fmt.Errorf("check again: %w", err)
			}
			continue
		}
		if err != nil {
			return fplan, nil, err
		}
		if !*r.ff.asJSON {
			fmt.Fprintf(r.stdout, "%d fixes run: %d remodels done, %d failed, %d skipped\n", len(fplan.Fixes), arep.Done, arep.Failed, arep.Skipped)
		}
		return fplan, arep, nil
	}
}

// settle settles the intents a run that stopped (a killed fix) left in
// flight: they make their leftovers uncertain, so no fix names them.
// Then the root is checked again.
func (r *fixRun) settle(ctx context.Context, fp *materials.Floorplan, rep check.Report) (*materials.Floorplan, check.Report, error) {
	if fp.Journal == nil || len(fp.Journal.InFlight) == 0 {
		return fp, rep, nil
	}
	n, err := r.a.Settle(ctx, fp)
	if err != nil {
		return nil, check.Report{}, err
	}
	r.settled = n
	fmt.Fprintf(r.progress, "settled %d intents a run that stopped left in flight\n", n)
	fp, rep, err = r.check(ctx)
	if err != nil {
		return nil, check.Report{}, fmt.Errorf("check: %w", err)
	}
	return fp, rep, nil
}

// failed reports an apply (or settle) that failed as a whole.
func (r *fixRun) failed(err error, fplan *check.FixPlan) int {
	if *r.ff.asJSON {
		if werr := r.report(fplan, nil, err, nil); werr != nil {
			fmt.Fprintf(r.stderr, "wright fix: write: %v\n", werr)
		}
	}
	return applyFailed(r.stderr, err)
}

// fixVerdict is the exit code: 1 when a fix failed, exitFixes when
// more than report-only fixes remain.
func fixVerdict(arep *assembler.Report, after check.Report) int {
	remain := 0
	for _, f := range after.Fixes {
		if f.Remedy != check.RemedyReport {
			remain++
		}
	}
	switch {
	case arep != nil && !arep.OK():
		return exitFailed
	case remain > 0:
		return exitFixes
	}
	return exitOK
}

func printSkipped(w io.Writer, fplan *check.FixPlan) {
	for _, s := range fplan.Reported {
		fmt.Fprintf(w, "not run  %s: %s\n", s.Fix.ID, s.Why)
	}
	for _, s := range fplan.Refused {
		fmt.Fprintf(w, "refused  %s: %s\n", s.Fix.ID, s.Why)
	}
}

// fixResult is what --json prints (runFix says the keys).
type fixResult struct {
	Settled  int          `json:"settled"`
	Selected []fixOutcome `json:"selected"`
	// The check after the fixes, its keys inline; nil when none ran.
	*check.Report
	Error string `json:"error,omitempty"`
}

// fixOutcome is what became of one selected fix.
type fixOutcome struct {
	ID      string                `json:"id"`
	Type    check.Type            `json:"type"`
	Target  materials.MaterialRef `json:"target"`
	Outcome string                `json:"outcome"`
	Error   string                `json:"error,omitempty"`
	Why     string                `json:"why,omitempty"`
}

// The outcomes of a selected fix.
const (
	outcomeApplied  = "applied"
	outcomeFailed   = "failed"
	outcomeReported = "reported"
	outcomeRefused  = "refused"
)

// report prints the check after the fixes (after; nil when the apply
// failed as a whole with applyErr): a table, or with --json the whole
// result.
func (r *fixRun) report(fplan *check.FixPlan, arep *assembler.Report, applyErr error, after *check.Report) error {
	if !*r.ff.asJSON {
		fmt.Fprintln(r.stdout, "\nchecked again:")
		printCheck(r.stdout, *after)
		return nil
	}
	res := fixResult{Settled: r.settled, Selected: fixOutcomes(fplan, arep, applyErr), Report: after, Error: errText(applyErr)}
	enc := json.NewEncoder(r.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(res)
}

// fixOutcomes is each selected fix's outcome, by id: applied when every
// stage is done, else failed with the first stage's error that was not.
func fixOutcomes(fplan *check.FixPlan, arep *assembler.Report, applyErr error) []fixOutcome {
	out := []fixOutcome{}
	if fplan == nil {
		return out
	}
	results := map[remodel.ID]assembler.Result{}
	if arep != nil {
		for _, res := range arep.Results {
			results[res.RemodelID] = res
		}
	}
	of := func(f check.Fix, outcome string) fixOutcome {
		return fixOutcome{ID: f.ID, Type: f.Type, Target: f.Target, Outcome: outcome}
	}
	for _, fs := range fplan.Fixes {
		o := of(fs.Fix, outcomeApplied)
		for _, id := range fs.Remodels {
			if o.Error != "" {
				break
			}
			switch res, ok := results[id]; {
			case applyErr != nil:
				o.Error = applyErr.Error()
			case !ok:
				o.Error = "stage " + string(id) + " did not run"
			case res.Status == assembler.StatusFailed:
				o.Error = "stage " + string(id) + " failed: " + res.Error
			case res.Status != assembler.StatusDone:
				o.Error = "stage " + string(id) + " skipped: " + res.Reason
			}
		}
		if o.Error != "" {
			o.Outcome = outcomeFailed
		}
		out = append(out, o)
	}
	for _, s := range fplan.Reported {
		o := of(s.Fix, outcomeReported)
		o.Why = s.Why
		out = append(out, o)
	}
	for _, s := range fplan.Refused {
		o := of(s.Fix, outcomeRefused)
		o.Why = s.Why
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
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
