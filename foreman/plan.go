package foreman

import (
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// Labels edgewright puts on what it writes to containerd. Only owned blobs
// and image records are ever deleted.
const (
	OwnerLabel = "io.edgewright.owner"
	OwnerValue = "edgewright"
)

// Plan diffs what the Blueprint asks for against what the Floorplan says
// exists and returns the remodels that close the gap, ordered by
// precedence, each with a stable ID and a reason, plus the remodels its
// guards held back. It never fails: problems become held remodels and
// diagnostics. It does no I/O, reads no clock and does not modify its
// inputs; the same inputs give the same plan, byte for byte as JSON.
//
// A reconcile calls it in a loop (survey, plan, apply) until the plan is
// empty: facts that appear only while building (an OCI manifest's layers)
// are planned in the round after the blob that names them arrived.
func Plan(bp *materials.Blueprint, fp *materials.Floorplan, opts Options) *remodel.Plan {
	p := newPlanner(bp, fp, opts)
	p.contentTrees()
	p.volumes()
	p.standaloneTrees()
	p.unneededBlobs()
	p.images()
	p.order()
	p.guard()
	return p.finish()
}

// node is a candidate remodel while the plan is being made.
type node struct {
	r     remodel.Remodel
	deps  []*node
	stage int
	held  bool
	live  bool  // in the plan (a tree's remodels wait until the tree is wanted)
	frees int64 // bytes a purge frees by deleting the old generation
	// reclaims is the bytes of the volume's own .tmp, which the create
	// removes before it writes: a failed create's leftover must not hold it.
	reclaims int64
	drop     bool // deletes a volume the config dropped: counts for the mass-delete guard
	since    time.Time
	grace    bool // deletion waits for the grace period
	// partial marks an unneeded partial download: clean-up deletes it
	// without waiting for the grace period.
	partial bool
	app     string // legacy file's app, for withheld apps
	guards  []materials.MaterialRef
	pos     int32 // place in the ordered plan, for finish
}

type planner struct {
	bp   *materials.Blueprint
	fp   *materials.Floorplan
	last *materials.Blueprint
	// lastVols and lastTrees are the last applied Blueprint's, sorted.
	lastVols  []*materials.Volume
	lastTrees []*materials.ContentTree
	// treeIDs and lastTreeIDs are the ids of trees and lastTrees, side by
	// side: searches and merges by id read these, not a tree record each.
	treeIDs, lastTreeIDs []string
	lastTopOf            map[digest.Digest]string
	// Fingers for lookups made in key order.
	lastVolFinger, latchFinger, treeFinger finger
	imageFingers                           [2]finger
	opts                                   Options
	now                                    time.Time
	valid                                  bool
	// surveyGap says why the floorplan may be missing things (the survey
	// reported an error): then nothing is destroyed on its strength.
	surveyGap string
	store     materials.BlobStore

	trees    []*materials.ContentTree // bp trees, by id
	stateArr []treeState              // the state of each of trees
	// firstTree is, per tree, the index of the first tree with its id (a
	// repeated id's first one stands); lastOf is the last applied
	// Blueprint's tree with that id, or nil. Both come from one pass, so
	// the walk never compares tree ids again.
	firstTree []int32
	lastOf    []*materials.ContentTree
	// referenced marks, by a tree's first index, the trees a desired
	// volume is made from (set by volumes).
	referenced []bool
	dsByID     map[string]*materials.Datastore

	// index finds the floorplan's blob records by digest and marks those
	// desired trees need (this is the hot path).
	index     *blobIndex
	inflight  map[materials.MaterialRef]*materials.InFlight
	clocks    map[materials.MaterialRef]time.Time
	latchList []*materials.TagLatch // by (tree, generation), newest first

	protect  []materials.Addition
	hold     []materials.Addition
	withheld []materials.MaterialRef
	// treeGuards is true when some guard names a content tree, so blob
	// remodels must carry the trees they belong to.
	treeGuards bool
	blobTrees  map[digest.Digest][]string
	// childDesc is what present manifests say of their children.
	childDesc map[digest.Digest]materials.Blob

	nodes []*node
	byID  map[string]*node

	held   []remodel.Held
	diags  materials.Diagnostics
	unref  []materials.Unreferenced
	unrefd map[materials.MaterialRef]bool
	budget int64
	// presentVolumes counts distinct volume ids on disk (new layout) plus
	// old-layout files: the mass-delete guard's denominator.
	presentVolumes int
	visited        []digest.Digest // scratch for walk
	kids           []digest.Digest // scratch for warmChildren
	// unresolved holds blob and image deletes while a desired tree's tag
	// is unresolved: any unneeded-looking blob may be one of its own.
	unresolved string
}

func newPlanner(bp *materials.Blueprint, fp *materials.Floorplan, opts Options) *planner {
	if bp == nil {
		bp = &materials.Blueprint{}
	}
	if fp == nil {
		fp = &materials.Floorplan{}
	}
	p := &planner{bp: bp, fp: fp, opts: opts, now: opts.Now, valid: bp.Valid(), store: opts.Store}
	for _, d := range fp.Diagnostics {
		if d.Severity == materials.SeverityError {
			p.surveyGap = "the survey is incomplete (" + d.Path + ": " + d.Message + "): no destructive remodel"
			break
		}
	}
	if p.store == "" {
		p.store = materials.BlobStoreDir
	}
	if fp.Journal != nil {
		p.last = fp.Journal.LastApplied
	}
	if p.last != nil {
		p.lastVols = sortedVolumes(p.last.Volumes)
		p.lastTrees = sortedTrees(p.last.ContentTrees)
		p.lastTreeIDs = make([]string, len(p.lastTrees))
		for i, t := range p.lastTrees {
			p.lastTreeIDs[i] = t.ID
		}
	}
	p.indexTrees(bp.ContentTrees)
	p.dsByID = make(map[string]*materials.Datastore, len(bp.Datastores))
	for i := range bp.Datastores {
		p.dsByID[bp.Datastores[i].ID] = &bp.Datastores[i]
	}

	p.index = newBlobIndex(fp.Blobs)
	p.inflight = map[materials.MaterialRef]*materials.InFlight{}
	p.clocks = map[materials.MaterialRef]time.Time{}
	if j := fp.Journal; j != nil {
		p.latchList = sortLatches(j.Latches)
		for i := range j.InFlight {
			in := &j.InFlight[i]
			if old, ok := p.inflight[in.Target]; !ok || in.StartedAt.Before(old.StartedAt) {
				p.inflight[in.Target] = in
			}
		}
		for _, u := range j.Unreferenced {
			if old, ok := p.clocks[u.Target]; !ok || u.Since.Before(old) {
				p.clocks[u.Target] = u.Since
			}
		}
	}
	for _, a := range bp.Additions {
		switch a.Kind {
		case materials.AdditionProtect:
			p.protect = append(p.protect, a)
		case materials.AdditionHold:
			p.hold = append(p.hold, a)
		default:
			continue
		}
		if a.Target.Kind == materials.KindContentTree {
			p.treeGuards = true
		}
	}
	p.withheld = bp.Withheld
	for _, w := range bp.Withheld {
		if w.Kind == materials.KindContentTree {
			p.treeGuards = true
		}
	}
	for _, l := range opts.Limitations {
		if l.Target != nil && l.Target.Kind == materials.KindContentTree {
			p.treeGuards = true
		}
	}
	if p.treeGuards {
		p.blobTrees = map[digest.Digest][]string{}
	}
	p.byID = map[string]*node{}
	p.unrefd = map[materials.MaterialRef]bool{}
	return p
}

// indexTrees sets trees (by id), their states, firstTree and lastOf. The
// Blueprint's trees usually arrive sorted: then one pass of id compares
// checks the order, finds repeated ids and merges with the last applied
// trees, rather than a pass for each (at scale each pass over the ids is a
// cache miss per tree).
func (p *planner) indexTrees(ts []materials.ContentTree) {
	n := len(ts)
	p.trees = make([]*materials.ContentTree, n)
	p.treeIDs = make([]string, n)
	p.stateArr = make([]treeState, n)
	p.firstTree = make([]int32, n)
	p.lastOf = make([]*materials.ContentTree, n)
	j := 0
	for i := range ts {
		t := &ts[i]
		same := false
		if i > 0 {
			c := strings.Compare(p.treeIDs[i-1], t.ID)
			if c > 0 {
				p.linkTrees(sortedTrees(ts))
				return
			}
			same = c == 0
		}
		p.trees[i] = t
		p.linkTree(i, same, &j)
	}
}

// linkTrees is indexTrees for trees sorted already.
func (p *planner) linkTrees(sorted []*materials.ContentTree) {
	p.trees = sorted
	j := 0
	for i, t := range sorted {
		p.linkTree(i, i > 0 && sorted[i-1].ID == t.ID, &j)
	}
}

// linkTree fills tree i's state, first index and last applied tree; same
// says tree i-1 has its id; *j is the merge's place in lastTrees.
func (p *planner) linkTree(i int, same bool, j *int) {
	t := p.trees[i]
	p.treeIDs[i] = t.ID
	p.stateArr[i] = treeState{tree: t, idx: int32(i)}
	if same {
		p.firstTree[i] = p.firstTree[i-1]
	} else {
		p.firstTree[i] = int32(i)
	}
	for *j < len(p.lastTreeIDs) && p.lastTreeIDs[*j] < t.ID {
		*j++
	}
	if *j < len(p.lastTreeIDs) && p.lastTreeIDs[*j] == t.ID {
		p.lastOf[i] = p.lastTrees[*j]
	}
}

// add registers a candidate remodel; a second candidate with the same ID
// is merged into the first (the first reason stands).
func (p *planner) add(r remodel.Remodel) *node {
	if n, ok := p.byID[r.ID]; ok {
		return n
	}
	n := &node{r: r, live: true}
	p.byID[r.ID] = n
	p.nodes = append(p.nodes, n)
	return n
}

// after makes n depend on the remodels named by ids that are in the plan.
func (p *planner) after(n *node, ids ...string) {
	for _, id := range ids {
		d, ok := p.byID[id]
		if !ok || d == n {
			continue
		}
		dup := false
		for _, e := range n.deps {
			if e == d {
				dup = true
				break
			}
		}
		if !dup {
			n.deps = append(n.deps, d)
		}
	}
}

func (p *planner) holdDirect(id string, a remodel.Action, t materials.MaterialRef, reason string) {
	p.held = append(p.held, remodel.Held{RemodelID: id, Action: a, Target: t, Reason: reason})
}

func (p *planner) diag(sev materials.Severity, path, value, msg string) {
	p.diags = append(p.diags, materials.Diagnostic{Severity: sev, Path: path, Value: value, Message: msg})
}

// clock returns since when ref has been unneeded, starting a new clock at
// Now when the journal has none, and records it for the plan.
func (p *planner) clock(ref materials.MaterialRef) time.Time {
	since, ok := p.clocks[ref]
	if !ok {
		since = p.now
	}
	if !p.unrefd[ref] {
		p.unrefd[ref] = true
		p.unref = append(p.unref, materials.Unreferenced{Target: ref, Since: since})
	}
	return since
}

// remodelID is `<action>:<kind>/<id>`, stable across plans.
func remodelID(a remodel.Action, ref materials.MaterialRef) string {
	return string(a) + ":" + string(ref.Kind) + "/" + ref.ID
}

func volumeRef(k materials.VolumeKey) materials.MaterialRef {
	return materials.MaterialRef{Kind: materials.KindVolume, ID: k.String()}
}

func blobRef(d digest.Digest) materials.MaterialRef {
	return materials.MaterialRef{Kind: materials.KindBlob, ID: string(d)}
}

func fileRef(path string) materials.MaterialRef {
	return materials.MaterialRef{Kind: materials.KindFile, ID: path}
}

// matchRef reports whether a guard's ref covers target: a volume uuid
// covers every generation, a content tree id covers its image records.
func matchRef(rule, target materials.MaterialRef) bool {
	if rule.Kind != target.Kind {
		return false
	}
	if rule.ID == target.ID {
		return true
	}
	switch rule.Kind {
	case materials.KindVolume:
		return !strings.Contains(rule.ID, "#") && strings.HasPrefix(target.ID, rule.ID) && strings.HasPrefix(target.ID[len(rule.ID):], "#")
	case materials.KindContentTree:
		return strings.HasPrefix(target.ID, rule.ID) && strings.HasPrefix(target.ID[len(rule.ID):], "-")
	}
	return false
}

// covers reports whether rule covers the node's target or one of its
// guard refs (the old generation of a purge, the trees of a blob).
func (n *node) covers(rule materials.MaterialRef) bool {
	if matchRef(rule, n.r.Target) {
		return true
	}
	for _, g := range n.guards {
		if matchRef(rule, g) {
			return true
		}
	}
	return false
}

func itoa(n int64) string {
	return formatInt(n)
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func treeName(t *materials.ContentTree) string {
	if t.DisplayName != "" && t.DisplayName != t.ID {
		return t.DisplayName + " (" + t.ID + ")"
	}
	return t.ID
}

func volumeName(v *materials.Volume) string {
	if v.DisplayName != "" && v.DisplayName != v.ID {
		return v.DisplayName + " (" + v.ID + ")"
	}
	return v.ID
}
