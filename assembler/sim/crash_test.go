package sim_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	"go.uber.org/zap"

	"github.com/edgewright/edgewright/assembler"
	"github.com/edgewright/edgewright/assembler/sim"
	"github.com/edgewright/edgewright/materials"
)

// crashFixture is a device config with every kind of work: a qcow2 and
// a raw image over HTTP, a blank volume, a container from a registry
// index, each a few MiB.
type crashFixture struct {
	world *sim.World
	bp    *materials.Blueprint
}

func digestOf(s string) digest.Digest { return digest.FromString(s) }

func newCrashFixture() *crashFixture {
	w := sim.NewWorld()
	qcow, raw := digestOf("qcow2 image"), digestOf("raw image")
	w.Put(sim.Object{Digest: qcow, Size: 3 << 20, VirtualSize: 8 << 20})
	w.Put(sim.Object{Digest: raw, Size: 2 << 20})
	w.Serve(httpDS, "os.qcow2", qcow)
	w.Serve(httpDS, "data.raw", raw)
	cfg, layer, m, idx := digestOf("config"), digestOf("layer"), digestOf("manifest"), digestOf("index")
	w.Put(sim.Object{Digest: cfg, Size: 1 << 10})
	w.Put(sim.Object{Digest: layer, Size: 4 << 20})
	w.Put(sim.Object{Digest: m, Size: 600, MediaType: "application/vnd.oci.image.manifest.v1+json", Children: []digest.Digest{cfg, layer}})
	w.Put(sim.Object{Digest: idx, Size: 400, MediaType: "application/vnd.oci.image.index.v1+json", Children: []digest.Digest{m},
		Follow: &materials.Blob{Digest: m, Size: 600, MediaType: "application/vnd.oci.image.manifest.v1+json"}})
	w.Tag(ociDS, "library/app:v1", idx)
	bp := &materials.Blueprint{Complete: true, Datastores: []materials.Datastore{httpDS, ociDS},
		ContentTrees: []materials.ContentTree{
			{ID: "os", URL: "os.qcow2", SHA256: qcow.Encoded(), Format: materials.FormatQcow2, Datastores: []string{"http"}},
			{ID: "data", URL: "data.raw", SHA256: raw.Encoded(), Format: materials.FormatRaw, Datastores: []string{"http"}},
			{ID: "app", URL: "library/app:v1", Format: materials.FormatContainer, Datastores: []string{"oci"}},
		},
		Volumes: []materials.Volume{
			{ID: volIDs[0], Origin: materials.OriginDownload, ContentTree: "os", Format: materials.FormatQcow2, MaxSizeBytes: 16 << 20, Apps: appIDs[:1], RefCount: 1},
			{ID: volIDs[1], Origin: materials.OriginDownload, ContentTree: "data", Format: materials.FormatRaw, MaxSizeBytes: 4 << 20, Apps: appIDs[:1], RefCount: 1},
			{ID: volIDs[2], Origin: materials.OriginBlank, Format: materials.FormatQcow2, MaxSizeBytes: 1 << 30, Apps: appIDs[1:2], RefCount: 1},
			{ID: volIDs[3], Origin: materials.OriginDownload, ContentTree: "app", Format: materials.FormatContainer, MaxSizeBytes: 64 << 20, Apps: appIDs[2:], RefCount: 1},
		}}
	return &crashFixture{world: w, bp: bp}
}

// converge runs the reconcile loop on dev; crashAt > 0 crashes the device
// right after that durable journal write, counted over the whole loop.
func converge(t *testing.T, dev *sim.Device, bp *materials.Blueprint, now *time.Time, crashAt int) (crashed bool) {
	t.Helper()
	writes := 0
	opts := dev.Options()
	opts.Logger, opts.Clock = zap.NewNop(), func() time.Time { return *now }
	opts.Retry = assembler.RetryPolicy{Attempts: 2, Base: time.Microsecond, Max: time.Microsecond}
	opts.AfterJournalWrite = func(int) {
		writes++
		if writes == crashAt {
			dev.Crash()
		}
	}
	a, err := assembler.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Converge(context.Background(), bp, assembler.ConvergeOptions{})
	if crashAt > 0 && writes >= crashAt {
		if err == nil && res.Converged && writes == crashAt {
			// The crash came after the last write: nothing was lost.
			return true
		}
		if err == nil {
			t.Fatalf("crash at write %d: converge reported no error after the crash", crashAt)
		}
		return true
	}
	if err != nil {
		t.Fatalf("converge: %v", err)
	}
	if !res.Converged {
		t.Fatalf("converge: not converged; left: %+v", res.Plan)
	}
	return false
}

