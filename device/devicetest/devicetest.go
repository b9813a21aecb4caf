package devicetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/edgewright/edgewright/assembler"
	"github.com/edgewright/edgewright/check"
	"github.com/edgewright/edgewright/foreman"
	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// Rig is one device under test.
type Rig struct {
	// Options are the executor's, with the device's roles set (Root,
	// Files, Locker, Journals, Crafts, Survey); Run sets Clock and Logger.
	Options assembler.Options
	// Datastore serves what Publish publishes.
	Datastore materials.Datastore
	// Publish makes content available at url in Datastore.
	Publish func(t *testing.T, url string, content []byte)
}

// Shape is a Floorplan without what differs between two devices that
// did the same thing (times, allocation, paths of the root itself).
type Shape struct {
	Volumes []string
	Blobs   []string
	// Images and Leases are containerd's image records and leases (none
	// without containerd).
	Images  []string
	Leases  []string
	Journal string
}

var epoch = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// Volume ids of the suite.
const (
	idOS    = "0a000000-0000-4000-8000-000000000001"
	idData  = "0a000000-0000-4000-8000-000000000002"
	idBlank = "0a000000-0000-4000-8000-000000000003"
	idClear = "0a000000-0000-4000-8000-000000000004"
	// idThin is made under the space strategy (a strategy Addition): a
	// qcow2 overlay on the os tree's blob.
	idThin = "0a000000-0000-4000-8000-000000000005"
)

// images are the suite's content: a raw image and the qcow2 of it.
type images struct{ raw, qcow2 []byte }

