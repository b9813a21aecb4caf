package foreman

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// The property: for random Blueprints and Floorplans, applying each plan
// through a simulated assembler converges within a bounded number of
// rounds to a plan with no remodels (held ones aside); no guarded material
// is ever deleted; every plan is pure (same JSON twice, inputs untouched)
// and well ordered (dependencies first, at a lower stage).

// world is what the simulated datastores and registries hold.
type world struct {
	blobs map[digest.Digest]*worldBlob
	tags  map[string]digest.Digest // OCI URL → top digest
	vm    []digest.Digest          // VM image digests
	oci   []string                 // OCI URLs
	// foreign are other platforms' manifests: the assembler never fetches
	// them, so no floorplan holds them.
	foreign map[digest.Digest]bool
}

type worldBlob struct {
	size     int64
	media    string
	children []digest.Digest
}

func hexOf(r *rand.Rand) digest.Digest {
	const hexdig = "0123456789abcdef"
	b := make([]byte, 64)
	for i := range b {
		b[i] = hexdig[r.Intn(16)]
	}
	return digest.Digest("sha256:" + string(b))
}

func newWorld(r *rand.Rand) *world {
	w := &world{blobs: map[digest.Digest]*worldBlob{}, tags: map[string]digest.Digest{}, foreign: map[digest.Digest]bool{}}
	for i := 0; i < 4; i++ {
		d := hexOf(r)
		w.blobs[d] = &worldBlob{size: int64(1+r.Intn(8)) << 20}
		w.vm = append(w.vm, d)
	}
	shared := hexOf(r) // a layer several images share
	w.blobs[shared] = &worldBlob{size: 3 << 20}
	for i := 0; i < 3; i++ {
		url := fmt.Sprintf("library/app%d:v%d", i, r.Intn(3))
		m := hexOf(r)
		cfg, layer := hexOf(r), hexOf(r)
		w.blobs[cfg] = &worldBlob{size: 1 << 10}
		w.blobs[layer] = &worldBlob{size: int64(1+r.Intn(4)) << 20}
		w.blobs[m] = &worldBlob{size: 1 << 10, media: "application/vnd.oci.image.manifest.v1+json", children: []digest.Digest{cfg, layer, shared}}
		top := m
		if r.Intn(2) == 0 { // an index over two platforms
			other := hexOf(r)
			w.foreign[other] = true
			w.blobs[other] = &worldBlob{size: 1 << 10, media: "application/vnd.oci.image.manifest.v1+json", children: []digest.Digest{hexOf(r)}}
			top = hexOf(r)
			w.blobs[top] = &worldBlob{size: 1 << 10, media: "application/vnd.oci.image.index.v1+json", children: []digest.Digest{m, other}}
		}
		w.tags[url] = top
		w.oci = append(w.oci, url)
	}
	return w
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.Intn(len(s))] }

var (
	volIDs = []string{"v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7"}
	appIDs = []string{"a0", "a1", "a2"}
)