// shape is what a converged device must hold, without times.
type shape struct {
	Volumes []string
	Blobs   []string
	Journal string
}

func shapeOf(t *testing.T, dev *sim.Device) shape {
	t.Helper()
	fp, err := dev.Survey(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var s shape
	for _, v := range fp.Volumes {
		s.Volumes = append(s.Volumes, fmt.Sprintf("%s %s %s vsize=%d", v.Path, v.Format, v.State, v.VirtualSize))
	}
	for _, b := range fp.Blobs {
		s.Blobs = append(s.Blobs, fmt.Sprintf("%s %s size=%d offset=%d", b.Digest, b.State, b.Size, b.Offset))
	}
	s.Journal = fmt.Sprintf("inflight=%d latches=%d lastApplied=%v", len(fp.Journal.InFlight), len(fp.Journal.Latches), fp.Journal.LastApplied != nil)
	return s
}

// completeAt lists the blobs complete on the device.
func completeAt(t *testing.T, dev *sim.Device) []digest.Digest {
	fp, err := dev.Survey(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []digest.Digest
	for _, b := range fp.Blobs {
		if b.State == materials.StateComplete {
			out = append(out, b.Digest)
		}
	}
	return out
}

// TestCrashAtEveryJournalStep crashes the device right after each durable
// journal write in turn, reboots it and converges again: the disk must
// end as an uncrashed run leaves it, and no blob complete at the crash is
// fetched again. Two phases: the first apply on an empty device, and a
// purge plus a dropped volume on a converged one.
func TestCrashAtEveryJournalStep(t *testing.T) {
	f := newCrashFixture()
	second := *f.bp
	second.Volumes = append([]materials.Volume(nil), f.bp.Volumes...)
	second.Volumes[0].Generation++                                     // purge
	second.Volumes = append(second.Volumes[:1], second.Volumes[2:]...) // drop
	phases := []struct {
		name     string
		from, to *materials.Blueprint
		min      int
	}{
		{"initial apply", nil, f.bp, 15},
		{"purge and drop", f.bp, &second, 4},
	}
	for _, ph := range phases {
		t.Run(ph.name, func(t *testing.T) {
			fresh := func() (*sim.Device, *time.Time) {
				now := testEpoch
				dev := sim.New(f.world, sim.Options{Clock: func() time.Time { return now }})
				if ph.from != nil {
					converge(t, dev, ph.from, &now, 0)
				}
				return dev, &now
			}
			ref, refNow := fresh()
			converge(t, ref, ph.to, refNow, 0)
			want := shapeOf(t, ref)
			crashes := 0
			for n := 1; ; n++ {
				dev, now := fresh()
				if !converge(t, dev, ph.to, now, n) {
					break
				}
				crashes++
				dev.Reboot()
				before := completeAt(t, dev)
				fetched := map[digest.Digest]int{}
				for _, d := range before {
					fetched[d] = f.world.Fetches(d)
				}
				converge(t, dev, ph.to, now, 0)
				if d := cmp.Diff(want, shapeOf(t, dev)); d != "" {
					t.Fatalf("crash at write %d: the device converged elsewhere (-uncrashed +crashed):\n%s", n, d)
				}
				for _, d := range before {
					if f.world.Fetches(d) != fetched[d] {
						t.Errorf("crash at write %d: blob %s was complete at the crash but fetched again", n, d)
					}
				}
			}
			if crashes < ph.min {
				t.Errorf("only %d crash points, want at least %d", crashes, ph.min)
			}
			t.Logf("crash points: %d", crashes)
		})
	}
}
