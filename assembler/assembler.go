package assembler

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/opencontainers/go-digest"
	"go.uber.org/zap"

	"github.com/edgewright/edgewright/assembler/crafts/rootdir"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/inspector"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// RetryPolicy says how often and how patiently a remodel is retried.
type RetryPolicy struct {
	// Attempts bounds tries on retryable errors (default 5).
	Attempts int
	// Base and Max bound the exponential backoff between tries
	// (defaults 500ms and 30s).
	Base, Max time.Duration
	// DigestAttempts bounds tries after sha mismatches (default 3).
	DigestAttempts int
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Attempts <= 0 {
		p.Attempts = 5
	}
	if p.Base <= 0 {
		p.Base = 500 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 30 * time.Second
	}
	if p.DigestAttempts <= 0 {
		p.DigestAttempts = 3
	}
	return p
}

// backoff is Base·2^n, capped at Max, with up to 20% jitter.
func (p RetryPolicy) backoff(n int) time.Duration {
	d := p.Base
	for i := 0; i < n && d < p.Max; i++ {
		d *= 2
	}
	if d > p.Max {
		d = p.Max
	}
	return d + time.Duration(rand.Int64N(int64(d)/5+1))
}

// SurveyFunc surveys the root (reading the given journal) for the
// stale-plan check and the converge loop.
type SurveyFunc func(ctx context.Context, j device.Journal) (*materials.Floorplan, error)

// Options configure an Assembler.
type Options struct {
	// Root is the device root (required).
	Root   string
	Logger *zap.Logger
	// Concurrency overrides an action's default (remodel.ActionFacts) per action.
	Concurrency map[remodel.Action]int
	Crafts      Crafts
	// Progress receives monotone progress events; it must not block long.
	Progress func(Event)
	// OnRemodel hears each remodel start its work (once its intent is in
	// the journal) and end (done, failed or skipped). It is called with
	// the walk's lock held: it must not block or call into the Assembler.
	OnRemodel func(RemodelEvent)
	Retry     RetryPolicy
	// Clock is the time source (time.Now when nil).
	Clock func() time.Time
	// WaitForLock makes a second assembler on the same root wait (bounded
	// by its context) instead of failing with ErrRootLocked.
	WaitForLock bool
	// Survey is used to refuse stale plans and by Converge; when nil, the
	// inspector (with Options.Containerd).
	Survey SurveyFunc
	// Containerd, when set, adds a content store beyond the root
	// (containerd: a *ctrsurvey.Daemon) to the default survey.
	Containerd inspector.ContentStore
	// ContainerdContentDir, when set, is containerd's content directory
	// on this host: the default survey follows overlays backed by its
	// blobs (inspector.Options.ContainerdContentDir), and Converge plans
	// space overlays on them (foreman.Options.ContentDirKnown).
	ContainerdContentDir string
	// Datastores used when Apply is given no Blueprint.
	Datastores []materials.Datastore
	// Files, Locker and Journals are the root's directories, lock and
	// journal as the executor touches them; a real root directory's
	// (package rootdir) when nil. The in-memory device sets all three.
	Files    device.Files
	Locker   device.Locker
	Journals device.JournalOpener
	// AfterJournalWrite is called after each durable journal commit with
	// its sequence number in this session (fault injection).
	AfterJournalWrite func(n int)
}

// Assembler carries out plans on one root.
type Assembler struct {
	opts        Options
	log         *zap.Logger
	retry       RetryPolicy
	concurrency map[remodel.Action]int
	crafts      Crafts
	files       device.Files
	locker      device.Locker
	journals    device.JournalOpener
	now         func() time.Time
	keys        *keyLocks
}