func randomBlueprint(r *rand.Rand, w *world) *materials.Blueprint {
	bp := &materials.Blueprint{Complete: r.Intn(12) != 0,
		Datastores: []materials.Datastore{{ID: "http", Type: materials.DatastoreHTTP}, {ID: "oci", Type: materials.DatastoreContainerRegistry}}}
	if r.Intn(12) == 0 {
		bp.Diagnostics = append(bp.Diagnostics, materials.Diagnostic{Severity: materials.SeverityError, Path: "volumes[0]", Message: "bad"})
	}
	var trees []string
	for i := 0; i < r.Intn(5); i++ {
		id := fmt.Sprintf("t%d", i)
		t := materials.ContentTree{ID: id, Generation: int64(r.Intn(2)), MaxSizeBytes: uint64(r.Intn(8)) << 20}
		if r.Intn(2) == 0 {
			d := pick(r, w.vm)
			t.SHA256, t.URL, t.Format, t.Datastores = d.Encoded(), id+".qcow2", materials.FormatQcow2, []string{"http"}
			if r.Intn(5) == 0 {
				t.Signature = &materials.Signature{Signature: []byte("s")}
			}
		} else {
			t.URL, t.Format, t.Datastores = pick(r, w.oci), materials.FormatContainer, []string{"oci"}
		}
		bp.ContentTrees = append(bp.ContentTrees, t)
		trees = append(trees, id)
	}
	used := map[string]bool{}
	for i := 0; i < r.Intn(6); i++ {
		id := pick(r, volIDs)
		if used[id] {
			continue
		}
		used[id] = true
		v := materials.Volume{ID: id, Generation: int64(r.Intn(3)), Origin: materials.OriginBlank, Format: materials.FormatQcow2,
			MaxSizeBytes: int64(1+r.Intn(8)) << 20, Apps: []string{pick(r, appIDs)}}
		if len(trees) > 0 && r.Intn(3) != 0 {
			v.Origin, v.ContentTree = materials.OriginDownload, pick(r, trees)
			for _, t := range bp.ContentTrees {
				if t.ID == v.ContentTree {
					v.Format = t.Format
				}
			}
			if v.Format == materials.FormatQcow2 && r.Intn(3) == 0 {
				v.Implicit, v.App = true, v.Apps[0]
			}
		}
		bp.Volumes = append(bp.Volumes, v)
	}
	for i := 0; i < r.Intn(3); i++ {
		a := materials.Addition{Kind: pick(r, []materials.AdditionKind{materials.AdditionProtect, materials.AdditionHold, materials.AdditionPurge}), Reason: "random"}
		if r.Intn(3) == 0 && len(trees) > 0 && a.Kind != materials.AdditionPurge {
			a.Target = materials.MaterialRef{Kind: materials.KindContentTree, ID: pick(r, trees)}
		} else {
			a.Target = materials.MaterialRef{Kind: materials.KindVolume, ID: pick(r, volIDs)}
		}
		bp.Additions = append(bp.Additions, a)
	}
	if r.Intn(6) == 0 {
		bp.Withheld = append(bp.Withheld, materials.MaterialRef{Kind: materials.KindVolume, ID: pick(r, volIDs)})
	}
	sort.Slice(bp.Volumes, func(i, j int) bool { return bp.Volumes[i].Key().Less(bp.Volumes[j].Key()) })
	return bp
}

func volumePath(k materials.VolumeKey, f materials.Format) string {
	return "persist/vault/volumes/" + k.String() + "." + string(f)
}

