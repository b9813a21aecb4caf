package foreman

import (
	"sort"
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
	r      remodel.Remodel
	deps   []*node
	stage  int
	held   bool
	live   bool  // in the plan (a tree's remodels wait until the tree is wanted)
	frees  int64 // bytes a purge frees by deleting the old generation
	drop   bool  // deletes a volume the config dropped: counts for the mass-delete guard
	since  time.Time
	grace  bool   // deletion waits for the grace period
	app    string // legacy file's app, for withheld apps
	guards []materials.MaterialRef
}

type latchKey struct {
	tree string
	gen  int64
}

type planner struct {
	bp   *materials.Blueprint
	fp   *materials.Floorplan
	last *materials.Blueprint
	// lastVol and lastTree index the last applied Blueprint.
	lastVol   map[materials.VolumeKey]*materials.Volume
	lastTree  map[string]*materials.ContentTree
	lastTopOf map[digest.Digest]string
	opts      Options
	now       time.Time
	valid     bool
	store     materials.BlobStore

	trees  []*materials.ContentTree // bp trees, by id
	dsByID map[string]*materials.Datastore
	states map[string]*treeState // every bp tree, by id

	// blobs indexes the floorplan's blob records and the blobs desired
	// trees need, one entry per digest (one map: this is the hot path).
	blobs    map[uint64]*blobEntry
	arena    []blobEntry
	recEntry []*blobEntry // the entry of each fp.Blobs[i]
	inflight map[materials.MaterialRef]*materials.InFlight
	clocks   map[materials.MaterialRef]time.Time
	latches  map[latchKey]*materials.TagLatch

	protect  []materials.Addition
	hold     []materials.Addition
	withheld []materials.MaterialRef
	// treeGuards is true when some guard names a content tree, so blob
	// remodels must carry the trees they belong to.
	treeGuards bool
	blobTrees  map[digest.Digest][]string

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
	if p.store == "" {
		p.store = materials.BlobStoreDir
	}
	if fp.Journal != nil {
		p.last = fp.Journal.LastApplied
	}
	p.lastVol = map[materials.VolumeKey]*materials.Volume{}
	p.lastTree = map[string]*materials.ContentTree{}
	if p.last != nil {
		for i := range p.last.Volumes {
			p.lastVol[p.last.Volumes[i].Key()] = &p.last.Volumes[i]
		}
		for i := range p.last.ContentTrees {
			p.lastTree[p.last.ContentTrees[i].ID] = &p.last.ContentTrees[i]
		}
	}
	p.trees = make([]*materials.ContentTree, len(bp.ContentTrees))
	states := make([]treeState, len(bp.ContentTrees))
	p.states = make(map[string]*treeState, len(bp.ContentTrees))
	for i := range bp.ContentTrees {
		p.trees[i] = &bp.ContentTrees[i]
	}
	sort.SliceStable(p.trees, func(i, j int) bool { return p.trees[i].ID < p.trees[j].ID })
	for i, t := range p.trees {
		states[i] = treeState{tree: t, idx: int32(i)}
		if _, dup := p.states[t.ID]; !dup {
			p.states[t.ID] = &states[i]
		}
	}
	p.dsByID = make(map[string]*materials.Datastore, len(bp.Datastores))
	for i := range bp.Datastores {
		p.dsByID[bp.Datastores[i].ID] = &bp.Datastores[i]
	}

	p.blobs = make(map[uint64]*blobEntry, len(fp.Blobs))
	p.arena = make([]blobEntry, 0, len(fp.Blobs)+len(bp.ContentTrees))
	p.recEntry = make([]*blobEntry, len(fp.Blobs))
	for i := range fp.Blobs {
		b := &fp.Blobs[i]
		e := p.entry(b.Digest)
		p.recEntry[i] = e
		if e.any == nil {
			e.any = b
		}
		if b.Store != p.store && !(b.Store == "" && p.store == materials.BlobStoreDir) {
			continue
		}
		switch b.State {
		case materials.StateComplete, materials.StateBroken:
			if e.complete == nil || e.complete.State == materials.StateBroken {
				e.complete = b
			}
		case materials.StatePartial:
			if e.partial == nil {
				e.partial = b
			}
		}
	}
	p.inflight = map[materials.MaterialRef]*materials.InFlight{}
	p.clocks = map[materials.MaterialRef]time.Time{}
	p.latches = map[latchKey]*materials.TagLatch{}
	if j := fp.Journal; j != nil {
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
		for i := range j.Latches {
			l := &j.Latches[i]
			k := latchKey{l.ContentTree, l.Generation}
			if old, ok := p.latches[k]; !ok || l.ResolvedAt.After(old.ResolvedAt) {
				p.latches[k] = l
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

// blobEntry is what the plan knows about one digest.
type blobEntry struct {
	digest   digest.Digest
	next     *blobEntry            // another digest with the same blobKey
	complete *materials.BlobRecord // complete (or broken) in the plan's store
	partial  *materials.BlobRecord // a partial ingest in the plan's store
	any      *materials.BlobRecord // the first record in any store
	// neededBy is 1 + the index of the first desired tree that needs the
	// blob, 0 when no desired tree does.
	neededBy int32
}

// blobKey is a 64-bit key for the blob index: the first 16 hex digits of
// a sha256 digest (cheap to hash and compare, unlike the 71-byte string),
// or an FNV-1a hash of anything else. Keys may collide; entries with the
// same key are chained and told apart by the full digest.
func blobKey(d digest.Digest) uint64 {
	s := string(d)
	if len(s) >= 23 && s[:7] == "sha256:" {
		var k uint64
		for i := 7; i < 23; i++ {
			c := s[i]
			switch {
			case c >= '0' && c <= '9':
				k = k<<4 | uint64(c-'0')
			case c >= 'a' && c <= 'f':
				k = k<<4 | uint64(c-'a'+10)
			default:
				return fnv(s)
			}
		}
		return k
	}
	return fnv(s)
}

func fnv(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// lookup returns the digest's entry, or nil.
func (p *planner) lookup(d digest.Digest) *blobEntry {
	for e := p.blobs[blobKey(d)]; e != nil; e = e.next {
		if e.digest == d {
			return e
		}
	}
	return nil
}

// entry returns the digest's entry, making it when new. Entries live in
// chunks that never move, so pointers to them stay valid.
func (p *planner) entry(d digest.Digest) *blobEntry {
	k := blobKey(d)
	head := p.blobs[k]
	for e := head; e != nil; e = e.next {
		if e.digest == d {
			return e
		}
	}
	if len(p.arena) == cap(p.arena) {
		p.arena = make([]blobEntry, 0, 64+cap(p.arena)/4)
	}
	p.arena = append(p.arena, blobEntry{digest: d, next: head})
	e := &p.arena[len(p.arena)-1]
	p.blobs[k] = e
	return e
}

// present is the digest's complete (or broken) record in the plan's store.
func (p *planner) present(d digest.Digest) *materials.BlobRecord {
	if e := p.lookup(d); e != nil {
		return e.complete
	}
	return nil
}

// tree is the desired content tree with that id, or nil.
func (p *planner) tree(id string) *materials.ContentTree {
	if ts := p.states[id]; ts != nil {
		return ts.tree
	}
	return nil
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
