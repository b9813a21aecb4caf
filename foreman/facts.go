package foreman

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// facts are what a plan asks of its inputs, gathered once, in the manner
// of the kubelet volumemanager's desired and actual state of world: what
// the Blueprint wants, what the Floorplan holds, and what the journal
// remembers, each behind a question. They decide no remodel.
type facts struct {
	store materials.BlobStore

	// Wanted: the Blueprint.
	trees      []*materials.ContentTree // the first tree of each id, by id
	treeByID   map[string]*materials.ContentTree
	datastores map[string]*materials.Datastore
	desired    []desiredVolume           // by key, local purges applied
	wanted     map[string]*desiredVolume // the highest generation asked of each id
	madeFrom   map[string]bool           // trees some desired volume is made from
	notes      []materials.Diagnostic    // what reading the Blueprint found odd

	// Present: the Floorplan.
	files    map[string][]*materials.VolumeFile // new-layout files by volume id, in floorplan order
	fileIDs  []string                           // the keys of files, sorted
	legacy   []*materials.VolumeFile
	legacyBy map[legacyKey][]*materials.VolumeFile
	temps    []*materials.VolumeFile
	unknown  []*materials.VolumeFile
	blobs    map[digest.Digest]blobState
	imageRef map[digest.Digest]bool // blobs an image record keeps; made on first use
	images   []materials.ImageRecord

	// Remembered: the journal.
	last       *materials.Blueprint
	lastVols   map[materials.VolumeKey]*materials.Volume
	lastMax    map[string]int64
	lastTrees  map[string]*materials.ContentTree
	lastLegacy map[legacyKey]bool
	lastTopOf  map[digest.Digest]string // made on first use
	latches    map[latchKey]*materials.TagLatch
	inflight   map[materials.MaterialRef]*materials.InFlight
	clocks     map[materials.MaterialRef]time.Time
}

// desiredVolume is a Blueprint volume at its effective generation: the
// config's, plus one when a local purge Addition asks for a recreate.
type desiredVolume struct {
	v      *materials.Volume // Generation is the effective one (a copy when a purge changed it)
	purged *materials.Addition
	// asked twice: the next desired volume has the same id (and a higher
	// generation, which wins).
	twice bool
	// making is the create, purge or adopt of this volume in the plan.
	making remodel.ID
	// present: the desired generation is on disk whole, or an old-layout
	// file serves it.
	present bool
}

type legacyKey struct{ sha, app string }

type latchKey struct {
	tree string
	gen  int64
}

// blobState is what the plan's store holds of a digest: its complete (or
// broken, when no complete one) record, its partial ingest, and the first
// record in any store.
type blobState struct {
	complete, partial, any *materials.BlobRecord
	// broken: complete is a broken record (no whole one was found).
	broken bool
}

func newFacts(bp *materials.Blueprint, fp *materials.Floorplan, store materials.BlobStore) *facts {
	f := &facts{store: store, images: fp.Images}
	f.readTrees(bp)
	f.readVolumes(bp)
	f.readFiles(fp)
	f.readBlobs(fp.Blobs)
	f.readJournal(fp.Journal)
	return f
}

// readTrees keeps the first tree of each id (a repeated id's first one
// stands) and the datastores by id.
func (f *facts) readTrees(bp *materials.Blueprint) {
	f.treeByID = make(map[string]*materials.ContentTree, len(bp.ContentTrees))
	for i := range bp.ContentTrees {
		t := &bp.ContentTrees[i]
		if _, ok := f.treeByID[t.ID]; !ok {
			f.treeByID[t.ID] = t
			f.trees = append(f.trees, t)
		}
	}
	slices.SortFunc(f.trees, func(a, b *materials.ContentTree) int { return strings.Compare(a.ID, b.ID) })
	f.datastores = make(map[string]*materials.Datastore, len(bp.Datastores))
	for i := range bp.Datastores {
		f.datastores[bp.Datastores[i].ID] = &bp.Datastores[i]
	}
}

