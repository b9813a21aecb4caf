package foreman

import (
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// treeState is what the plan knows about one desired content tree. It is
// small (one per tree, a hundred thousand at scale); what only trees with
// work to do have is in treeWork.
type treeState struct {
	tree *materials.ContentTree
	top  digest.Digest
	work *treeWork
	idx  int32
	oci  bool
	// ready: every blob of the tree is known (present, or planned to
	// download with nothing left to learn from it), so a volume can be
	// created from it after deps.
	ready  bool
	wanted bool
}

// treeWork is what a tree that needs work carries.
type treeWork struct {
	deps []string
	// why is the reason the tree cannot be addressed at all (no digest and
	// no tag to resolve); empty otherwise.
	why string
	// pending are the tree's resolve, download and verify remodels. They
	// join the plan only when the tree is wanted: a volume must be made
	// from it, or no volume refers to it (EVE fetches every content tree
	// of the config). A tree whose volumes all exist (or were adopted) is
	// not fetched again.
	pending []*node
}

// w is the tree's work, made on first use.
func (ts *treeState) w() *treeWork {
	if ts.work == nil {
		ts.work = &treeWork{}
	}
	return ts.work
}

func (ts *treeState) deps() []string {
	if ts.work == nil {
		return nil
	}
	return ts.work.deps
}

func (ts *treeState) why() string {
	if ts.work == nil {
		return ""
	}
	return ts.work.why
}

// pending registers a remodel of a tree without putting it in the plan yet.
func (p *planner) pending(ts *treeState, r remodel.Remodel) *node {
	n, ok := p.byID[r.ID]
	if !ok {
		n = &node{r: r}
		p.byID[r.ID] = n
	}
	ts.w().pending = append(ts.w().pending, n)
	return n
}

// want puts a tree's pending remodels into the plan.
func (p *planner) want(ts *treeState) {
	if ts.wanted {
		return
	}
	ts.wanted = true
	if ts.work == nil {
		return
	}
	for _, n := range ts.work.pending {
		if !n.live {
			n.live = true
			p.nodes = append(p.nodes, n)
		}
	}
}

// standaloneTrees wants the trees no desired volume refers to.
func (p *planner) standaloneTrees() {
	refd := p.referenced // by a tree's first index; volumes() found them
	if refd == nil {
		vs := p.bp.Volumes
		refd = make([]bool, len(p.trees))
		for _, ti := range p.joinTrees(len(vs), func(i int) (string, bool) {
			return vs[i].ContentTree, vs[i].Origin == materials.OriginDownload
		}) {
			if ti >= 0 {
				refd[ti] = true
			}
		}
	}
	for i := range p.trees {
		if first := p.firstTree[i]; !refd[first] {
			p.want(&p.stateArr[first])
		}
	}
}

// isOCI reports whether the tree is an OCI image: a container format or a
// container-registry datastore.
func (p *planner) isOCI(t *materials.ContentTree) bool {
	if t.Format == materials.FormatContainer {
		return true
	}
	for _, id := range t.Datastores {
		if ds, ok := p.dsByID[id]; ok && ds.Type == materials.DatastoreContainerRegistry {
			return true
		}
	}
	return false
}

// isIndex reports whether a blob is an OCI image index (or a Docker
// manifest list): its children are per-platform manifests, of which the
// assembler fetches only its own platform's.
func isIndex(b *materials.BlobRecord) bool {
	return strings.Contains(b.MediaType, "image.index") || strings.Contains(b.MediaType, "manifest.list")
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

// topDigest finds a tree's top blob: the configured sha256, a digest in
// the URL, or the journal's latch for this tree generation and URL. The
// second result is the reason a resolve is needed when the first is empty
// and the tree is OCI.
func (p *planner) topDigest(t *materials.ContentTree, oci bool) (digest.Digest, string) {
	if t.SHA256 != "" {
		if !validHex(t.SHA256) {
			return "", ""
		}
		// Not digest.NewDigestFromEncoded: it formats with fmt, a
		// noticeable share of a plan that has tens of thousands of trees.
		return digest.Digest("sha256:" + t.SHA256), ""
	}
	if !oci {
		return "", ""
	}
	if i := strings.LastIndex(t.URL, "@sha256:"); i >= 0 && validHex(t.URL[i+8:]) {
		return digest.Digest(t.URL[i+1:]), ""
	}
	if l := p.latch(t.ID, t.Generation); l != nil {
		if l.URL == t.URL && l.Digest != "" {
			return l.Digest, ""
		}
		return "", "URL changed from " + l.URL + " to " + t.URL + " since the tag was latched; resolve " + t.URL
	}
	return "", "tag " + t.URL + " not resolved yet (no latch for generation " + itoa(t.Generation) + ")"
}

// contentTrees plans what every desired content tree still needs:
// resolves, downloads of missing blobs (resumed when partial) and
// verifies of uncertain ones.
func (p *planner) contentTrees() {
	// Every tree's top digest first, so that the walk can warm the index
	// for the trees ahead of it.
	tops := make([]digest.Digest, len(p.trees))
	whys := make([]string, len(p.trees))
	for i, t := range p.trees {
		if p.firstTree[i] != int32(i) {
			continue // a duplicate id: the first one stands
		}
		ts := &p.stateArr[i]
		ts.oci = p.isOCI(t)
		tops[i], whys[i] = p.topDigest(t, ts.oci)
	}
	for i, t := range p.trees {
		if i%warmGroup == 0 {
			group := tops[i:min(i+warmGroup, len(tops))]
			p.index.warm(group)
			p.warmChildren(group)
		}
		ts := &p.stateArr[i]
		if p.firstTree[i] != int32(i) {
			continue
		}
		top, resolveWhy := tops[i], whys[i]
		if top == "" {
			ref := materials.MaterialRef{Kind: materials.KindContentTree, ID: t.ID}
			if resolveWhy != "" {
				if p.unresolved == "" {
					p.unresolved = "waits for content tree " + treeName(t) + " to be resolved: its blobs are not known yet"
				}
				ct := *t
				n := p.pending(ts, remodel.Remodel{
					ID: remodelID(remodel.ActionResolve, ref), Action: remodel.ActionResolve, Target: ref,
					Reason:      "content tree " + treeName(t) + ": " + resolveWhy,
					ContentTree: &ct,
				})
				n.guards = append(n.guards, ref)
				continue
			}
			if t.SHA256 != "" {
				ts.w().why = "content tree " + treeName(t) + " has an invalid sha256 " + t.SHA256
			} else {
				ts.w().why = "content tree " + treeName(t) + " has no sha256 and is not an OCI reference: its blob cannot be addressed"
			}
			p.diag(materials.SeverityWarning, "contentTrees/"+t.ID, t.URL, ts.why())
			continue
		}
		ts.top = top
		ts.ready = true
		p.visited = p.visited[:0]
		p.walk(ts, top, true, true)
	}
}

// warmChildren warms the lookups of the children of the present tops
// among ds (an OCI manifest's config and layers, an index's manifests),
// and the media type the walk reads of each top, for a group of trees at
// once: the walk of one tree then waits for no chain of cache misses
// (top slot, record, children, their slots), as it otherwise would tree
// after tree once the floorplan outgrows the cache.
func (p *planner) warmChildren(ds []digest.Digest) {
	kids := p.kids[:0]
	for _, d := range ds {
		if d == "" {
			continue
		}
		if rec := p.present(d); rec != nil && len(rec.Children) > 0 {
			if len(rec.MediaType) > 0 {
				p.index.sink += uint64(rec.MediaType[0])
			}
			kids = append(kids, rec.Children...)
		}
	}
	p.index.warm(kids)
	p.kids = kids[:0]
}

// need marks d as needed by tree ts and returns what the floorplan holds
// of it.
func (p *planner) need(d digest.Digest, ts *treeState) blobState {
	s := p.blobState(d)
	for q := s.lo; q < s.hi; q++ {
		if i := p.index.match(q, d, s.hash); i >= 0 && p.index.needed[i] == 0 {
			p.index.needed[i] = ts.idx + 1
		}
	}
	if p.blobTrees != nil {
		l := p.blobTrees[d]
		if len(l) == 0 || l[len(l)-1] != ts.tree.ID {
			p.blobTrees[d] = append(l, ts.tree.ID)
		}
	}
	return s
}

// walk visits blob d of tree ts. parent is true for blobs that name other
// blobs (an OCI tree's top, an index's manifests); top for the tree's top.
func (p *planner) walk(ts *treeState, d digest.Digest, parent, top bool) {
	// The blobs of the tree walked so far (a handful; reused across trees).
	for _, v := range p.visited {
		if v == d {
			return
		}
	}
	p.visited = append(p.visited, d)
	e := p.need(d, ts)
	rec := e.complete
	if rec == nil || e.broken {
		ts.w().deps = append(ts.w().deps, p.fetch(ts, d, rec, e.partial, top)...)
		if ts.oci && parent {
			ts.ready = false // its children are known only once it is here
			if p.unresolved == "" {
				p.unresolved = "waits for the manifests of content tree " + treeName(ts.tree) + ": its blobs are not all known yet"
			}
		}
		return
	}
	if len(p.inflight) > 0 {
		if in := p.inflight[blobRef(d)]; in != nil {
			ts.w().deps = append(ts.w().deps, p.verify(ts, d, rec, "a "+in.Action+" was in flight when the last apply stopped (started "+fmtTime(in.StartedAt)+"): verify before use"))
		}
	}
	if !ts.oci || !parent {
		return
	}
	p.noteChildren(rec)
	p.index.warm(rec.Children)
	if isIndex(rec) {
		found := false
		for _, c := range rec.Children {
			if cr := p.present(c); cr != nil && cr.State == materials.StateComplete {
				found = true
				p.walk(ts, c, true, false)
			}
		}
		if !found {
			ts.ready = false
			if p.unresolved == "" {
				p.unresolved = "waits for the manifests of content tree " + treeName(ts.tree) + ": its blobs are not all known yet"
			}
			ts.w().deps = append(ts.w().deps, p.download(ts, d, nil, top, "index "+string(d)+" of content tree "+treeName(ts.tree)+" is present but none of its platform manifests: fetch this platform's"))
		}
		return
	}
	if len(rec.Children) == 0 {
		ts.ready = false
		p.diag(materials.SeverityWarning, "blobs/"+string(d), rec.MediaType, "manifest of content tree "+ts.tree.ID+" names no config or layers; the tree cannot be built")
		return
	}
	for _, c := range rec.Children {
		p.walk(ts, c, false, false)
	}
}

// fetch plans what a missing (or broken) blob needs: a download, resumed
// when a partial ingest exists; a verify when all bytes are written but
// not committed, or when the record is broken; and for a signed tree's top
// blob, a verify after the download. It returns the remodel ids a volume
// built from the blob must wait for.
func (p *planner) fetch(ts *treeState, d digest.Digest, rec, part *materials.BlobRecord, top bool) []string {
	if rec != nil { // broken
		why := "blob found broken"
		if rec.Reason != "" {
			why += " (" + rec.Reason + ")"
		}
		return []string{p.verify(ts, d, rec, why+": verify, and fetch again if it does not match")}
	}
	if part != nil && part.Size > 0 && part.Offset >= part.Size {
		return []string{p.verify(ts, d, part, "all "+itoa(part.Size)+" bytes written but not committed: verify before commit")}
	}
	var what string
	switch {
	case top && ts.oci:
		what = "top blob (manifest or index) of content tree " + treeName(ts.tree) + " not present"
	case top:
		what = "content tree " + treeName(ts.tree) + " not present"
	default:
		what = "blob of content tree " + treeName(ts.tree) + " not present"
	}
	id := p.download(ts, d, part, top, what)
	// A signature is not checked here (architect warns so); the download
	// checks the sha256, so no verify is planned on its account.
	return []string{id}
}

func (p *planner) download(ts *treeState, d digest.Digest, part *materials.BlobRecord, top bool, reason string) string {
	ref := blobRef(d)
	id := remodelID(remodel.ActionDownload, ref)
	if n, ok := p.byID[id]; ok {
		ts.w().pending = append(ts.w().pending, n)
		return id
	}
	size := int64(0)
	if top && !ts.oci {
		size = int64(ts.tree.MaxSizeBytes)
	}
	var off int64
	if part != nil {
		off = part.Offset
		if part.Size > 0 {
			size = part.Size
		}
		if in := p.inflight[ref]; in != nil {
			reason += "; was in flight when the last apply stopped"
		}
		reason += "; resume from offset " + itoa(off)
		if size > 0 {
			reason += " of " + itoa(size)
		}
	}
	need := size - off
	if need < 0 {
		need = 0
	}
	ct := *ts.tree
	r := remodel.Remodel{
		ID: id, Action: remodel.ActionDownload, Target: ref, Reason: reason,
		ContentTree: &ct,
		Blob:        &materials.Blob{Digest: d, Size: size},
		Store:       p.store,
		Offset:      off,
		Bytes:       need,
	}
	if part != nil {
		r.Blob.MediaType = part.MediaType
	}
	// What the parent manifest says of a child: its size (for progress,
	// resume and disk admission) and media type (which endpoint serves it).
	if desc, ok := p.childDesc[d]; ok {
		if r.Blob.Size <= 0 && desc.Size > 0 {
			r.Blob.Size = desc.Size
			r.Bytes = max(desc.Size-off, 0)
		}
		if r.Blob.MediaType == "" {
			r.Blob.MediaType = desc.MediaType
		}
	}
	p.pending(ts, r)
	return id
}

// noteChildren remembers what a present index or manifest says of each of
// its children, for their downloads.
func (p *planner) noteChildren(rec *materials.BlobRecord) {
	if len(rec.ChildBlobs) == 0 {
		return
	}
	if p.childDesc == nil {
		p.childDesc = map[digest.Digest]materials.Blob{}
	}
	for _, b := range rec.ChildBlobs {
		if _, seen := p.childDesc[b.Digest]; !seen {
			p.childDesc[b.Digest] = b
		}
	}
}

func (p *planner) verify(ts *treeState, d digest.Digest, rec *materials.BlobRecord, reason string) string {
	store := p.store
	if rec != nil && rec.Store != "" {
		store = rec.Store
	}
	ref := blobRef(d)
	id := remodelID(remodel.ActionVerify, ref)
	if n, ok := p.byID[id]; ok {
		ts.w().pending = append(ts.w().pending, n)
		return id
	}
	b := &materials.Blob{Digest: d}
	if rec != nil {
		b.Size, b.MediaType = rec.Size, rec.MediaType
	}
	ct := *ts.tree
	p.pending(ts, remodel.Remodel{
		ID: id, Action: remodel.ActionVerify, Target: ref, Reason: reason,
		ContentTree: &ct, Blob: b, Store: store,
	})
	return id
}

// unneededBlobs plans the deletion of blobs no desired content tree needs,
// once the grace period since their last reference went away is over.
func (p *planner) unneededBlobs() {
	if !p.valid {
		return // nothing is known to be unneeded on an incomplete blueprint
	}
	var reachable map[digest.Digest]bool // blobs kept by a containerd image record
	needed := p.index.neededRecords()
	for i := range p.fp.Blobs {
		if needed[i] {
			continue
		}
		b := &p.fp.Blobs[i]
		if b.Store == materials.BlobStoreContainerd {
			if b.Labels[OwnerLabel] != OwnerValue {
				continue // not ours: never touched
			}
			if reachable == nil {
				reachable = map[digest.Digest]bool{}
				for _, im := range p.fp.Images {
					reachable[im.Target] = true
					for _, c := range im.Blobs {
						reachable[c] = true
					}
				}
			}
			if reachable[b.Digest] {
				continue // containerd collects it after its image record goes
			}
		}
		ref := blobRef(b.Digest)
		since := p.clock(ref)
		id := remodelID(remodel.ActionDelete, ref)
		if b.Store == materials.BlobStoreContainerd {
			id += "@containerd"
		}
		what := "blob"
		if b.State == materials.StatePartial {
			what = "partial download"
		}
		if name := p.lastTreeOf(b.Digest); name != "" {
			what += " of content tree " + name
		}
		n := p.add(remodel.Remodel{
			ID: id, Action: remodel.ActionDelete, Target: ref,
			Reason: what + " no longer referenced since " + fmtTime(since),
			Blob:   &materials.Blob{Digest: b.Digest, Size: b.Size, MediaType: b.MediaType},
			Store:  b.Store, Path: b.Path,
		})
		n.since, n.grace = since, true
		n.partial = b.State == materials.StatePartial
		if n.partial && p.opts.CleanUp {
			n.r.Reason += "; clean-up: a partial is not kept for the grace period"
		}
	}
}

// lastTreeOf names the tree of the last applied Blueprint whose top blob
// is d, for the reason of a delete.
func (p *planner) lastTreeOf(d digest.Digest) string {
	if p.last == nil {
		return ""
	}
	if p.lastTopOf == nil {
		p.lastTopOf = map[digest.Digest]string{}
		for i := range p.last.ContentTrees {
			t := &p.last.ContentTrees[i]
			if top, _ := p.topDigest(t, p.isOCI(t)); top != "" {
				if _, ok := p.lastTopOf[top]; !ok {
					p.lastTopOf[top] = treeName(t)
				}
			}
		}
	}
	return p.lastTopOf[d]
}

// images plans the deletion of containerd image records edgewright wrote
// for content trees that are no longer wanted (or whose URL changed),
// after the grace period. Their blobs are left to containerd's collector.
func (p *planner) images() {
	if !p.valid {
		return
	}
	for i := range p.fp.Images {
		im := &p.fp.Images[i]
		if im.Labels[OwnerLabel] != OwnerValue {
			continue
		}
		tid, ti := p.imageTree(im.Name)
		if ti < 0 {
			ti = findTree(p.treeIDs, tid, &p.treeFinger)
		}
		var t *materials.ContentTree
		if ti >= 0 {
			t = p.trees[ti]
		}
		if t != nil && isImageName(im.Name, t.ID, t.URL) {
			continue
		}
		ref := materials.MaterialRef{Kind: materials.KindContentTree, ID: im.Name}
		since := p.clock(ref)
		var reason string
		if t != nil {
			reason = "content tree " + treeName(t) + " now has URL " + t.URL + "; image record for the old URL unreferenced since " + fmtTime(since)
		} else {
			name := tid
			if lt := p.lastTreeByID(tid); lt != nil {
				name = treeName(lt)
			}
			reason = "content tree " + name + " no longer referenced since " + fmtTime(since)
		}
		n := p.add(remodel.Remodel{
			ID: remodelID(remodel.ActionDelete, ref), Action: remodel.ActionDelete, Target: ref,
			Reason: reason, Image: im.Name, Store: materials.BlobStoreContainerd,
		})
		n.since, n.grace = since, true
	}
}

// isImageName reports whether name is `<id>-<url>`, without making
// that string.
func isImageName(name, id, url string) bool {
	return isDashPrefix(name, id) && name[len(id)+1:] == url
}

// imageTree is the content tree id of an image record named
// `<content-tree-id>-<URL>`: the longest prefix before a dash that names a
// tree of this or the last applied Blueprint, else a leading uuid, else
// everything up to the first dash. The second result is the index of the
// first desired tree with that id when the search found it on the way,
// else -1 (not known).
func (p *planner) imageTree(name string) (string, int) {
	if len(name) > 36 && name[36] == '-' {
		if i := findTree(p.treeIDs, name[:36], nil); i >= 0 {
			return name[:36], i
		}
	}
	// The largest id not above the name is the longest candidate prefix:
	// when it is one, no longer id can be.
	best, bestAt := "", -1
	for k, ids := range [2][]string{p.treeIDs, p.lastTreeIDs} {
		// Image records come sorted by name: the fingers walk forward.
		i := p.imageFingers[k].search(len(ids), func(i int) bool { return ids[i] <= name }) - 1
		if i >= 0 && len(ids[i]) > len(best) && isDashPrefix(name, ids[i]) {
			best = ids[i]
			if k == 0 {
				bestAt = int(p.firstTree[i])
			} else {
				bestAt = -1
			}
		}
	}
	if best != "" {
		return best, bestAt
	}
	for i := 0; i < len(name); i++ {
		if name[i] != '-' {
			continue
		}
		id := name[:i]
		if p.stateOf(id) != nil {
			best = id
		} else if p.lastTreeByID(id) != nil {
			best = id
		}
	}
	if best != "" {
		return best, -1
	}
	if len(name) > 36 && name[36] == '-' && strings.Count(name[:36], "-") == 4 {
		return name[:36], -1
	}
	if i := strings.IndexByte(name, '-'); i > 0 {
		return name[:i], -1
	}
	return name, -1
}

// isDashPrefix reports whether name starts with id and a dash.
func isDashPrefix(name, id string) bool {
	return len(name) > len(id) && name[len(id)] == '-' && name[:len(id)] == id
}
