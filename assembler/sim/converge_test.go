package sim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	"go.uber.org/zap"

	"github.com/edgewright/edgewright/assembler"
	"github.com/edgewright/edgewright/assembler/sim"
	"github.com/edgewright/edgewright/foreman"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// The property: for random Blueprints and random starting disks, the real
// executor applying each plan to the in-memory device converges within a
// bounded number of rounds to a plan with no remodels (held ones aside);
// no guarded material is ever deleted; every plan is pure (same JSON twice,
// inputs untouched) and well ordered (dependencies first, at a lower stage).

var testEpoch = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

// world is what the seed's datastores and registries hold, for the
// generators and the guard check; sim.World serves it.
type world struct {
	*sim.World
	blobs map[digest.Digest]*worldBlob
	tags  map[string]digest.Digest // OCI URL → top digest
	vm    []digest.Digest
	oci   []string
	// foreign are other platforms' manifests: never fetched.
	foreign map[digest.Digest]bool
}

type worldBlob struct {
	size     int64
	media    string
	children []digest.Digest
}

var (
	httpDS = materials.Datastore{ID: "http", Type: materials.DatastoreHTTP, FQDN: "http.example"}
	ociDS  = materials.Datastore{ID: "oci", Type: materials.DatastoreContainerRegistry, FQDN: "oci.example"}
)

func hexOf(r *rand.Rand) digest.Digest {
	const hexdig = "0123456789abcdef"
	b := make([]byte, 64)
	for i := range b {
		b[i] = hexdig[r.Intn(16)]
	}
	return digest.Digest("sha256:" + string(b))
}

func (w *world) put(d digest.Digest, b *worldBlob) {
	w.blobs[d] = b
	o := sim.Object{Digest: d, Size: b.size, MediaType: b.media, Children: b.children}
	if strings.Contains(b.media, "index") {
		o.Follow = &materials.Blob{Digest: b.children[0], Size: w.blobs[b.children[0]].size, MediaType: w.blobs[b.children[0]].media}
	}
	if b.media == "" {
		o.VirtualSize = 512 << 10 // every image fits every volume
	}
	w.Put(o)
}

func newWorld(r *rand.Rand) *world {
	w := &world{World: sim.NewWorld(), blobs: map[digest.Digest]*worldBlob{}, tags: map[string]digest.Digest{}, foreign: map[digest.Digest]bool{}}
	for i := 0; i < 4; i++ {
		d := hexOf(r)
		w.put(d, &worldBlob{size: int64(1+r.Intn(8)) << 20})
		w.vm = append(w.vm, d)
	}
	shared := hexOf(r) // a layer several images share
	w.put(shared, &worldBlob{size: 3 << 20})
	for i := 0; i < 3; i++ {
		url := fmt.Sprintf("library/app%d:v%d", i, r.Intn(3))
		m := hexOf(r)
		cfg, layer := hexOf(r), hexOf(r)
		w.put(cfg, &worldBlob{size: 1 << 10})
		w.put(layer, &worldBlob{size: int64(1+r.Intn(4)) << 20})
		w.put(m, &worldBlob{size: 1 << 10, media: "application/vnd.oci.image.manifest.v1+json", children: []digest.Digest{cfg, layer, shared}})
		top := m
		if r.Intn(2) == 0 { // an index over two platforms
			other, otherLayer := hexOf(r), hexOf(r)
			w.foreign[other] = true
			w.put(otherLayer, &worldBlob{size: 1 << 20})
			w.put(other, &worldBlob{size: 1 << 10, media: "application/vnd.oci.image.manifest.v1+json", children: []digest.Digest{otherLayer}})
			top = hexOf(r)
			w.put(top, &worldBlob{size: 1 << 10, media: "application/vnd.oci.image.index.v1+json", children: []digest.Digest{m, other}})
		}
		w.tags[url] = top
		w.Tag(ociDS, url, top)
		w.oci = append(w.oci, url)
	}
	return w
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.Intn(len(s))] }

var (
	volIDs = []string{
		"00000000-0000-4000-8000-000000000000", "11111111-1111-4111-8111-111111111111",
		"22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333",
		"44444444-4444-4444-8444-444444444444", "55555555-5555-4555-8555-555555555555",
		"66666666-6666-4666-8666-666666666666", "77777777-7777-4777-8777-777777777777",
	}
	appIDs = []string{
		"aaaaaaaa-0000-4000-8000-00000000000a", "aaaaaaaa-1111-4111-8111-11111111111a", "aaaaaaaa-2222-4222-8222-22222222222a",
	}
)