// readVolumes makes the desired volumes: each at its generation, bumped by
// a local purge, ordered by key; an id asked at two generations wants the
// higher one.
func (f *facts) readVolumes(bp *materials.Blueprint) {
	purges := map[string]*materials.Addition{}
	for i := range bp.Additions {
		if a := &bp.Additions[i]; a.Kind == materials.AdditionPurge && a.Target.Kind == materials.KindVolume {
			purges[a.Target.ID] = a
		}
	}
	f.desired = make([]desiredVolume, 0, len(bp.Volumes))
	f.madeFrom = map[string]bool{}
	matched := map[*materials.Addition]bool{}
	for i := range bp.Volumes {
		v := &bp.Volumes[i]
		dv := desiredVolume{v: v, purged: purges[v.ID]}
		if dv.purged == nil && len(purges) > 0 {
			dv.purged = purges[v.Key().String()]
		}
		if dv.purged != nil {
			matched[dv.purged] = true
			c := *v
			c.Generation++
			dv.v = &c
		}
		if v.Origin == materials.OriginDownload && f.treeByID[v.ContentTree] != nil {
			f.madeFrom[v.ContentTree] = true
		}
		f.desired = append(f.desired, dv)
	}
	for k, a := range purges {
		if _, err := materials.ParseVolumeKey(k); err == nil && !matched[a] {
			f.note("additions/purge", k, "local purge names a generation the config does not ask for; ignored")
		}
	}
	slices.SortStableFunc(f.desired, func(a, b desiredVolume) int {
		if c := strings.Compare(a.v.ID, b.v.ID); c != 0 {
			return c
		}
		return cmp.Compare(a.v.Generation, b.v.Generation)
	})
	f.wanted = make(map[string]*desiredVolume, len(f.desired))
	for i := range f.desired {
		dv := &f.desired[i]
		if old := f.wanted[dv.v.ID]; old != nil {
			old.twice = true
			f.note("volumes/"+dv.v.ID, dv.v.Key().String(), "volume asked for at two generations; the higher one ("+itoa(dv.v.Generation)+") wins over "+itoa(old.v.Generation))
		}
		f.wanted[dv.v.ID] = dv
	}
}

// readFiles sorts the floorplan's volume files: new-layout ones by volume
// id, old-layout ones by (sha, app), work in progress, and unknown files.
func (f *facts) readFiles(fp *materials.Floorplan) {
	f.files = make(map[string][]*materials.VolumeFile, len(fp.Volumes))
	f.legacyBy = map[legacyKey][]*materials.VolumeFile{}
	for i := range fp.Volumes {
		vf := &fp.Volumes[i]
		switch {
		case vf.State == materials.StateUnknown || (vf.ID == "" && vf.Legacy == nil):
			f.unknown = append(f.unknown, vf)
		case vf.Legacy != nil && !vf.Temp && vf.State != materials.StatePartial:
			f.legacy = append(f.legacy, vf)
			k := legacyKey{vf.Legacy.SHA256, vf.Legacy.App}
			f.legacyBy[k] = append(f.legacyBy[k], vf)
		case vf.Temp || vf.State == materials.StatePartial:
			f.temps = append(f.temps, vf)
		default:
			f.files[vf.ID] = append(f.files[vf.ID], vf)
		}
	}
	f.fileIDs = slices.Sorted(maps.Keys(f.files))
}

// readBlobs notes, per digest, what the plan's store holds of it.
func (f *facts) readBlobs(recs []materials.BlobRecord) {
	f.blobs = make(map[digest.Digest]blobState, len(recs))
	for i := range recs {
		b := &recs[i]
		s := f.blobs[b.Digest]
		if s.any == nil {
			s.any = b
		}
		if b.Store == f.store || b.Store == "" && f.store == materials.BlobStoreDir {
			switch b.State {
			case materials.StateComplete, materials.StateBroken:
				if s.complete == nil || s.broken {
					s.complete, s.broken = b, b.State == materials.StateBroken
				}
			case materials.StatePartial:
				if s.partial == nil {
					s.partial = b
				}
			}
		}
		f.blobs[b.Digest] = s
	}
}