func makeImages(t *testing.T) images {
	t.Helper()
	qemu := testenv.QemuImg(t)
	dir := t.TempDir()
	raw := make([]byte, 3<<20)
	for i := range raw[:1<<20] {
		raw[i] = byte(i*7 + i/251)
	}
	rp, qp := filepath.Join(dir, "os.raw"), filepath.Join(dir, "os.qcow2")
	if err := os.WriteFile(rp, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(qemu, "convert", "-q", "-f", "raw", "-O", "qcow2", rp, qp).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v: %s", err, out)
	}
	q, err := os.ReadFile(qp)
	if err != nil {
		t.Fatal(err)
	}
	return images{raw: raw, qcow2: q}
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// steps are the Blueprints the suite converges in turn.
func steps(ds materials.Datastore, img images) []*materials.Blueprint {
	trees := []materials.ContentTree{
		{ID: "os", URL: "os.qcow2", SHA256: sha(img.qcow2), Format: materials.FormatQcow2, Datastores: []string{ds.ID}},
		{ID: "data", URL: "data.raw", SHA256: sha(img.raw), Format: materials.FormatRaw, Datastores: []string{ds.ID}},
	}
	app := []string{"0b000000-0000-4000-8000-000000000001"}
	first := &materials.Blueprint{Complete: true, Datastores: []materials.Datastore{ds}, ContentTrees: trees,
		Volumes: []materials.Volume{
			{ID: idOS, Origin: materials.OriginDownload, ContentTree: "os", Format: materials.FormatQcow2, MaxSizeBytes: 8 << 20, Apps: app, RefCount: 1},
			{ID: idData, Origin: materials.OriginDownload, ContentTree: "data", Format: materials.FormatRaw, MaxSizeBytes: 4 << 20, Apps: app, RefCount: 1},
			{ID: idBlank, Origin: materials.OriginBlank, Format: materials.FormatQcow2, MaxSizeBytes: 64 << 20, Apps: app, RefCount: 1},
			{ID: idClear, Origin: materials.OriginBlank, Format: materials.FormatRaw, MaxSizeBytes: 2 << 20, ClearText: true, Apps: app, RefCount: 1},
			{ID: idThin, Origin: materials.OriginDownload, ContentTree: "os", Format: materials.FormatQcow2, MaxSizeBytes: 8 << 20, Apps: app, RefCount: 1},
		},
		Additions: []materials.Addition{{Kind: materials.AdditionStrategy, Target: materials.MaterialRef{Kind: materials.KindVolume, ID: idThin}, Strategy: materials.StrategySpace}}}
	// Purge the OS volume, grow the blank one, drop the data volume.
	second := *first
	// Purge the thin one too: a fresh overlay.
	second.Volumes = []materials.Volume{first.Volumes[0], first.Volumes[2], first.Volumes[3], first.Volumes[4]}
	second.Volumes[0].Generation = 1
	second.Volumes[1].MaxSizeBytes = 128 << 20
	second.Volumes[3].Generation = 1
	// Drop everything.
	third := &materials.Blueprint{Complete: true, Datastores: []materials.Datastore{ds}}
	return []*materials.Blueprint{first, &second, third}
}

// Run converges the suite's Blueprints on a fresh device from newRig and
// returns the Shape after each. It fails the test where the device does
// not hold what a Blueprint asks for.
func Run(t *testing.T, newRig func(t *testing.T) *Rig) []Shape {
	img := makeImages(t)
	rig := newRig(t)
	rig.Publish(t, "os.qcow2", img.qcow2)
	rig.Publish(t, "data.raw", img.raw)
	now := epoch
	a := newAssembler(t, rig, &now)
	var shapes []Shape
	for i, bp := range steps(rig.Datastore, img) {
		fp := converge(t, a, "step", i+1, bp)
		checkHolds(t, i+1, bp, fp, img)
		shapes = append(shapes, ShapeOf(fp))
		if i == 0 {
			flattenThin(t, a, rig.Options.Root, bp, fp)
		}
		now = now.Add(time.Hour)
	}
	return shapes
}

// converge converges bp and returns the last round's survey, with the
// session's journal: the state the empty plan was made from. It fails the
// test when bp does not converge.
func converge(t *testing.T, a *assembler.Assembler, suite string, step int, bp *materials.Blueprint) *materials.Floorplan {
	t.Helper()
	var fp *materials.Floorplan
	res, err := a.Converge(context.Background(), bp, assembler.ConvergeOptions{
		Foreman: foreman.Options{AllowMassDelete: true}, FixedSpace: true,
		OnSurvey: func(_ int, f *materials.Floorplan) { fp = f }})
	if err != nil {
		t.Fatalf("%s %d: converge: %v", suite, step, err)
	}
	if !res.Converged {
		t.Fatalf("%s %d: not converged: %+v", suite, step, res.Plan)
	}
	return fp
}

// newAssembler is the executor on rig's device, its clock *now, with the
// test's logger and quick retries.
func newAssembler(t *testing.T, rig *Rig, now *time.Time) *assembler.Assembler {
	t.Helper()
	opts := rig.Options
	opts.Clock = func() time.Time { return *now }
	opts.Logger = zaptest.NewLogger(t)
	opts.Retry = assembler.RetryPolicy{Attempts: 2, Base: time.Millisecond, Max: time.Millisecond}
	a, err := assembler.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// checkHolds checks the device holds every volume of bp, whole, at its
// size, and nothing else in the volume directories.
func checkHolds(t *testing.T, step int, bp *materials.Blueprint, fp *materials.Floorplan, img images) {
	t.Helper()
	got := map[materials.VolumeKey]materials.VolumeFile{}
	for _, f := range fp.Volumes {
		if f.State != materials.StateComplete || f.Temp || f.ID == "" {
			t.Errorf("step %d: %s is %s (%s), want only whole volumes", step, f.Path, f.State, f.Reason)
			continue
		}
		got[f.Key()] = f
	}
	for _, v := range bp.Volumes {
		f, ok := got[v.Key()]
		if !ok {
			t.Errorf("step %d: volume %s missing", step, v.Key())
			continue
		}
		delete(got, v.Key())
		want := v.MaxSizeBytes
		if v.ContentTree != "" {
			want = max(want, int64(len(img.raw)))
		}
		if thin := v.ID == idThin; thin != (len(f.Backing) == 1 && f.Backing[0].Blob != "" && !f.Backing[0].Missing) {
			t.Errorf("step %d: volume %s backing %+v, want an overlay on its blob: %v", step, v.Key(), f.Backing, thin)
		}
		if f.Format != v.Format || f.VirtualSize != want || f.ClearText != v.ClearText {
			t.Errorf("step %d: volume %s is %s of %d bytes (clear %v), want %s of %d (clear %v)", step, v.Key(), f.Format, f.VirtualSize, f.ClearText, v.Format, want, v.ClearText)
		}
	}
	for k := range got {
		t.Errorf("step %d: volume %s left behind", step, k)
	}
	if fp.Journal == nil || len(fp.Journal.InFlight) > 0 {
		t.Errorf("step %d: journal %+v, want one with nothing in flight", step, fp.Journal)
	}
}

// ShapeOf normalises a Floorplan.
func ShapeOf(fp *materials.Floorplan) Shape {
	var s Shape
	for _, v := range fp.Volumes {
		line := fmt.Sprintf("%s %s %s vsize=%d clear=%v dir=%v", v.Path, v.Format, v.State, v.VirtualSize, v.ClearText, v.Dir)
		for _, l := range v.Backing {
			line += fmt.Sprintf(" backing=%s(%s %s missing=%v)", l.Name, l.Blob, l.Format, l.Missing)
		}
		for _, sn := range v.Snapshots {
			line += fmt.Sprintf(" snapshot=%s(%s)", sn.Name, sn.State)
		}
		s.Volumes = append(s.Volumes, line)
	}
	for _, b := range fp.Blobs {
		s.Blobs = append(s.Blobs, fmt.Sprintf("%s %s %s size=%d offset=%d path=%s", b.Digest, b.Store, b.State, b.Size, b.Offset, b.Path))
	}
	for _, im := range fp.Images {
		s.Images = append(s.Images, fmt.Sprintf("%s %s %s blobs=%v", im.Name, im.Target, im.MediaType, im.Blobs))
	}
	sort.Strings(s.Volumes)
	sort.Strings(s.Blobs)
	for _, l := range fp.Leases {
		s.Leases = append(s.Leases, fmt.Sprintf("%s %s blobs=%v", l.ID, l.Labels[layout.ContentTreeLabel], l.Blobs))
	}
	sort.Strings(s.Images)
	sort.Strings(s.Leases)
	var last bytes.Buffer
	if js := fp.Journal; js != nil {
		fmt.Fprintf(&last, "inflight=%d unreferenced=%d latches=%d", len(js.InFlight), len(js.Unreferenced), len(js.Latches))
		if js.LastApplied != nil {
			for _, v := range js.LastApplied.Volumes {
				fmt.Fprintf(&last, " %s", v.Key())
			}
		}
		for _, u := range js.Usage {
			fmt.Fprintf(&last, " usage(%s=%d)", u.Target, u.RefCount)
		}
		for _, l := range js.Lineage {
			fmt.Fprintf(&last, " lineage(%s/%s@%s %s %s)", l.App, l.Snapshot, l.Volume, l.Format, l.Type)
		}
	}
	s.Journal = last.String()
	return s
}

// flattenThin runs the storage check's flatten of the thin volume as a
// fix run does (check under performance, PlanFixes, Apply) and wants it
// a standalone volume of the same size after, the only fix of the plan;
// the next step purges it into a fresh overlay.
func flattenThin(t *testing.T, a *assembler.Assembler, root string, bp *materials.Blueprint, fp *materials.Floorplan) {
	t.Helper()
	rep := check.Check(fp, check.Options{Now: epoch, Strategy: check.StrategyPerformance,
		VolumeStrategy: map[materials.VolumeKey]string{{ID: idThin}: check.StrategyPerformance}})
	id := "optimize:volume/" + idThin + "#0"
	fpl, err := check.PlanFixes(fp, rep, check.Selection{IDs: []string{id}}, epoch)
	if err != nil {
		t.Fatalf("flatten the thin volume: %v (fixes %+v)", err, rep.Fixes)
	}
	if len(fpl.Plan.Remodels) != 1 || fpl.Plan.Remodels[0].Action != remodel.ActionFlatten {
		t.Fatalf("flatten plan: %+v", fpl.Plan.Remodels)
	}
	res, err := a.Apply(context.Background(), fpl.Plan)
	if err != nil || !res.OK() {
		t.Fatalf("apply the flatten: %v %+v", err, res)
	}
	var after *materials.Floorplan
	if _, err := a.Converge(context.Background(), bp, assembler.ConvergeOptions{FixedSpace: true,
		OnSurvey: func(_ int, f *materials.Floorplan) { after = f }}); err != nil {
		t.Fatalf("converge after the flatten: %v", err)
	}
	for _, v := range after.Volumes {
		if v.ID == idThin && (len(v.Backing) > 0 || v.State != materials.StateComplete || v.VirtualSize < 3<<20) {
			t.Errorf("after the flatten the thin volume is %+v, want a whole standalone volume", v)
		}
	}
	if left := check.Check(after, check.Options{Now: epoch, Strategy: check.StrategyPerformance}); len(left.Fixes) != 0 {
		t.Errorf("after the flatten the check lists %+v", left.Fixes)
	}
}
