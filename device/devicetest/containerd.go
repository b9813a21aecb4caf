package devicetest

import (
	"context"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/assembler"
	"github.com/edgewright/edgewright/foreman"
	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// Ids of the containerd space story.
const (
	ctrTreeA = "0c000000-0000-4000-8000-00000000000a"
	ctrTreeB = "0c000000-0000-4000-8000-00000000000b"
	ctrVol   = "0c000000-0000-4000-8000-000000000001"
)

// ctrGrace is the story's grace period; each step is ctrStep later.
const (
	ctrGrace = time.Hour
	ctrStep  = 2 * time.Hour
)

// ContentDirMark stands for the rig's containerd content directory in the
// Shapes ContainerdSpace returns, so two devices compare alike.
const ContentDirMark = "$CONTENT"

// ContainerdSpace is the space strategy under containerd on a rig whose
// downloads go to containerd and whose content directory is known
// (Options.ContainerdContentDir; its survey reports containerd's blobs
// and image records). The story: a VM volume under space is a qcow2
// overlay naming tree A's blob by its absolute path in the content
// directory, and the blob directory stays empty; tree A is dropped (the
// volume names tree B in the same generation, so it stays as it is)
// and, past the grace period and again later, the overlay, blob A and
// image record A are all kept, the delete of the record held with
// backs-overlay; the volume is dropped: the overlay goes, then, past the
// grace period, image record A, and containerd's collector takes blob A
// (tree B's stay). It returns the Shape after each converge, the content
// directory spelled ContentDirMark.
func ContainerdSpace(t *testing.T, newRig func(t *testing.T) *Rig) []Shape {
	img := makeImages(t)
	rig := newRig(t)
	dir := rig.Options.ContainerdContentDir
	if dir == "" {
		t.Fatal("ContainerdSpace: the rig's Options.ContainerdContentDir is empty")
	}
	rig.Publish(t, "a.raw", img.raw)
	rig.Publish(t, "b.qcow2", img.qcow2)
	blobA := digest.Digest("sha256:" + sha(img.raw))
	blobB := digest.Digest("sha256:" + sha(img.qcow2))
	backingA, err := layout.ContainerdBackingName(dir, blobA)
	if err != nil {
		t.Fatal(err)
	}
	ds := rig.Datastore
	treeA := materials.ContentTree{ID: ctrTreeA, URL: "a.raw", SHA256: sha(img.raw), Format: materials.FormatRaw, Datastores: []string{ds.ID}}
	treeB := materials.ContentTree{ID: ctrTreeB, URL: "b.qcow2", SHA256: sha(img.qcow2), Format: materials.FormatQcow2, Datastores: []string{ds.ID}}
	imageA, imageB := treeA.ID+"-"+treeA.URL, treeB.ID+"-"+treeB.URL
	vol := func(tree string) []materials.Volume {
		return []materials.Volume{{ID: ctrVol, Origin: materials.OriginDownload, ContentTree: tree, Format: materials.FormatRaw,
			MaxSizeBytes: 4 << 20, Apps: []string{"0b000000-0000-4000-8000-000000000001"}, RefCount: 1}}
	}
	bp := func(trees []materials.ContentTree, vols []materials.Volume) *materials.Blueprint {
		return &materials.Blueprint{Complete: true, Datastores: []materials.Datastore{ds}, ContentTrees: trees, Volumes: vols}
	}

	now := epoch
	a := newAssembler(t, rig, &now)
	var shapes []Shape
	converge := func(step string, b *materials.Blueprint) (*materials.Floorplan, *remodel.Plan) {
		t.Helper()
		var fp *materials.Floorplan
		res, err := a.Converge(context.Background(), b, assembler.ConvergeOptions{
			Foreman:  foreman.Options{Strategy: materials.StrategySpace, GracePeriod: ctrGrace, AllowMassDelete: true},
			OnSurvey: func(_ int, f *materials.Floorplan) { fp = f }, FixedSpace: true})
		if err != nil {
			t.Fatalf("%s: converge: %v", step, err)
		}
		if !res.Converged {
			t.Fatalf("%s: not converged: %+v", step, res.Plan)
		}
		if fp.Journal == nil || len(fp.Journal.InFlight) > 0 {
			t.Errorf("%s: journal %+v, want one with nothing in flight", step, fp.Journal)
		}
		s := ShapeOf(fp)
		for i := range s.Volumes {
			s.Volumes[i] = strings.ReplaceAll(s.Volumes[i], dir, ContentDirMark)
		}
		shapes = append(shapes, s)
		now = now.Add(ctrStep)
		return fp, res.Plan
	}
	// overlay checks the volume is the overlay on blob A, whole.
	overlay := func(step string, fp *materials.Floorplan) {
		t.Helper()
		if len(fp.Volumes) != 1 {
			t.Fatalf("%s: volume files %+v, want the one overlay", step, fp.Volumes)
		}
		v := fp.Volumes[0]
		want := []materials.BackingLink{{Name: backingA, Blob: blobA, Format: materials.FormatRaw}}
		if v.ID != ctrVol || v.State != materials.StateComplete || v.Format != materials.FormatQcow2 || len(v.Backing) != 1 || v.Backing[0] != want[0] {
			t.Errorf("%s: volume %s is %s %s (%s) backed by %+v, want a whole qcow2 overlay backed by %+v", step, v.Path, v.State, v.Format, v.Reason, v.Backing, want)
		}
	}
	// holds checks which containerd blobs (complete) and image records
	// there are, and that the blob directory holds none.
	holds := func(step string, fp *materials.Floorplan, blobs []digest.Digest, images []string) {
		t.Helper()
		var got, names []string
		for _, b := range fp.Blobs {
			if b.Store != materials.BlobStoreContainerd {
				t.Errorf("%s: blob %s in store %q; downloads go to containerd", step, b.Digest, b.Store)
			} else if b.State == materials.StateComplete {
				got = append(got, string(b.Digest))
			}
		}
		for _, im := range fp.Images {
			names = append(names, im.Name)
		}
		var want []string
		for _, d := range blobs {
			want = append(want, string(d))
		}
		sort.Strings(got)
		sort.Strings(want)
		sort.Strings(names)
		sort.Strings(images)
		if !slices.Equal(got, want) || !slices.Equal(names, images) {
			t.Errorf("%s: containerd holds blobs %v and image records %v, want %v and %v", step, got, names, want, images)
		}
	}

	// 1. Space under containerd: an overlay on the containerd blob.
	fp, _ := converge("space", bp([]materials.ContentTree{treeA}, vol(treeA.ID)))
	overlay("space", fp)
	holds("space", fp, []digest.Digest{blobA}, []string{imageA})

	// 2. Tree A dropped, past the grace period and again later: the
	// record's delete is held without a clock, all three stay.
	for _, step := range []string{"tree dropped", "tree dropped, again"} {
		fp, plan := converge(step, bp([]materials.ContentTree{treeB}, vol(treeB.ID)))
		overlay(step, fp)
		// Tree B is not fetched yet: the volume that names it is there.
		holds(step, fp, []digest.Digest{blobA}, []string{imageA})
		held := false
		for _, h := range plan.Held {
			held = held || h.Target == (materials.MaterialRef{Kind: materials.KindImage, ID: imageA}) && h.Code == remodel.HoldBacksOverlay
		}
		if !held {
			t.Errorf("%s: the last plan holds %+v, want image record %s's delete held %s", step, plan.Held, imageA, remodel.HoldBacksOverlay)
		}
		for _, u := range fp.Journal.Unreferenced {
			if u.Target.Kind == materials.KindImage && u.Target.ID == imageA {
				t.Errorf("%s: a grace clock runs for image record %s (since %s) while an overlay reads its blob", step, imageA, u.Since)
			}
		}
	}

	// 3. The volume dropped: the overlay goes and the record's grace
	// period starts (tree B, still configured, is fetched now); past it
	// the record goes and containerd's collector takes blob A.
	fp, _ = converge("volume dropped", bp([]materials.ContentTree{treeB}, nil))
	if len(fp.Volumes) != 0 {
		t.Errorf("volume dropped: volume files %+v left", fp.Volumes)
	}
	holds("volume dropped", fp, []digest.Digest{blobA, blobB}, []string{imageA, imageB})
	fp, _ = converge("volume dropped, past the grace period", bp([]materials.ContentTree{treeB}, nil))
	holds("volume dropped, past the grace period", fp, []digest.Digest{blobB}, []string{imageB})
	return shapes
}