func randomFloorplan(r *rand.Rand, w *world, bp *materials.Blueprint) *materials.Floorplan {
	fp := &materials.Floorplan{Root: "/r", Journal: &materials.JournalState{}}
	if r.Intn(2) == 0 {
		fp.Journal.LastApplied = randomBlueprint(r, w)
		fp.Journal.LastApplied.Complete, fp.Journal.LastApplied.Diagnostics = true, nil
	}
	for i := 0; i < r.Intn(7); i++ {
		k := materials.VolumeKey{ID: pick(r, volIDs), Generation: int64(r.Intn(4))}
		f := materials.VolumeFile{ID: k.ID, Generation: k.Generation, Format: materials.FormatQcow2, State: materials.StateComplete,
			VirtualSize: int64(r.Intn(9)) << 20, AllocatedSize: 1 << 20}
		f.Path = volumePath(k, f.Format)
		switch r.Intn(8) {
		case 0:
			f.State, f.Reason = materials.StateBroken, "bad header"
		case 1:
			f.Temp, f.State = true, materials.StatePartial
			f.Path += ".tmp"
		}
		fp.Volumes = append(fp.Volumes, f)
	}
	if r.Intn(4) == 0 {
		fp.Volumes = append(fp.Volumes, materials.VolumeFile{Path: "persist/vault/volumes/junk.bin", State: materials.StateUnknown})
	}
	for i := 0; i < r.Intn(3); i++ {
		d := pick(r, w.vm)
		l := &materials.LegacyName{SHA256: d.Encoded(), App: pick(r, appIDs), Purge: int64(r.Intn(3))}
		fp.Volumes = append(fp.Volumes, materials.VolumeFile{Path: fmt.Sprintf("persist/img/%s-%s#%d.qcow2", l.SHA256, l.App, l.Purge),
			Format: materials.FormatQcow2, State: materials.StateComplete, VirtualSize: 1 << 20, Legacy: l})
	}
	all := make([]digest.Digest, 0, len(w.blobs))
	for d := range w.blobs {
		all = append(all, d)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	for _, d := range all {
		if r.Intn(3) != 0 || w.foreign[d] {
			continue
		}
		wb := w.blobs[d]
		b := materials.BlobRecord{Digest: d, Store: materials.BlobStoreDir, Size: wb.size, State: materials.StateComplete, MediaType: wb.media, Children: wb.children}
		switch r.Intn(8) {
		case 0:
			b.State, b.Offset = materials.StatePartial, wb.size/2
		case 1:
			b.State, b.Offset = materials.StatePartial, wb.size
		case 2:
			b.State = materials.StateBroken
		case 3:
			fp.Journal.InFlight = append(fp.Journal.InFlight, materials.InFlight{Action: "download", Target: blobRef(d)})
		}
		fp.Blobs = append(fp.Blobs, b)
		if r.Intn(4) == 0 {
			fp.Journal.Unreferenced = append(fp.Journal.Unreferenced, materials.Unreferenced{Target: blobRef(d), Since: testEpoch.Add(-time.Hour)})
		}
	}
	for _, t := range bp.ContentTrees {
		if t.SHA256 == "" && r.Intn(2) == 0 {
			fp.Journal.Latches = append(fp.Journal.Latches, materials.TagLatch{ContentTree: t.ID, Generation: t.Generation, URL: t.URL, Digest: w.tags[t.URL]})
		}
	}
	sortFloorplan(fp)
	return fp
}

func sortFloorplan(fp *materials.Floorplan) {
	sort.Slice(fp.Volumes, func(i, j int) bool { return fp.Volumes[i].Path < fp.Volumes[j].Path })
	sort.Slice(fp.Blobs, func(i, j int) bool {
		if fp.Blobs[i].Digest != fp.Blobs[j].Digest {
			return fp.Blobs[i].Digest < fp.Blobs[j].Digest
		}
		return fp.Blobs[i].Store < fp.Blobs[j].Store
	})
}

func randomOptions(r *rand.Rand) Options {
	o := Options{Now: testEpoch, GracePeriod: time.Duration(r.Intn(3)) * time.Hour,
		CleanUp: r.Intn(4) == 0, AllowMassDelete: r.Intn(2) == 0}
	switch r.Intn(4) {
	case 0:
		o.Space = materials.Space{TotalBytes: 1 << 40, FreeBytes: uint64(r.Intn(40)) << 20}
	case 1:
		o.Space = materials.Space{TotalBytes: 1 << 41, FreeBytes: 1 << 40}
	}
	if r.Intn(5) == 0 {
		o.Limitations = append(o.Limitations, Limitation{Action: pick(r, remodel.Actions), Reason: "random"})
	}
	if r.Intn(5) == 0 {
		t := materials.MaterialRef{Kind: materials.KindVolume, ID: pick(r, volIDs)}
		o.Limitations = append(o.Limitations, Limitation{Target: &t, Reason: "random"})
	}
	return o
}

// guarded says why a destructive remodel must never have been planned, or
// "" when it is allowed.
func guarded(bp *materials.Blueprint, opts Options, fp *materials.Floorplan, rm *remodel.Remodel, w *world) string {
	if !bp.Valid() {
		return "destructive remodel on an invalid blueprint"
	}
	refs := []materials.MaterialRef{rm.Target}
	if rm.Replaces != nil {
		refs = append(refs, volumeRef(*rm.Replaces))
	}
	if rm.Target.Kind == materials.KindBlob {
		for _, t := range bp.ContentTrees {
			if treeHas(t, w, digest.Digest(rm.Target.ID)) {
				refs = append(refs, materials.MaterialRef{Kind: materials.KindContentTree, ID: t.ID})
			}
		}
	}
	for _, a := range bp.Additions {
		for _, ref := range refs {
			if (a.Kind == materials.AdditionProtect || a.Kind == materials.AdditionHold) && matchRef(a.Target, ref) {
				return "deleted guarded " + ref.String()
			}
		}
	}
	for _, wr := range bp.Withheld {
		for _, ref := range refs {
			if matchRef(wr, ref) {
				return "deleted withheld " + ref.String()
			}
		}
	}
	for _, l := range opts.Limitations {
		if l.Action != "" && l.Action != rm.Action {
			continue
		}
		if l.Target == nil {
			return "limited action " + string(rm.Action)
		}
		for _, ref := range refs {
			if matchRef(*l.Target, ref) {
				return "limited " + ref.String()
			}
		}
	}
	for _, f := range fp.Volumes {
		if f.Path == rm.Path && (f.State == materials.StateUnknown || f.State == materials.StateBroken) && !opts.CleanUp {
			return "deleted " + string(f.State) + " file " + f.Path + " without clean-up"
		}
	}
	return ""
}

func treeHas(t materials.ContentTree, w *world, d digest.Digest) bool {
	top := t.Digest()
	if top == "" {
		top = w.tags[t.URL]
	}
	var walk func(x digest.Digest) bool
	walk = func(x digest.Digest) bool {
		if x == d {
			return true
		}
		if b := w.blobs[x]; b != nil {
			for _, c := range b.children {
				if w.foreign[c] {
					continue
				}
				if walk(c) {
					return true
				}
			}
		}
		return false
	}
	return walk(top)
}

// apply is the simulated assembler: it changes the floorplan as each
// remodel would, in plan order.
func apply(t *testing.T, seed int64, w *world, bp *materials.Blueprint, fp *materials.Floorplan, plan *remodel.Plan, opts Options) {
	store := opts.Store
	if store == "" {
		store = materials.BlobStoreDir
	}
	done := map[remodel.ID]bool{}
	for i := range plan.Remodels {
		rm := &plan.Remodels[i]
		for _, d := range rm.DependsOn {
			if !done[d] {
				t.Fatalf("seed %d: %s runs before its dependency %s", seed, rm.ID, d)
			}
		}
		if rm.Action.Destructive() {
			if why := guarded(bp, opts, fp, rm, w); why != "" {
				var b bytes.Buffer
				remodel.RenderText(&b, plan)
				t.Fatalf("seed %d: %s: %s\n%s", seed, rm.ID, why, b.String())
			}
		}
		switch rm.Action {
		case remodel.ActionResolve:
			fp.Journal.Latches = append(fp.Journal.Latches, materials.TagLatch{ContentTree: rm.ContentTree.ID, Generation: rm.ContentTree.Generation,
				URL: rm.ContentTree.URL, Digest: w.tags[rm.ContentTree.URL], ResolvedAt: opts.Now})
		case remodel.ActionDownload:
			d := rm.Blob.Digest
			putBlob(w, fp, d, store)
			if wb := w.blobs[d]; wb != nil && strings.Contains(wb.media, "index") && len(wb.children) > 0 {
				putBlob(w, fp, wb.children[0], store) // this platform's manifest comes with the index
			}
		case remodel.ActionVerify:
			d := rm.Blob.Digest
			var keep []materials.BlobRecord
			for _, b := range fp.Blobs {
				if b.Digest == d && b.Store == rm.Store {
					if b.State == materials.StateBroken {
						continue // mismatch: dropped, fetched again next round
					}
					b.State, b.Offset = materials.StateComplete, 0
				}
				keep = append(keep, b)
			}
			fp.Blobs = keep
		case remodel.ActionCreate, remodel.ActionPurge, remodel.ActionAdopt:
			v := rm.Volume
			k := v.Key()
			var keep []materials.VolumeFile
			size := v.MaxSizeBytes
			for _, f := range fp.Volumes {
				if f.ID == k.ID && f.Generation == k.Generation && f.Legacy == nil {
					continue // the .tmp it takes over
				}
				if rm.Action == remodel.ActionPurge && f.Path == rm.Path {
					continue
				}
				if rm.Action == remodel.ActionAdopt && f.Path == rm.Path {
					size = f.VirtualSize
					continue
				}
				keep = append(keep, f)
			}
			keep = append(keep, materials.VolumeFile{ID: k.ID, Generation: k.Generation, Format: v.Format, Path: volumePath(k, v.Format),
				State: materials.StateComplete, VirtualSize: size, AllocatedSize: 1 << 20, Dir: v.Format == materials.FormatContainer})
			fp.Volumes = keep
		case remodel.ActionResize:
			for i := range fp.Volumes {
				if fp.Volumes[i].Path == rm.Path {
					fp.Volumes[i].VirtualSize = rm.Volume.MaxSizeBytes
				}
			}
		case remodel.ActionDelete:
			switch rm.Target.Kind {
			case materials.KindBlob:
				var keep []materials.BlobRecord
				for _, b := range fp.Blobs {
					if !(string(b.Digest) == rm.Target.ID && b.Store == rm.Store) {
						keep = append(keep, b)
					}
				}
				fp.Blobs = keep
			default:
				var keep []materials.VolumeFile
				for _, f := range fp.Volumes {
					if f.Path != rm.Path {
						keep = append(keep, f)
					}
				}
				fp.Volumes = keep
			}
		}
		done[rm.ID] = true
	}
	fp.Journal.InFlight = nil
	fp.Journal.Unreferenced = plan.Unreferenced
	if bp.Valid() {
		fp.Journal.LastApplied = copyBlueprint(bp)
	}
	fp.Fingerprint = ""
	sortFloorplan(fp)
}

func putBlob(w *world, fp *materials.Floorplan, d digest.Digest, store materials.BlobStore) {
	wb := w.blobs[d]
	if wb == nil {
		wb = &worldBlob{size: 1}
	}
	var keep []materials.BlobRecord
	for _, b := range fp.Blobs {
		if !(b.Digest == d && b.Store == store) {
			keep = append(keep, b)
		}
	}
	fp.Blobs = append(keep, materials.BlobRecord{Digest: d, Store: store, Size: wb.size, State: materials.StateComplete, MediaType: wb.media, Children: wb.children})
}

func checkOrder(t *testing.T, p *remodel.Plan) {
	stage := map[remodel.ID]int{}
	for _, h := range p.Held {
		if err := h.RemodelID.Validate(); err != nil {
			t.Fatalf("held: %v", err)
		}
	}
	for _, rm := range p.Remodels {
		if err := rm.ID.Validate(); err != nil || rm.ID.Action() != rm.Action || rm.ID.Target() != rm.Target {
			t.Fatalf("remodel %s (%s %v): id %v", rm.ID, rm.Action, rm.Target, err)
		}
		if _, dup := stage[rm.ID]; dup {
			t.Fatalf("duplicate remodel id %s", rm.ID)
		}
		for _, d := range rm.DependsOn {
			s, ok := stage[d]
			if !ok || s >= rm.Stage {
				t.Fatalf("%s (stage %d) depends on %s, which is not earlier", rm.ID, rm.Stage, d)
			}
		}
		stage[rm.ID] = rm.Stage
	}
}

func TestConvergence(t *testing.T) {
	const seeds, maxRounds = 600, 8
	rounds := map[int]int{}
	var applied, destructive, held int
	for seed := int64(1); seed <= seeds; seed++ {
		r := rand.New(rand.NewSource(seed))
		w := newWorld(r)
		bp := randomBlueprint(r, w)
		fp := randomFloorplan(r, w, bp)
		opts := randomOptions(r)
		converged := false
		for round := 1; round <= maxRounds; round++ {
			bp0, fp0 := copyBlueprint(bp), copyFloorplan(fp)
			plan := Plan(bp, fp, opts)
			j1, _ := json.Marshal(plan)
			j2, _ := json.Marshal(Plan(bp, fp, opts))
			if !bytes.Equal(j1, j2) {
				t.Fatalf("seed %d round %d: two plans of the same inputs differ", seed, round)
			}
			if d := cmp.Diff(bp0, bp); d != "" {
				t.Fatalf("seed %d: blueprint modified: %s", seed, d)
			}
			if d := cmp.Diff(fp0, fp); d != "" {
				t.Fatalf("seed %d: floorplan modified: %s", seed, d)
			}
			checkOrder(t, plan)
			checkSummary(t, plan, opts)
			held += len(plan.Held)
			applied += len(plan.Remodels)
			for _, rm := range plan.Remodels {
				if rm.Action.Destructive() {
					destructive++
				}
			}
			if plan.Empty() {
				converged = true
				rounds[round]++
				break
			}
			apply(t, seed, w, bp, fp, plan, opts)
			opts.Now = opts.Now.Add(opts.GracePeriod + time.Minute)
		}
		if !converged {
			var b bytes.Buffer
			remodel.RenderText(&b, Plan(bp, fp, opts))
			t.Fatalf("seed %d: no convergence in %d rounds; last plan:\n%s", seed, maxRounds, b.String())
		}
	}
	t.Logf("rounds to converge over %d seeds: %v; %d remodels applied (%d destructive), %d held", seeds, rounds, applied, destructive, held)
	if destructive == 0 || held == 0 {
		t.Errorf("the random inputs never exercised deletes (%d) or guards (%d)", destructive, held)
	}
}
