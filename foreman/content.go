package foreman

import (
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// treeState is what the plan knows about one desired content tree.
type treeState struct {
	tree *materials.ContentTree
	top  digest.Digest
	oci  bool
	// ready: every blob of the tree is known (present, or planned to
	// download with nothing left to learn from it), so a volume can be
	// created from it after deps.
	ready  bool
	wanted bool
	// deps are the remodels a volume made from the tree waits for.
	deps []remodel.ID
	// layerBytes is the size of an OCI tree's config and layers as far
	// as known: the least a container volume unpacked from it takes.
	layerBytes int64
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

// pending registers a remodel of a tree without putting it in the plan yet.
func (p *planner) pending(ts *treeState, r remodel.Remodel) *node {
	n, ok := p.byID[r.ID]
	if !ok {
		n = &node{r: r}
		p.byID[r.ID] = n
	}
	ts.pending = append(ts.pending, n)
	return n
}

// want puts a tree's pending remodels into the plan.
func (p *planner) want(ts *treeState) {
	if ts.wanted {
		return
	}
	ts.wanted = true
	for _, n := range ts.pending {
		if !n.live {
			n.live = true
			p.nodes = append(p.nodes, n)
		}
	}
}

// standaloneTrees wants the trees no desired volume refers to: EVE
// fetches every content tree of its config.
func (p *planner) standaloneTrees() {
	for _, ts := range p.treeOrder {
		if !p.facts.madeFrom[ts.tree.ID] {
			p.want(ts)
		}
	}
}

// isIndex reports whether a blob is an OCI image index (or a Docker
// manifest list): its children are per-platform manifests, of which the
// assembler fetches only its own platform's.
func isIndex(b *materials.BlobRecord) bool {
	return strings.Contains(b.MediaType, "image.index") || strings.Contains(b.MediaType, "manifest.list")
}

// contentTrees plans what every desired content tree still needs:
// resolves, downloads of missing blobs (resumed when partial) and
// verifies of uncertain ones.
func (p *planner) contentTrees() {
	for _, ts := range p.treeOrder {
		p.contentTree(ts)
	}
}

// contentTree walks one tree from its top blob; a tree without one is
// resolved first (an OCI tag) or cannot be addressed at all.
func (p *planner) contentTree(ts *treeState) {
	t := ts.tree
	ts.oci = p.facts.isOCI(t)
	top, resolveWhy := p.facts.topDigest(t)
	if top != "" {
		ts.top, ts.ready = top, true
		p.visited = p.visited[:0]
		p.walk(ts, top, true, true)
		return
	}
	ref := materials.MaterialRef{Kind: materials.KindContentTree, ID: t.ID}
	if resolveWhy != "" {
		if p.unresolved == "" {
			p.unresolved = "waits for content tree " + treeName(t) + " to be resolved: its blobs are not known yet"
		}
		n := p.pending(ts, remodel.Remodel{
			ID: remodel.NewID(remodel.ActionResolve, ref), Action: remodel.ActionResolve, Target: ref,
			Reason:  "content tree " + treeName(t) + ": " + resolveWhy,
			Payload: &remodel.ResolvePayload{ContentTree: *t},
		})
		n.guards = append(n.guards, ref)
		return
	}
	if t.SHA256 != "" {
		ts.why = "content tree " + treeName(t) + " has an invalid sha256 " + t.SHA256
	} else {
		ts.why = "content tree " + treeName(t) + " has no sha256 and is not an OCI reference: its blob cannot be addressed"
	}
	p.diag(materials.SeverityWarning, "contentTrees/"+t.ID, t.URL, ts.why)
}

// need marks d as needed by tree ts and returns what the floorplan holds
// of it.
func (p *planner) need(d digest.Digest, ts *treeState) blobState {
	p.needed[d] = true
	if p.blobTrees != nil {
		l := p.blobTrees[d]
		if len(l) == 0 || l[len(l)-1] != ts.tree.ID {
			p.blobTrees[d] = append(l, ts.tree.ID)
		}
	}
	return p.facts.blobState(d)
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
	if ts.oci && !parent {
		ts.layerBytes += p.knownSize(d, rec)
	}
	if rec == nil || e.broken {
		ts.deps = append(ts.deps, p.fetch(ts, d, rec, e.partial, top)...)
		if ts.oci && parent {
			ts.ready = false // its children are known only once it is here
			if p.unresolved == "" {
				p.unresolved = "waits for the manifests of content tree " + treeName(ts.tree) + ": its blobs are not all known yet"
			}
		}
		return
	}
	if in := p.facts.inFlight(blobRef(d)); in != nil {
		ts.deps = append(ts.deps, p.verify(ts, d, rec, "a "+in.Action+" was in flight when the last apply stopped (started "+fmtTime(in.StartedAt)+"): verify before use"))
	}
	if !ts.oci || !parent {
		return
	}
	p.noteChildren(rec)
	if isIndex(rec) {
		p.walkIndex(ts, d, rec, top)
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

// walkIndex walks the platform manifests of a present index; with none
// present, the index is fetched again with this platform's.
func (p *planner) walkIndex(ts *treeState, d digest.Digest, rec *materials.BlobRecord, top bool) {
	found := false
	for _, c := range rec.Children {
		// A broken manifest is walked too: it is verified (and fetched
		// again when it does not match) instead of re-fetching the index,
		// which would find the manifest present and change nothing.
		if cr := p.facts.present(c); cr != nil && (cr.State == materials.StateComplete || cr.State == materials.StateBroken) {
			found = true
			p.walk(ts, c, true, false)
		}
	}
	if !found {
		ts.ready = false
		if p.unresolved == "" {
			p.unresolved = "waits for the manifests of content tree " + treeName(ts.tree) + ": its blobs are not all known yet"
		}
		ts.deps = append(ts.deps, p.download(ts, d, nil, top, "index "+string(d)+" of content tree "+treeName(ts.tree)+" is present but none of its platform manifests: fetch this platform's"))
	}
}

// fetch plans what a missing (or broken) blob needs: a download, resumed
// when a partial ingest exists; a verify when all bytes are written but
// not committed, or when the record is broken; and for a signed tree's top
// blob, a verify after the download. It returns the remodel ids a volume
// built from the blob must wait for.
func (p *planner) fetch(ts *treeState, d digest.Digest, rec, part *materials.BlobRecord, top bool) []remodel.ID {
	if rec != nil { // broken
		why := "blob found broken"
		if rec.Reason != "" {
			why += " (" + rec.Reason + ")"
		}
		return []remodel.ID{p.verify(ts, d, rec, why+": verify, and fetch again if it does not match")}
	}
	if part != nil && part.Size > 0 && part.Offset >= part.Size {
		return []remodel.ID{p.verify(ts, d, part, "all "+remodel.Bytes(part.Size)+" written but not committed: verify before commit")}
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
	return []remodel.ID{id}
}

// download fetches a missing blob of tree ts, resuming a partial ingest
// from its offset; its size comes from the partial record, the parent
// manifest, or (for a VM image's top blob) the tree's maxsizebytes.
func (p *planner) download(ts *treeState, d digest.Digest, part *materials.BlobRecord, top bool, reason string) remodel.ID {
	ref := blobRef(d)
	id := remodel.NewID(remodel.ActionDownload, ref)
	if n, ok := p.byID[id]; ok {
		ts.pending = append(ts.pending, n)
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
		if in := p.facts.inFlight(ref); in != nil {
			reason += "; was in flight when the last apply stopped"
		}
		reason += "; resume from offset " + remodel.Bytes(off)
		if size > 0 {
			reason += " of " + remodel.Bytes(size)
		}
	}
	need := size - off
	if need < 0 {
		need = 0
	}
	pl := &remodel.DownloadPayload{ContentTree: ts.pinned(), Blob: materials.Blob{Digest: d, Size: size}, Store: p.store, Offset: off}
	pl.Offer = p.offerFor(d, ts.tree, off, size)
	r := remodel.Remodel{ID: id, Action: remodel.ActionDownload, Target: ref, Reason: reason, Payload: pl, Bytes: need}
	if part != nil {
		pl.Blob.MediaType = part.MediaType
	}
	// What the parent manifest says of a child: its size (for progress,
	// resume and disk admission) and media type (which endpoint serves it).
	if desc, ok := p.childDesc[d]; ok {
		if pl.Blob.Size <= 0 && desc.Size > 0 {
			pl.Blob.Size = desc.Size
			r.Bytes = max(desc.Size-off, 0)
		}
		if pl.Blob.MediaType == "" {
			pl.Blob.MediaType = desc.MediaType
		}
	}
	p.pending(ts, r)
	return id
}

// offerFor is the chunk offer that holds for the download of d into the
// blob directory at offset off, of a blob of at most size bytes, from the
// tree's first datastore (the one the executor tries first): one computed
// against that blob, datastore and offset, whose seeds are all complete
// blobs here. nil when none holds.
func (p *planner) offerFor(d digest.Digest, t *materials.ContentTree, off, size int64) *materials.ChunkOffer {
	if len(p.opts.Offers) == 0 || len(t.Datastores) == 0 || size <= 0 || (p.store != "" && p.store != materials.BlobStoreDir) {
		return nil
	}
next:
	for i := range p.opts.Offers {
		o := &p.opts.Offers[i]
		if o.Blob != d || o.Datastore != t.Datastores[0] || o.Offset != off || o.Size <= 0 || o.Size > size ||
			o.FetchBytes < 0 || o.FetchBytes > o.Size-off || (!o.Whole && len(o.Seeds) == 0) {
			continue
		}
		for _, s := range o.Seeds {
			if rec := p.facts.present(s); s == d || rec == nil || rec.State != materials.StateComplete {
				continue next
			}
		}
		c := *o
		c.Seeds = slices.Clone(o.Seeds)
		return &c
	}
	return nil
}

// dropOffersOfDeletedSeeds forgets the chunk offer of a download one of
// whose seeds this plan deletes (its grace period is over): the seed may
// be gone when the download runs, so the offer would promise bytes it
// cannot keep. Run after the guards, which decide what is deleted.
func (p *planner) dropOffersOfDeletedSeeds() {
	for _, n := range p.nodes {
		pl, ok := remodel.PayloadOf[*remodel.DownloadPayload](&n.r)
		if !ok || pl.Offer == nil {
			continue
		}
		for _, s := range pl.Offer.Seeds {
			if del, ok := p.byID[remodel.NewID(remodel.ActionDelete, blobRef(s))]; ok && del.live && !del.held {
				pl.Offer = nil
				break
			}
		}
	}
}

// knownSize is a blob's size from its record, else from what its parent
// manifest says of it; 0 when neither knows.
func (p *planner) knownSize(d digest.Digest, rec *materials.BlobRecord) int64 {
	if rec != nil && rec.Size > 0 {
		return rec.Size
	}
	return max(p.childDesc[d].Size, 0)
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

// verify checks a blob of tree ts before use: an uncertain record, or a
// signed tree's top blob after its download.
func (p *planner) verify(ts *treeState, d digest.Digest, rec *materials.BlobRecord, reason string) remodel.ID {
	store := p.store
	if rec != nil && rec.Store != "" {
		store = rec.Store
	}
	ref := blobRef(d)
	id := remodel.NewID(remodel.ActionVerify, ref)
	if n, ok := p.byID[id]; ok {
		ts.pending = append(ts.pending, n)
		return id
	}
	b := materials.Blob{Digest: d}
	if rec != nil {
		b.Size, b.MediaType = rec.Size, rec.MediaType
	}
	p.pending(ts, remodel.Remodel{
		ID: id, Action: remodel.ActionVerify, Target: ref, Reason: reason,
		Payload: &remodel.VerifyPayload{ContentTree: ts.pinned(), Blob: b, Store: store},
	})
	return id
}

// unneededBlobs plans the deletion of blobs no desired content tree needs,
// once the grace period since their last reference went away is over.
// Of containerd's blobs only owned ones an image record does not keep are
// deleted; containerd collects the others after their image record goes.
func (p *planner) unneededBlobs() {
	if !p.valid {
		return // nothing is known to be unneeded on an incomplete blueprint
	}
	for i := range p.fp.Blobs {
		b := &p.fp.Blobs[i]
		if p.needed[b.Digest] {
			continue
		}
		if _, backs := p.backing[b.Digest]; backs {
			continue // an overlay reads through it: needed while the overlay is there
		}
		if b.Store == materials.BlobStoreContainerd && (b.Labels[OwnerLabel] != OwnerValue || p.facts.keptByImage(b.Digest)) {
			continue
		}
		ref := blobRef(b.Digest)
		since := p.clock(ref)
		id := remodel.NewID(remodel.ActionDelete, ref)
		if b.Store == materials.BlobStoreContainerd {
			id = remodel.NewStoreID(remodel.ActionDelete, ref, b.Store)
		}
		what := "blob"
		if b.State == materials.StatePartial {
			what = "partial download"
		}
		if name := p.facts.lastTreeOf(b.Digest); name != "" {
			what += " of content tree " + name
		}
		n := p.add(remodel.Remodel{
			ID: id, Action: remodel.ActionDelete, Target: ref,
			Reason:  what + " no longer referenced since " + fmtTime(since),
			Payload: &remodel.DeletePayload{Blob: &materials.Blob{Digest: b.Digest, Size: b.Size, MediaType: b.MediaType}, Store: b.Store, Path: b.Path},
		})
		n.since, n.grace = since, true
		n.partial = b.State == materials.StatePartial
		if n.partial && p.opts.CleanUp {
			n.r.Reason += "; clean-up: a partial is not kept for the grace period"
		}
	}
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
		tid := p.facts.imageTree(im.Name)
		t := p.facts.tree(tid)
		if t != nil && im.Name == t.ID+"-"+t.URL {
			continue
		}
		ref := materials.MaterialRef{Kind: materials.KindImage, ID: im.Name}
		if path, d := p.overlayOfImage(im); path != "" {
			// Held, and no clock started: the Floorplan of every run
			// carries the overlay, so this holds across restarts and
			// grace periods with nothing journaled.
			p.holdDirect(remodel.NewID(remodel.ActionDelete, ref), remodel.ActionDelete, ref, remodel.HoldBacksOverlay,
				"image record of content tree "+p.imageTreeName(tid)+" kept: it keeps blob "+string(d)+" from containerd's collector, and overlay "+path+" reads through it")
			continue
		}
		since := p.clock(ref)
		var reason string
		if t != nil {
			reason = "content tree " + treeName(t) + " now has URL " + t.URL + "; image record for the old URL unreferenced since " + fmtTime(since)
		} else {
			reason = "content tree " + p.imageTreeName(tid) + " no longer referenced since " + fmtTime(since)
		}
		n := p.add(remodel.Remodel{
			ID: remodel.NewID(remodel.ActionDelete, ref), Action: remodel.ActionDelete, Target: ref,
			Reason: reason, Payload: &remodel.DeletePayload{},
		})
		n.since, n.grace = since, true
	}
}

// imageTreeName names the tree of an image record for a reason: as this
// Blueprint or the last applied one names it, else by its id.
func (p *planner) imageTreeName(tid string) string {
	if t := p.facts.tree(tid); t != nil {
		return treeName(t)
	}
	if lt := p.facts.lastTree(tid); lt != nil {
		return treeName(lt)
	}
	return tid
}

// pinned is the tree as its remodels carry it: with its top blob's digest
// filled in when the config names only a tag, so the executor re-derives
// nothing.
func (ts *treeState) pinned() materials.ContentTree {
	t := *ts.tree
	if t.SHA256 == "" && ts.top != "" {
		t.SHA256 = ts.top.Encoded()
	}
	return t
}

// tops are the trees' top blobs the plan knows (Plan.Tops).
func (p *planner) tops() map[string]digest.Digest {
	var out map[string]digest.Digest
	for _, ts := range p.treeOrder {
		if ts.top == "" {
			continue
		}
		if out == nil {
			out = make(map[string]digest.Digest, len(p.treeOrder))
		}
		out[ts.tree.ID] = ts.top
	}
	return out
}