// readJournal reads what the last apply left: the Blueprint it applied,
// tag latches (the most recent of each tree generation), downloads in
// flight and grace clocks (the earliest of each).
func (f *facts) readJournal(j *materials.JournalState) {
	f.latches = map[latchKey]*materials.TagLatch{}
	f.inflight = map[materials.MaterialRef]*materials.InFlight{}
	f.clocks = map[materials.MaterialRef]time.Time{}
	if j == nil {
		return
	}
	for i := range j.Latches {
		l := &j.Latches[i]
		k := latchKey{l.ContentTree, l.Generation}
		if old := f.latches[k]; old == nil || l.ResolvedAt.After(old.ResolvedAt) {
			f.latches[k] = l
		}
	}
	for i := range j.InFlight {
		in := &j.InFlight[i]
		if old, ok := f.inflight[in.Target]; !ok || in.StartedAt.Before(old.StartedAt) {
			f.inflight[in.Target] = in
		}
	}
	for _, u := range j.Unreferenced {
		t := u.Target
		if t.Kind == materials.KindContentTree {
			// Only image records had content-tree clocks, named by the
			// record before image records had a kind of their own: the
			// clock runs on under the image ref (graceClocks drops the
			// old one).
			t.Kind = materials.KindImage
		}
		if old, ok := f.clocks[t]; !ok || u.Since.Before(old) {
			f.clocks[t] = u.Since
		}
	}
	f.readLastApplied(j.LastApplied)
}

// readLastApplied indexes the last applied Blueprint: its volumes by key
// (the first of a key stands), the highest generation of each id, its
// trees by id, and the old-layout files it named.
func (f *facts) readLastApplied(last *materials.Blueprint) {
	f.last = last
	if last == nil {
		return
	}
	f.lastVols = make(map[materials.VolumeKey]*materials.Volume, len(last.Volumes))
	f.lastMax = make(map[string]int64, len(last.Volumes))
	f.lastTrees = make(map[string]*materials.ContentTree, len(last.ContentTrees))
	for i := range last.ContentTrees {
		if t := &last.ContentTrees[i]; f.lastTrees[t.ID] == nil {
			f.lastTrees[t.ID] = t
		}
	}
	f.lastLegacy = map[legacyKey]bool{}
	for i := range last.Volumes {
		v := &last.Volumes[i]
		if _, ok := f.lastVols[v.Key()]; !ok {
			f.lastVols[v.Key()] = v
		}
		if g, ok := f.lastMax[v.ID]; !ok || v.Generation > g {
			f.lastMax[v.ID] = v.Generation
		}
		if t := f.lastTrees[v.ContentTree]; t != nil && t.SHA256 != "" && len(f.legacy) > 0 {
			if v.Implicit {
				f.lastLegacy[legacyKey{t.SHA256, v.App}] = true
			}
			for _, app := range v.Apps {
				f.lastLegacy[legacyKey{t.SHA256, app}] = true
			}
		}
	}
}

func (f *facts) note(path, value, msg string) {
	f.notes = append(f.notes, materials.Diagnostic{Severity: materials.SeverityWarning, Path: path, Value: value, Message: msg})
}

// tree is the desired content tree with that id (the first, when the id
// is repeated), or nil.
func (f *facts) tree(id string) *materials.ContentTree { return f.treeByID[id] }

// wantedVolume is the desired volume of an id (the highest generation when
// it is asked for twice), or nil.
func (f *facts) wantedVolume(id string) *desiredVolume { return f.wanted[id] }

// filesOf are the new-layout files of a volume id, in floorplan order.
func (f *facts) filesOf(id string) []*materials.VolumeFile { return f.files[id] }

// presentVolumes counts distinct volume ids on disk (new layout) plus
// old-layout files: the mass-delete guard's denominator.
func (f *facts) presentVolumes() int { return len(f.files) + len(f.legacy) }

// blobState is what the plan's store holds of d.
func (f *facts) blobState(d digest.Digest) blobState { return f.blobs[d] }

// present is the digest's complete (or broken) record in the plan's store.
func (f *facts) present(d digest.Digest) *materials.BlobRecord { return f.blobs[d].complete }

// keptByImage reports whether a containerd image record keeps d.
func (f *facts) keptByImage(d digest.Digest) bool {
	if f.imageRef == nil {
		f.imageRef = map[digest.Digest]bool{}
		for _, im := range f.images {
			f.imageRef[im.Target] = true
			for _, c := range im.Blobs {
				f.imageRef[c] = true
			}
		}
	}
	return f.imageRef[d]
}