func randomBlueprint(r *rand.Rand, w *world, serve bool) *materials.Blueprint {
	bp := &materials.Blueprint{Complete: r.Intn(12) != 0, Datastores: []materials.Datastore{httpDS, ociDS}}
	if r.Intn(12) == 0 {
		bp.Diagnostics = append(bp.Diagnostics, materials.Diagnostic{Severity: materials.SeverityError, Path: "volumes[0]", Message: "bad"})
	}
	var trees []string
	for i := 0; i < r.Intn(5); i++ {
		id := fmt.Sprintf("t%d", i)
		t := materials.ContentTree{ID: id, Generation: int64(r.Intn(2))}
		if r.Intn(2) == 0 {
			t.MaxSizeBytes = 16 << 20
		}
		if r.Intn(2) == 0 {
			d := pick(r, w.vm)
			t.SHA256, t.URL, t.Format, t.Datastores = d.Encoded(), id+".qcow2", materials.FormatQcow2, []string{"http"}
			if r.Intn(5) == 0 {
				t.Signature = &materials.Signature{Signature: []byte("s")}
			}
			if serve {
				w.Serve(httpDS, t.URL, d)
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

// randomFloorplan is a starting disk: volumes complete, broken or half
// made, junk, legacy files, blobs whole, partial or damaged, intents of a
// crashed apply, running grace clocks and tag latches.
func randomFloorplan(r *rand.Rand, w *world, bp *materials.Blueprint) *materials.Floorplan {
	fp := &materials.Floorplan{Root: "/sim", Journal: &materials.JournalState{}}
	if r.Intn(2) == 0 {
		fp.Journal.LastApplied = randomBlueprint(r, w, false)
		fp.Journal.LastApplied.Complete, fp.Journal.LastApplied.Diagnostics = true, nil
	}
	seen := map[string]bool{}
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
		if !seen[f.Path] {
			seen[f.Path] = true
			fp.Volumes = append(fp.Volumes, f)
		}
	}
	if r.Intn(4) == 0 {
		fp.Volumes = append(fp.Volumes, materials.VolumeFile{Path: "persist/vault/volumes/junk.bin", State: materials.StateUnknown})
	}
	for i := 0; i < r.Intn(3); i++ {
		d := pick(r, w.vm)
		l := &materials.LegacyName{SHA256: d.Encoded(), App: pick(r, appIDs), Purge: int64(r.Intn(3))}
		p := fmt.Sprintf("persist/img/%s-%s#%d.qcow2", l.SHA256, l.App, l.Purge)
		if !seen[p] {
			seen[p] = true
			fp.Volumes = append(fp.Volumes, materials.VolumeFile{Path: p, Format: materials.FormatQcow2, State: materials.StateComplete, VirtualSize: 1 << 20, Legacy: l})
		}
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
			b.State, b.Size, b.Offset = materials.StatePartial, 0, wb.size/2
		case 1:
			b.State, b.Size, b.Offset = materials.StatePartial, 0, wb.size
		case 2:
			b.State = materials.StateBroken
		case 3:
			fp.Journal.InFlight = append(fp.Journal.InFlight, materials.InFlight{RemodelID: "download:blob/" + string(d), Action: "download", Target: blobRef(d)})
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
	return fp
}

func blobRef(d digest.Digest) materials.MaterialRef {
	return materials.MaterialRef{Kind: materials.KindBlob, ID: string(d)}
}

func randomOptions(r *rand.Rand) foreman.Options {
	o := foreman.Options{Now: testEpoch, GracePeriod: time.Duration(r.Intn(3)) * time.Hour,
		CleanUp: r.Intn(4) == 0, AllowMassDelete: r.Intn(2) == 0}
	switch r.Intn(4) {
	case 0:
		o.Space = materials.Space{TotalBytes: 1 << 40, FreeBytes: uint64(r.Intn(40)) << 20}
	case 1:
		o.Space = materials.Space{TotalBytes: 1 << 41, FreeBytes: 1 << 40}
	}
	if r.Intn(5) == 0 {
		o.Limitations = append(o.Limitations, foreman.Limitation{Action: pick(r, remodel.Actions), Reason: "random"})
	}
	if r.Intn(5) == 0 {
		t := materials.MaterialRef{Kind: materials.KindVolume, ID: pick(r, volIDs)}
		o.Limitations = append(o.Limitations, foreman.Limitation{Target: &t, Reason: "random"})
	}
	return o
}

// covers is the guards' matching: a volume uuid covers every generation,
// a content tree id its image records.
func covers(rule, target materials.MaterialRef) bool {
	if rule.Kind == materials.KindContentTree && target.Kind == materials.KindImage {
		return strings.HasPrefix(target.ID, rule.ID+"-")
	}
	if rule.Kind != target.Kind {
		return false
	}
	return rule.ID == target.ID ||
		rule.Kind == materials.KindVolume && !strings.Contains(rule.ID, "#") && strings.HasPrefix(target.ID, rule.ID+"#")
}

// guarded says why a destructive remodel must never have been planned, or
// "" when it is allowed.
func guarded(bp *materials.Blueprint, opts foreman.Options, fp *materials.Floorplan, rm *remodel.Remodel, w *world) string {
	if !bp.Valid() {
		return "destructive remodel on an invalid blueprint"
	}
	refs := []materials.MaterialRef{rm.Target}
	if pp, ok := remodel.PayloadOf[*remodel.PurgePayload](rm); ok {
		refs = append(refs, materials.MaterialRef{Kind: materials.KindVolume, ID: pp.Replaces.String()})
	}
	if rm.Target.Kind == materials.KindBlob {
		for _, t := range bp.ContentTrees {
			if treeHas(t, w, digest.Digest(rm.Target.ID)) {
				refs = append(refs, materials.MaterialRef{Kind: materials.KindContentTree, ID: t.ID})
			}
		}
	}
	for _, ref := range refs {
		for _, a := range bp.Additions {
			if (a.Kind == materials.AdditionProtect || a.Kind == materials.AdditionHold) && covers(a.Target, ref) {
				return "deleted guarded " + ref.String()
			}
		}
		for _, wr := range bp.Withheld {
			if covers(wr, ref) {
				return "deleted withheld " + ref.String()
			}
		}
		for _, l := range opts.Limitations {
			if (l.Action == "" || l.Action == rm.Action) && (l.Target == nil || covers(*l.Target, ref)) {
				return "limited " + ref.String()
			}
		}
	}
	for _, f := range fp.Volumes {
		if f.Path == removedPath(rm) && (f.State == materials.StateUnknown || f.State == materials.StateBroken) && !opts.CleanUp {
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
				if !w.foreign[c] && walk(c) {
					return true
				}
			}
		}
		return false
	}
	return walk(top)
}

func checkOrder(t *testing.T, seed int64, p *remodel.Plan) {
	stage := map[remodel.ID]int{}
	for _, h := range p.Held {
		if err := h.RemodelID.Validate(); err != nil {
			t.Fatalf("seed %d: held: %v", seed, err)
		}
	}
	for _, rm := range p.Remodels {
		if err := rm.ID.Validate(); err != nil || rm.ID.Action() != rm.Action || rm.ID.Target() != rm.Target {
			t.Fatalf("seed %d: remodel %s (%s %v): id %v", seed, rm.ID, rm.Action, rm.Target, err)
		}
		if _, dup := stage[rm.ID]; dup {
			t.Fatalf("seed %d: duplicate remodel id %s", seed, rm.ID)
		}
		for _, d := range rm.DependsOn {
			s, ok := stage[d]
			if !ok || s >= rm.Stage {
				t.Fatalf("seed %d: %s (stage %d) depends on %s, which is not earlier", seed, rm.ID, rm.Stage, d)
			}
		}
		stage[rm.ID] = rm.Stage
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// planRound plans once, checking purity, order and guards.
func planRound(t *testing.T, seed int64, w *world, bp *materials.Blueprint, fp *materials.Floorplan, opts foreman.Options) *remodel.Plan {
	bp0, fp0 := mustJSON(t, bp), mustJSON(t, fp)
	plan := foreman.Plan(bp, fp, opts)
	if !bytes.Equal(mustJSON(t, plan), mustJSON(t, foreman.Plan(bp, fp, opts))) {
		t.Fatalf("seed %d: two plans of the same inputs differ", seed)
	}
	if !bytes.Equal(bp0, mustJSON(t, bp)) || !bytes.Equal(fp0, mustJSON(t, fp)) {
		t.Fatalf("seed %d: planning modified its inputs", seed)
	}
	checkOrder(t, seed, plan)
	checkSummary(t, seed, plan, opts)
	for i := range plan.Remodels {
		rm := &plan.Remodels[i]
		if !rm.Action.Destructive() {
			continue
		}
		if why := guarded(bp, opts, fp, rm, w); why != "" {
			var b bytes.Buffer
			remodel.RenderText(&b, plan)
			t.Fatalf("seed %d: %s: %s\n%s", seed, rm.ID, why, b.String())
		}
	}
	return plan
}

// newDevice is a sim device loaded with fp and an executor over it whose
// clock is *now.
func newDevice(t *testing.T, w *world, fp *materials.Floorplan, now *time.Time) (*sim.Device, *assembler.Assembler) {
	t.Helper()
	clock := func() time.Time { return *now }
	dev := sim.New(w.World, sim.Options{Clock: clock})
	if err := dev.Load(fp); err != nil {
		t.Fatal(err)
	}
	opts := dev.Options()
	opts.Logger, opts.Clock = zap.NewNop(), clock
	opts.Retry = assembler.RetryPolicy{Attempts: 2, Base: time.Microsecond, Max: time.Microsecond}
	a, err := assembler.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return dev, a
}

func TestConvergence(t *testing.T) {
	const seeds, maxRounds = 600, 8
	ctx := context.Background()
	rounds := map[int]int{}
	var applied, destructive, held, failed int
	for seed := int64(1); seed <= seeds; seed++ {
		r := rand.New(rand.NewSource(seed))
		w := newWorld(r)
		bp := randomBlueprint(r, w, true)
		start := randomFloorplan(r, w, bp)
		opts := randomOptions(r)
		dev, a := newDevice(t, w, start, &opts.Now)
		converged := false
		var last *remodel.Plan
		for round := 1; round <= maxRounds && !converged; round++ {
			fp, err := dev.Survey(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			last = planRound(t, seed, w, bp, fp, opts)
			held += len(last.Held)
			if last.Empty() {
				converged = true
				rounds[round]++
				break
			}
			applied += len(last.Remodels)
			for _, rm := range last.Remodels {
				if rm.Action.Destructive() {
					destructive++
				}
			}
			rep, err := a.Apply(ctx, last, assembler.WithBlueprint(bp))
			if err != nil {
				t.Fatalf("seed %d round %d: apply: %v", seed, round, err)
			}
			failed += rep.Failed
			for _, res := range rep.Results {
				if res.Status != assembler.StatusDone && testing.Verbose() {
					t.Logf("seed %d round %d: %s %s: %v %s", seed, round, res.RemodelID, res.Status, res.Err, res.Reason)
				}
			}
			opts.Now = opts.Now.Add(opts.GracePeriod + time.Minute)
		}
		if !converged {
			var b bytes.Buffer
			remodel.RenderText(&b, last)
			t.Fatalf("seed %d: no convergence in %d rounds; last plan:\n%s", seed, maxRounds, b.String())
		}
	}
	t.Logf("rounds to converge over %d seeds: %v; %d remodels applied (%d destructive, %d failed), %d held", seeds, rounds, applied, destructive, failed, held)
	if destructive == 0 || held == 0 {
		t.Errorf("the random inputs never exercised deletes (%d) or guards (%d)", destructive, held)
	}
}

// checkSummary: the plan's summary is Summarize's, its held counts add up,
// and its peak never passes the free space admission had.
func checkSummary(t *testing.T, seed int64, p *remodel.Plan, opts foreman.Options) {
	t.Helper()
	if d := cmp.Diff(remodel.Summarize(p), p.Summary); d != "" {
		t.Errorf("seed %d: summary is not Summarize's (-want +got):\n%s", seed, d)
	}
	n := 0
	for _, c := range p.Summary.HeldByCode {
		n += c
	}
	if n != len(p.Held) {
		t.Errorf("seed %d: held by code adds up to %d, %d held", seed, n, len(p.Held))
	}
	if opts.Space != (materials.Space{}) && p.Summary.PeakExtraDiskBytes > int64(opts.Space.FreeBytes) {
		t.Errorf("seed %d: peak extra disk %d is more than the %d free that admission had", seed, p.Summary.PeakExtraDiskBytes, opts.Space.FreeBytes)
	}
	if p.Summary.BytesToDownload > p.Summary.BytesToWrite || p.Summary.PeakExtraDiskBytes > p.Summary.BytesToWrite {
		t.Errorf("seed %d: bytes: %d to download, %d to write, peak %d", seed, p.Summary.BytesToDownload, p.Summary.BytesToWrite, p.Summary.PeakExtraDiskBytes)
	}
}

// removedPath is the file a destructive remodel removes by path, "" for
// none.
func removedPath(rm *remodel.Remodel) string {
	switch p := rm.Payload.(type) {
	case *remodel.DeletePayload:
		return p.Path
	case *remodel.PurgePayload:
		return p.OldPath
	}
	return ""
}
