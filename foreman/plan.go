package foreman

import (
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// Labels edgewright puts on what it writes to containerd. Only owned blobs
// and image records are ever deleted.
const (
	OwnerLabel = layout.OwnerLabel
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
	p.snapshots(bp)
	p.standaloneTrees()
	p.unneededBlobs()
	p.images()
	p.order()
	p.guard()
	p.dropOffersOfDeletedSeeds()
	out := p.finish()
	out.Checkpoint = p.keepCounters(checkpoint(bp, p.fp))
	return out
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

// planner makes one plan. Its facts (facts.go) answer what is wanted,
// present and remembered; the rules read them and add candidate remodels:
// content trees and blobs (content.go), volumes and files (volumes.go);
// then order.go stages the candidates and applies the guards.
type planner struct {
	fp    *materials.Floorplan
	facts *facts
	opts  Options
	now   time.Time
	valid bool
	// surveyGap says why the floorplan may be missing things (the survey
	// reported an error): then nothing is destroyed on its strength.
	surveyGap string
	store     materials.BlobStore

	// trees are the states of the desired trees (the first of each id),
	// by id; treeOrder the same, in id order.
	trees     map[string]*treeState
	treeOrder []*treeState
	// needed are the blobs some desired tree needs.
	needed map[digest.Digest]bool
	// childDesc is what present manifests say of their children.
	childDesc map[digest.Digest]materials.Blob
	// accounted are the volume files the desired volumes keep or replace;
	// claimed the old-layout files adopted or serving in place.
	accounted, claimed map[*materials.VolumeFile]bool

	protect []materials.Addition
	hold    []materials.Addition
	// strategies are the strategy Additions; backing the blobs overlays
	// on disk read through, with the first such overlay's path.
	strategies []materials.Addition
	backing    map[digest.Digest]string
	withheld   []materials.MaterialRef
	// treeGuards is true when some guard names a content tree, so blob
	// remodels must carry the trees they belong to.
	treeGuards bool
	blobTrees  map[digest.Digest][]string

	nodes []*node
	byID  map[remodel.ID]*node

	held    []remodel.Held
	diags   materials.Diagnostics
	unref   []materials.Unreferenced
	unrefd  map[materials.MaterialRef]bool
	budget  int64
	visited []digest.Digest // scratch for walk
	// unresolved holds blob and image deletes while a desired tree's tag
	// is unresolved: any unneeded-looking blob may be one of its own.
	unresolved string

	// snapHolders are the listed snapshots each volume file holds (or is
	// to hold), by path; rollbackPending the last applied counter of each
	// app whose rollback is asked for; rollbacks the rollbacks planned.
	snapHolders     map[string][]string
	snapDeletes     map[string][]remodel.ID // the delete-snapshots of each file
	rollbackPending map[string]uint32
	rollbacks       []*node
	lastCounters    map[string]uint32 // the last applied rollback counter of each app
}

func newPlanner(bp *materials.Blueprint, fp *materials.Floorplan, opts Options) *planner {
	if bp == nil {
		bp = &materials.Blueprint{}
	}
	if fp == nil {
		fp = &materials.Floorplan{}
	}
	p := &planner{fp: fp, opts: opts, now: opts.Now, valid: bp.Valid(), store: opts.Store, withheld: bp.Withheld}
	for _, d := range fp.Diagnostics {
		if d.Severity == materials.SeverityError {
			p.surveyGap = "the survey is incomplete (" + d.Path + ": " + d.Message + "): no destructive remodel"
			break
		}
	}
	if p.store == "" {
		p.store = materials.BlobStoreDir
	}
	p.facts = newFacts(bp, fp, p.store)
	p.diags = append(p.diags, p.facts.notes...)
	p.trees = make(map[string]*treeState, len(p.facts.trees))
	for _, t := range p.facts.trees {
		ts := &treeState{tree: t}
		p.trees[t.ID] = ts
		p.treeOrder = append(p.treeOrder, ts)
	}
	p.needed = make(map[digest.Digest]bool, len(fp.Blobs))
	p.accounted = make(map[*materials.VolumeFile]bool, len(fp.Volumes))
	p.claimed = map[*materials.VolumeFile]bool{}
	p.readGuards(bp, opts)
	p.readStrategies(bp)
	p.backing = backingBlobs(fp)
	p.byID = map[remodel.ID]*node{}
	p.unrefd = map[materials.MaterialRef]bool{}
	p.rollbackPending = map[string]uint32{}
	return p
}

// readGuards sorts the Additions into protects and holds, and notes
// whether any guard names a content tree.
func (p *planner) readGuards(bp *materials.Blueprint, opts Options) {
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
func (p *planner) after(n *node, ids ...remodel.ID) {
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

func (p *planner) holdDirect(id remodel.ID, a remodel.Action, t materials.MaterialRef, code remodel.HoldCode, reason string) {
	p.held = append(p.held, remodel.Held{RemodelID: id, Action: a, Target: t, Code: code, Reason: reason})
}

func (p *planner) diag(sev materials.Severity, path, value, msg string) {
	p.diags = append(p.diags, materials.Diagnostic{Severity: sev, Path: path, Value: value, Message: msg})
}

// clock returns since when ref has been unneeded, starting a new clock at
// Now when the journal has none, and records it for the plan.
func (p *planner) clock(ref materials.MaterialRef) time.Time {
	since, ok := p.facts.clocks[ref]
	if !ok {
		since = p.now
	}
	if !p.unrefd[ref] {
		p.unrefd[ref] = true
		p.unref = append(p.unref, materials.Unreferenced{Target: ref, Since: since})
	}
	return since
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
// covers every generation, a content tree id covers its image records
// (named `<content-tree-id>-<URL>`).
func matchRef(rule, target materials.MaterialRef) bool {
	if rule.Kind == materials.KindContentTree && target.Kind == materials.KindImage {
		return strings.HasPrefix(target.ID, rule.ID+"-")
	}
	if rule.Kind != target.Kind {
		return false
	}
	if rule.ID == target.ID {
		return true
	}
	if rule.Kind == materials.KindVolume {
		return !strings.Contains(rule.ID, "#") && strings.HasPrefix(target.ID, rule.ID) && strings.HasPrefix(target.ID[len(rule.ID):], "#")
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