// lastApplied is the last applied Blueprint's volume with key k, or nil.
func (f *facts) lastApplied(k materials.VolumeKey) *materials.Volume { return f.lastVols[k] }

// lastGeneration is the highest generation of a volume id the last
// applied Blueprint named (0 when none).
func (f *facts) lastGeneration(id string) int64 { return f.lastMax[id] }

// lastTree is the last applied Blueprint's tree with that id, or nil.
func (f *facts) lastTree(id string) *materials.ContentTree { return f.lastTrees[id] }

// lastNamedOldFile reports whether the last applied Blueprint named the
// old-layout file of that content and app.
func (f *facts) lastNamedOldFile(k legacyKey) bool { return f.lastLegacy[k] }

// latch is the most recent latch of a tree generation, or nil.
func (f *facts) latch(tree string, gen int64) *materials.TagLatch {
	return f.latches[latchKey{tree, gen}]
}

// inFlight is the earliest remodel of ref the last apply left in flight.
func (f *facts) inFlight(ref materials.MaterialRef) *materials.InFlight { return f.inflight[ref] }

// isOCI reports whether the tree is an OCI image: a container format or a
// container-registry datastore.
func (f *facts) isOCI(t *materials.ContentTree) bool {
	if t.Format == materials.FormatContainer {
		return true
	}
	for _, id := range t.Datastores {
		if ds, ok := f.datastores[id]; ok && ds.Type == materials.DatastoreContainerRegistry {
			return true
		}
	}
	return false
}

// topDigest finds a tree's top blob: the configured sha256, a digest in
// the URL, or the journal's latch for this tree generation and URL. The
// second result is the reason a resolve is needed when the first is empty
// and the tree is OCI.
func (f *facts) topDigest(t *materials.ContentTree) (digest.Digest, string) {
	if t.SHA256 != "" {
		if !validHex(t.SHA256) {
			return "", ""
		}
		return digest.Digest("sha256:" + t.SHA256), ""
	}
	if !f.isOCI(t) {
		return "", ""
	}
	if i := strings.LastIndex(t.URL, "@sha256:"); i >= 0 && validHex(t.URL[i+8:]) {
		return digest.Digest(t.URL[i+1:]), ""
	}
	if l := f.latch(t.ID, t.Generation); l != nil {
		if l.URL == t.URL && l.Digest != "" {
			return l.Digest, ""
		}
		return "", "URL changed from " + l.URL + " to " + t.URL + " since the tag was latched; resolve " + t.URL
	}
	return "", "tag " + t.URL + " not resolved yet (no latch for generation " + itoa(t.Generation) + ")"
}

// lastTreeOf names the tree of the last applied Blueprint whose top blob
// is d, for the reason of a delete.
func (f *facts) lastTreeOf(d digest.Digest) string {
	if f.last == nil {
		return ""
	}
	if f.lastTopOf == nil {
		f.lastTopOf = map[digest.Digest]string{}
		for i := range f.last.ContentTrees {
			t := &f.last.ContentTrees[i]
			if top, _ := f.topDigest(t); top != "" {
				if _, ok := f.lastTopOf[top]; !ok {
					f.lastTopOf[top] = treeName(t)
				}
			}
		}
	}
	return f.lastTopOf[d]
}

// imageTree is the content tree id of an image record named
// `<content-tree-id>-<URL>`: a leading uuid that names a desired tree, else
// the longest prefix before a dash that names a tree of this or the last
// applied Blueprint, else a leading uuid, else everything up to the first
// dash.
func (f *facts) imageTree(name string) string {
	if len(name) > 36 && name[36] == '-' && f.tree(name[:36]) != nil {
		return name[:36]
	}
	best := ""
	for i := 0; i < len(name); i++ {
		if name[i] == '-' && (f.tree(name[:i]) != nil || f.lastTree(name[:i]) != nil) {
			best = name[:i]
		}
	}
	switch {
	case best != "":
		return best
	case len(name) > 36 && name[36] == '-' && strings.Count(name[:36], "-") == 4:
		return name[:36]
	}
	if i := strings.IndexByte(name, '-'); i > 0 {
		return name[:i]
	}
	return name
}

func validHex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
