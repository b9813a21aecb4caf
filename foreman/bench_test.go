package foreman

import (
	"fmt"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// benchInputs builds a device at scale n: n volumes, n content trees (half
// VM images of one blob, half OCI images of a manifest, a config and seven
// layers, 5n blobs in all) in containerd with gc labels, n/2 image records,
// tag latches, and a last applied Blueprint. About 90% is in place; the
// rest needs downloads, creates, purges and deletes.
func benchInputs(n int) (*materials.Blueprint, *materials.Floorplan, Options) {
	hex := func(kind byte, i, j int) digest.Digest {
		s := fmt.Sprintf("%c%09d%02d", kind, i, j)
		b := make([]byte, 64)
		for k := range b {
			b[k] = "0123456789abcdef"[(int(s[k%len(s)])+k)%16]
		}
		copy(b, fmt.Sprintf("%x%09d%02d", kind, i, j))
		return digest.Digest("sha256:" + string(b))
	}
	bp := &materials.Blueprint{Complete: true,
		Datastores: []materials.Datastore{{ID: "ds-http", Type: materials.DatastoreHTTPS, FQDN: "https://images.example"},
			{ID: "ds-oci", Type: materials.DatastoreContainerRegistry, FQDN: "docker://registry.example"}}}
	fp := &materials.Floorplan{Root: "/persist", Fingerprint: "sha256:bench", Space: materials.Space{TotalBytes: 1 << 50, FreeBytes: 1 << 49},
		Journal: &materials.JournalState{}}
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("ct-%08d", i)
		t := materials.ContentTree{ID: id, DisplayName: "image " + strconv.Itoa(i), MaxSizeBytes: 64 << 20, Generation: 1}
		owner := map[string]string{OwnerLabel: OwnerValue}
		if i%2 == 0 {
			d := hex('v', i, 0)
			t.URL, t.Format, t.SHA256, t.Datastores = "images/"+id+".qcow2", materials.FormatQcow2, d.Encoded(), []string{"ds-http"}
			if i%20 != 4 { // missing (its volume too): downloads
				fp.Blobs = append(fp.Blobs, materials.BlobRecord{Digest: d, Store: materials.BlobStoreContainerd, Size: 64 << 20,
					State: materials.StateComplete, Labels: owner, CreatedAt: created, UpdatedAt: created})
			}
		} else {
			t.URL, t.Format, t.Datastores = "apps/"+id+":1.0", materials.FormatContainer, []string{"ds-oci"}
			m := hex('m', i, 0)
			fp.Journal.Latches = append(fp.Journal.Latches, materials.TagLatch{ContentTree: id, Generation: 1, URL: t.URL, Digest: m, ResolvedAt: created})
			var children []digest.Digest
			labels := map[string]string{OwnerLabel: OwnerValue}
			for j := 1; j <= 8; j++ {
				c := hex('l', i, j)
				children = append(children, c)
				labels["containerd.io/gc.ref.content.l."+strconv.Itoa(j)] = string(c)
			}
			fp.Blobs = append(fp.Blobs, materials.BlobRecord{Digest: m, Store: materials.BlobStoreContainerd, Size: 2 << 10,
				State: materials.StateComplete, MediaType: "application/vnd.oci.image.manifest.v1+json", Labels: labels, Children: children,
				CreatedAt: created, UpdatedAt: created})
			for j, c := range children {
				if i%20 == 3 && j == 7 { // a layer to fetch, resumed (its volume is missing too)
					fp.Blobs = append(fp.Blobs, materials.BlobRecord{Digest: c, Store: materials.BlobStoreContainerd, Size: 8 << 20, Offset: 1 << 20,
						State: materials.StatePartial, Labels: owner})
					continue
				}
				fp.Blobs = append(fp.Blobs, materials.BlobRecord{Digest: c, Store: materials.BlobStoreContainerd, Size: 8 << 20,
					State: materials.StateComplete, Labels: owner, CreatedAt: created, UpdatedAt: created})
			}
			fp.Images = append(fp.Images, materials.ImageRecord{Name: id + "-" + t.URL, Target: m, Labels: owner,
				Blobs: append([]digest.Digest{m}, children...), CreatedAt: created, UpdatedAt: created})
		}
		bp.ContentTrees = append(bp.ContentTrees, t)

		vid := fmt.Sprintf("vol-%08d", i)
		v := materials.Volume{ID: vid, Generation: 2, DisplayName: "volume " + strconv.Itoa(i), Origin: materials.OriginDownload, ContentTree: id,
			Format: t.Format, MaxSizeBytes: 1 << 30, RefCount: 2, Apps: []string{fmt.Sprintf("app-%08d", i)}}
		bp.Volumes = append(bp.Volumes, v)
		key := v.Key()
		switch i % 20 {
		case 3, 4: // missing: create
		case 5: // an older generation: purge
			key.Generation = 1
			fallthrough
		default:
			fp.Volumes = append(fp.Volumes, materials.VolumeFile{ID: key.ID, Generation: key.Generation, Format: v.Format,
				Path: "persist/vault/volumes/" + key.String() + "." + string(v.Format), Dir: v.Format == materials.FormatContainer,
				VirtualSize: 1 << 30, ApparentSize: 1 << 30, AllocatedSize: 300 << 20, ModTime: created, State: materials.StateComplete})
		}
	}
	last := copyBlueprint(bp)
	for i := 0; i < n/20; i++ { // dropped since the last apply
		k := materials.VolumeKey{ID: fmt.Sprintf("old-%08d", i), Generation: 1}
		last.Volumes = append(last.Volumes, materials.Volume{ID: k.ID, Generation: 1, Origin: materials.OriginBlank, Format: materials.FormatQcow2, MaxSizeBytes: 1 << 30})
		fp.Volumes = append(fp.Volumes, materials.VolumeFile{ID: k.ID, Generation: 1, Format: materials.FormatQcow2,
			Path: "persist/vault/volumes/" + k.String() + ".qcow2", VirtualSize: 1 << 30, ApparentSize: 1 << 30, AllocatedSize: 1 << 20,
			ModTime: created, State: materials.StateComplete})
	}
	fp.Journal.LastApplied = last
	sortFloorplan(fp)
	opts := Options{Now: created.Add(1000 * time.Hour), Space: fp.Space, GracePeriod: time.Hour, Store: materials.BlobStoreContainerd}
	return bp, fp, opts
}