// New checks the options and fills in default crafts.
func New(opts Options) (*Assembler, error) {
	if opts.Root == "" {
		return nil, errors.New("assembler: Options.Root is empty")
	}
	a := &Assembler{opts: opts, log: opts.Logger, retry: opts.Retry.withDefaults(), now: opts.Clock, keys: newKeyLocks()}
	if a.log == nil {
		a.log = zap.NewNop()
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.concurrency = map[remodel.Action]int{}
	for _, act := range remodel.Actions {
		f, _ := act.Facts()
		a.concurrency[act] = f.Concurrency
	}
	for k, v := range opts.Concurrency {
		if v <= 0 {
			return nil, fmt.Errorf("assembler: Options.Concurrency[%s] = %d: want > 0", k, v)
		}
		a.concurrency[k] = v
	}
	a.files, a.locker, a.journals = opts.Files, opts.Locker, opts.Journals
	if a.files == nil || a.locker == nil || a.journals == nil {
		rd := rootdir.New(opts.Root)
		if a.files == nil {
			a.files = rd
		}
		if a.locker == nil {
			a.locker = rd
		}
		if a.journals == nil {
			a.journals = rd
		}
	}
	c := opts.Crafts
	fetchers := map[materials.DatastoreType]Fetcher{}
	for k, v := range c.Fetchers {
		fetchers[k] = v
	}
	if fetchers[materials.DatastoreHTTP] == nil || fetchers[materials.DatastoreHTTPS] == nil {
		hf := &HTTPFetcher{Logger: a.log}
		if fetchers[materials.DatastoreHTTP] == nil {
			fetchers[materials.DatastoreHTTP] = hf
		}
		if fetchers[materials.DatastoreHTTPS] == nil {
			fetchers[materials.DatastoreHTTPS] = hf
		}
	}
	c.Fetchers = fetchers
	stores := map[materials.BlobStore]BlobStore{}
	for k, v := range c.Stores {
		stores[k] = v
	}
	if stores[materials.BlobStoreDir] == nil {
		stores[materials.BlobStoreDir] = NewBlobDir(opts.Root)
	}
	c.Stores = stores
	if c.DefaultStore == "" {
		c.DefaultStore = materials.BlobStoreDir
	}
	if c.Stores[c.DefaultStore] == nil {
		return nil, fmt.Errorf("assembler: Crafts.DefaultStore %q has no store", c.DefaultStore)
	}
	if c.Volumes == nil {
		c.Volumes = &QemuVolumes{Logger: a.log}
	}
	a.crafts = c
	if a.opts.Containerd == nil {
		// A containerd default store is surveyed where it writes.
		if so, ok := c.Stores[c.DefaultStore].(interface {
			SurveyStore() inspector.ContentStore
		}); ok {
			a.opts.Containerd = so.SurveyStore()
		}
	}
	if a.opts.Survey == nil {
		a.opts.Survey = inspectorSurvey(inspector.Options{Root: opts.Root, Containerd: a.opts.Containerd, ContainerdContentDir: a.opts.ContainerdContentDir, Logger: a.log})
	}
	return a, nil
}

// Status, Result and the events are package remodel's (so a reporter
// follows an apply without importing the executor); these names keep the
// assembler's API whole.
type (
	Status       = remodel.Status
	Result       = remodel.Result
	RemodelEvent = remodel.RemodelEvent
	Event        = remodel.Event
)

const (
	StatusDone    = remodel.StatusDone
	StatusFailed  = remodel.StatusFailed
	StatusSkipped = remodel.StatusSkipped
)

// Report is the outcome of one Apply: every remodel of the plan, in plan
// order.
type Report struct {
	ApplyID  string    `json:"applyId"`
	Results  []Result  `json:"results"`
	Done     int       `json:"done"`
	Failed   int       `json:"failed"`
	Skipped  int       `json:"skipped"`
	Bytes    int64     `json:"bytes"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
}

// OK reports whether every remodel is done.
func (r *Report) OK() bool { return r.Failed == 0 && r.Skipped == 0 }

// Result returns the result of one remodel.
func (r *Report) Result(id remodel.ID) (Result, bool) {
	for _, x := range r.Results {
		if x.RemodelID == id {
			return x, true
		}
	}
	return Result{}, false
}

// ApplyOption adds inputs to Apply.
type ApplyOption func(*applyConfig)

type applyConfig struct {
	blueprint *materials.Blueprint
}

// WithBlueprint gives Apply the Blueprint the plan was made from: its
// datastores (with credentials) are used for downloads, and it is
// checkpointed in the journal as the last applied one.
func WithBlueprint(bp *materials.Blueprint) ApplyOption {
	return func(c *applyConfig) { c.blueprint = bp }
}

// session is what holding the root means: its lock and its open journal.
type session struct {
	unlock  func() error
	journal device.Journal
}

func (a *Assembler) openSession(ctx context.Context) (*session, error) {
	unlock, err := a.locker.Lock(ctx, a.opts.WaitForLock)
	if err != nil {
		return nil, err
	}
	j, err := a.journals.OpenJournal(a.opts.AfterJournalWrite)
	if err != nil {
		unlock()
		return nil, err
	}
	if q := j.Quarantined(); q != nil {
		a.log.Error("journal damaged: put aside, started fresh; nothing is deleted on the strength of a last applied config until one is applied again",
			zap.String("quarantined", q.Path), zap.String("reason", q.Reason))
	}
	return &session{unlock: unlock, journal: j}, nil
}

func (s *session) close() error {
	err := s.journal.Close()
	if uerr := s.unlock(); err == nil {
		err = uerr
	}
	return err
}

// Apply takes the root's lock, refuses a stale plan, and carries the plan
// out. The error is for the apply as a whole (locked root, stale plan,
// journal failure, cancellation); each remodel's outcome is in the Report.
func (a *Assembler) Apply(ctx context.Context, plan *remodel.Plan, opts ...ApplyOption) (*Report, error) {
	var cfg applyConfig
	for _, o := range opts {
		o(&cfg)
	}
	s, err := a.openSession(ctx)
	if err != nil {
		return nil, err
	}
	defer s.close()
	if err := a.checkFresh(ctx, s, plan); err != nil {
		return nil, err
	}
	return a.apply(ctx, s, plan, cfg.blueprint)
}

func (a *Assembler) checkFresh(ctx context.Context, s *session, plan *remodel.Plan) error {
	fp, err := a.opts.Survey(ctx, s.journal)
	if err != nil {
		return fmt.Errorf("survey for the stale-plan check: %w", err)
	}
	if fp.Fingerprint != plan.Fingerprint {
		return &StalePlanError{Plan: plan.Fingerprint, Now: fp.Fingerprint}
	}
	return nil
}

// node is one remodel during the walk.
type node struct {
	r          *remodel.Remodel
	index      int
	waiting    int
	dependents []int
	result     Result
	settled    bool
}

func (a *Assembler) apply(ctx context.Context, s *session, plan *remodel.Plan, bp *materials.Blueprint) (*Report, error) {
	applyID := uuid.NewString()
	rep := &Report{ApplyID: applyID, Started: a.now()}
	log := a.log.With(zap.String("apply", applyID))
	w := &walk{
		a: a, s: s, log: log, applyID: applyID, gate: newProgressGate(a.opts.Progress),
		datastores: map[string]materials.Datastore{},
		sems:       map[remodel.Action]chan struct{}{},
		tops:       plan.Tops,
	}
	for _, ds := range a.opts.Datastores {
		w.datastores[ds.ID] = ds
	}
	if bp != nil {
		for _, ds := range bp.Datastores {
			w.datastores[ds.ID] = ds
		}
	}
	for act, n := range a.concurrency {
		w.sems[act] = make(chan struct{}, n)
	}
	if err := a.recordUnreferenced(s, plan, bp); err != nil {
		return nil, err
	}
	w.run(ctx, plan)
	if ctx.Err() == nil {
		w.seal(ctx, sealable(plan, bp))
	}
	rep.Results = slices.Grow(rep.Results, len(w.nodes))
	for i := range w.nodes {
		r := w.nodes[i].result
		rep.Results = append(rep.Results, r)
		switch r.Status {
		case StatusDone:
			rep.Done++
		case StatusFailed:
			rep.Failed++
		case StatusSkipped:
			rep.Skipped++
		}
		rep.Bytes += r.Bytes
	}
	rep.Finished = a.now()
	if err := w.journalErr(); err != nil {
		return rep, err
	}
	if err := ctx.Err(); err != nil {
		// In-flight intents stay: the next survey sees them as uncertain.
		return rep, fmt.Errorf("apply cancelled: %w", err)
	}
	// The plan was made knowing every earlier intent; they are settled now.
	if _, err := s.journal.DropIntents(applyID); err != nil {
		return rep, fmt.Errorf("journal: settle earlier intents: %w", err)
	}
	if bp != nil && bp.Complete {
		if err := s.journal.Checkpoint(w.checkpoint(plan, bp), a.now()); err != nil {
			return rep, err
		}
	}
	log.Info("apply finished", zap.Int("done", rep.Done), zap.Int("failed", rep.Failed), zap.Int("skipped", rep.Skipped), zap.Int64("bytes", rep.Bytes))
	return rep, nil
}

// recordUnreferenced makes the journal's grace-period clocks those of
// the plan: the foreman carries every clock still running, and drops
// those of materials needed again.
func (a *Assembler) recordUnreferenced(s *session, plan *remodel.Plan, bp *materials.Blueprint) error {
	if err := s.journal.ReplaceUnreferenced(plan.Unreferenced); err != nil {
		return fmt.Errorf("journal: record unreferenced: %w", err)
	}
	return nil
}

// sealable are the content trees an apply seals: the Blueprint's, or
// without one (a fix run) those the plan downloads into, whose leases
// would else outlive the download.
func sealable(plan *remodel.Plan, bp *materials.Blueprint) []materials.ContentTree {
	if bp != nil {
		return bp.ContentTrees
	}
	var out []materials.ContentTree
	seen := map[string]bool{}
	for i := range plan.Remodels {
		if p, ok := plan.Remodels[i].Payload.(*remodel.DownloadPayload); ok && !seen[p.ContentTree.ID] {
			seen[p.ContentTree.ID] = true
			out = append(out, p.ContentTree)
		}
	}
	return out
}

// seal asks each store that keeps blobs per content tree to name every
// whole tree given (containerd: its image record) and release what held
// it while it was written. Only trees whose top blob is known are asked.
// A failure is logged: the next apply tries again, and until then the
// tree's lease keeps its blobs.
func (w *walk) seal(ctx context.Context, trees []materials.ContentTree) {
	if len(trees) == 0 {
		return
	}
	var stores []TreeStore
	seen := map[TreeStore]bool{}
	for _, n := range []materials.BlobStore{w.a.crafts.DefaultStore} {
		if ts, ok := w.a.crafts.Stores[n].(TreeStore); ok && !seen[ts] {
			seen[ts] = true
			stores = append(stores, ts)
		}
	}
	for _, s := range w.a.crafts.Stores {
		if ts, ok := s.(TreeStore); ok && !seen[ts] {
			seen[ts] = true
			stores = append(stores, ts)
		}
	}
	if len(stores) == 0 {
		return
	}
	for i := range trees {
		ct := w.pinned(trees[i])
		top := ct.Digest()
		if top == "" || top.Validate() != nil {
			continue
		}
		for _, ts := range stores {
			sealed, err := ts.Seal(ctx, ct, top)
			if err != nil {
				w.log.Warn("seal content tree", zap.String("contentTree", ct.ID), zap.Error(err))
				continue
			}
			if sealed {
				w.log.Debug("content tree sealed", zap.String("contentTree", ct.ID), zap.String("top", string(top)))
			}
		}
	}
}

// walk runs a plan's DAG.
type walk struct {
	a          *Assembler
	s          *session
	log        *zap.Logger
	applyID    string
	gate       *progressGate
	datastores map[string]materials.Datastore
	sems       map[remodel.Action]chan struct{}
	// tops are the trees' top blobs as the foreman pinned them.
	tops map[string]digest.Digest

	runCtx context.Context
	mu     sync.Mutex
	nodes  []*node
	wg     sync.WaitGroup
	jerr   error
}

func (w *walk) journalErr() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.jerr
}

func (w *walk) run(ctx context.Context, plan *remodel.Plan) {
	w.runCtx = ctx
	byID := make(map[remodel.ID]int, len(plan.Remodels))
	held := map[remodel.ID]bool{}
	for _, h := range plan.Held {
		held[h.RemodelID] = true
	}
	w.nodes = make([]*node, len(plan.Remodels))
	nodes := make([]node, len(plan.Remodels)) // one allocation, not one per remodel
	dup := map[int]bool{}
	for i := range plan.Remodels {
		r := &plan.Remodels[i]
		nodes[i] = node{r: r, index: i, result: Result{RemodelID: r.ID, Action: r.Action, Target: r.Target}}
		w.nodes[i] = &nodes[i]
		if _, seen := byID[r.ID]; seen {
			dup[i] = true // a broken plan: run the first, skip the rest
			continue
		}
		byID[r.ID] = i
	}
	var ready []int
	var blocked []struct {
		i      int
		reason string
	}
	for i, n := range w.nodes {
		reason := ""
		if dup[i] {
			reason = "another remodel of the plan has the same id"
		}
		for _, d := range n.r.DependsOn {
			j, ok := byID[d]
			switch {
			case ok && j == i:
				reason = "depends on itself"
			case ok:
				n.waiting++
				w.nodes[j].dependents = append(w.nodes[j].dependents, i)
			case held[d]:
				reason = fmt.Sprintf("depends on %s which is held", d)
			default:
				reason = fmt.Sprintf("depends on %s which is not in the plan", d)
			}
		}
		if reason != "" {
			blocked = append(blocked, struct {
				i      int
				reason string
			}{i, reason})
		}
	}
	w.mu.Lock()
	for _, b := range blocked {
		w.settleLocked(b.i, Result{Status: StatusSkipped, Reason: b.reason})
	}
	for i, n := range w.nodes {
		if !n.settled && n.waiting == 0 {
			ready = append(ready, i)
		}
	}
	for _, i := range ready {
		w.start(ctx, i)
	}
	w.mu.Unlock()
	w.wg.Wait()
	// A cycle leaves nodes that never became ready.
	w.mu.Lock()
	for i, n := range w.nodes {
		if !n.settled {
			w.settleLocked(i, Result{Status: StatusSkipped, Reason: "part of a dependency cycle"})
		}
	}
	w.mu.Unlock()
}

// settleLocked records a node's outcome and releases or skips its
// dependents. w.mu is held.
func (w *walk) settleLocked(i int, res Result) {
	n := w.nodes[i]
	if n.settled {
		return
	}
	n.settled = true
	res.RemodelID, res.Action, res.Target = n.r.ID, n.r.Action, n.r.Target
	if res.Err != nil && res.Error == "" {
		res.Error = res.Err.Error()
	}
	n.result = res
	if w.a.opts.OnRemodel != nil {
		r := res
		w.a.opts.OnRemodel(RemodelEvent{Remodel: n.r, Result: &r, At: w.a.now()})
	}
	for _, d := range n.dependents {
		dn := w.nodes[d]
		if dn.settled {
			continue
		}
		switch res.Status {
		case StatusFailed:
			w.settleLocked(d, Result{Status: StatusSkipped, Reason: fmt.Sprintf("depends on %s which failed", n.r.ID)})
		case StatusSkipped:
			w.settleLocked(d, Result{Status: StatusSkipped, Reason: fmt.Sprintf("depends on %s which was skipped", n.r.ID)})
		default:
			dn.waiting--
			if dn.waiting == 0 {
				w.start(w.runCtx, d)
			}
		}
	}
}

func (w *walk) start(ctx context.Context, i int) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		res := w.runOne(ctx, w.nodes[i].r)
		w.mu.Lock()
		w.settleLocked(i, res)
		w.mu.Unlock()
	}()
}