func materialCount(bp *materials.Blueprint, fp *materials.Floorplan) int {
	return len(bp.Volumes) + len(bp.ContentTrees) + len(fp.Volumes) + len(fp.Blobs) + len(fp.Images)
}

// benchScales are the sizes benchmarked: the 10,000 volumes, and
// 1,000 for the small end.
var benchScales = []int{1000, 10000}

func BenchmarkPlan(b *testing.B) {
	for _, n := range benchScales {
		bp, fp, opts := benchInputs(n)
		b.Run("n="+strconv.Itoa(n), func(b *testing.B) {
			p := Plan(bp, fp, opts)
			if len(p.Remodels) == 0 {
				b.Fatal("the benchmark device needs no remodels")
			}
			b.ReportAllocs()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				Plan(bp, fp, opts)
			}
			b.StopTimer()
			runtime.ReadMemStats(&m1)
			b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(b.N)/float64(materialCount(bp, fp)), "allocs/material")
			b.ReportMetric(float64(len(p.Remodels)), "remodels")
		})
	}
}

func BenchmarkDeepCopy(b *testing.B) {
	for _, n := range benchScales {
		bp, fp, _ := benchInputs(n)
		b.Run("n="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				copyBlueprint(bp)
				copyFloorplan(fp)
			}
		})
	}
}

// BenchmarkFingerprint is the cost Plan pays when the Floorplan comes
// without the inspector's fingerprint.
func BenchmarkFingerprint(b *testing.B) {
	_, fp, _ := benchInputs(10000)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		materials.Fingerprint(fp)
	}
}

func TestBenchInputsPlan(t *testing.T) {
	bp, fp, opts := benchInputs(1000)
	p := Plan(bp, fp, opts)
	counts := p.Summary.Counts
	t.Logf("%s (%d materials)", p.Summary.Text, materialCount(bp, fp))
	for _, a := range []string{"download", "create", "purge-generation", "delete"} {
		if counts[actionOf(a)] == 0 {
			t.Errorf("benchmark device plans no %s: %s", a, p.Summary.Text)
		}
	}
}

func actionOf(s string) remodel.Action { return remodel.Action(s) }

// BenchmarkRatios measures, interleaved in one loop so that a busy
// machine slows all of them alike, Plan and a deep copy of the same inputs
// at 1,000 and 10,000 volumes, and reports the medians and the bounds the
// plan keeps: plan/copy at 10,000 volumes (at most 3) and the CPU time of
// Plan at 1,000 (under 20 ms). Each is timed by the process's CPU time
// (getrusage: user+system of all threads, so the collector's work counts),
// which a machine shared with other jobs disturbs far less than the wall
// clock. A collection runs before each timed operation, untimed.
func BenchmarkRatios(b *testing.B) {
	type scale struct {
		bp          *materials.Blueprint
		fp          *materials.Floorplan
		o           Options
		plan, copy_ []float64
	}
	scales := []*scale{}
	for _, n := range benchScales {
		bp, fp, o := benchInputs(n)
		scales = append(scales, &scale{bp: bp, fp: fp, o: o})
	}
	timeIt := func(f func()) float64 {
		runtime.GC()
		c0 := cpuNanos()
		f()
		return float64(cpuNanos() - c0)
	}
	for i := 0; i < b.N; i++ {
		for _, s := range scales {
			s.plan = append(s.plan, timeIt(func() { Plan(s.bp, s.fp, s.o) }))
			s.copy_ = append(s.copy_, timeIt(func() { copyBlueprint(s.bp); copyFloorplan(s.fp) }))
		}
	}
	p1, p10 := median(scales[0].plan), median(scales[1].plan)
	c1, c10 := median(scales[0].copy_), median(scales[1].copy_)
	b.ReportMetric(p1, "plan1k-cpu-ns")
	b.ReportMetric(p10, "plan10k-cpu-ns")
	b.ReportMetric(c1, "copy1k-cpu-ns")
	b.ReportMetric(c10, "copy10k-cpu-ns")
	b.ReportMetric(p10/c10, "plan/copy")
	b.ReportMetric(0, "ns/op")
}

// cpuNanos is the CPU time (user and system) the process has used.
func cpuNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sortFloats(s)
	return s[len(s)/2]
}

func sortFloats(s []float64) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
