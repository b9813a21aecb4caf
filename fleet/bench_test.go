package fleet_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/edgewright/edgewright/fleet"
	"github.com/edgewright/edgewright/materials"
)

// BenchmarkFleet is the controller team's run: an initial converge of
// 50-volume devices from empty (architect included), then an image
// update rolled out to every device. Run it with -cpu 1 -benchtime 1x:
// it reports reconciles (survey-plan-apply passes) and whole converges
// per CPU second, the rollout's CPU seconds, and the live heap per device
// once the fleet has converged.
//
// FLEET_DEVICES (a comma-separated list) replaces the fleet sizes, e.g.
// FLEET_DEVICES=100000 for the flatness check bench/fleet.sh makes.
func BenchmarkFleet(b *testing.B) {
	sizes := []int{1000, 10000}
	if env := os.Getenv("FLEET_DEVICES"); env != "" {
		sizes = nil
		for _, f := range strings.Split(env, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				b.Fatalf("FLEET_DEVICES=%q: %q is not a device count", env, f)
			}
			sizes = append(sizes, n)
		}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchFleet(b, n)
			}
		})
	}
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func benchFleet(b *testing.B, n int) {
	ctx := context.Background()
	spec := fleet.Spec{Devices: n, VolumesPerDevice: 50, Images: images, BlankShare: 0.3, Seed: 1}
	before := liveHeap()
	f, err := fleet.New(spec)
	if err != nil {
		b.Fatal(err)
	}
	first, err := f.Converge(ctx, fleet.Options{Workers: 1})
	if err != nil {
		b.Fatal(err)
	}
	heap := liveHeap() - before
	v2 := fleet.Image{Name: "os-v2.qcow2", Format: materials.FormatQcow2, SizeBytes: 720 << 20, VirtualSize: 4 << 30}
	f.Publish(v2)
	roll, err := f.Rollout(ctx, spec.UpdateImage(1, images[0], v2, 0.5), fleet.Options{Workers: 1})
	if err != nil {
		b.Fatal(err)
	}
	if len(first.NotConverged)+len(roll.NotConverged) > 0 {
		b.Fatalf("not converged: %d initially, %d after the rollout", len(first.NotConverged), len(roll.NotConverged))
	}
	b.ReportMetric(first.ReconcilesPerCPUSecond, "initial-reconciles/cpu-s")
	b.ReportMetric(first.ConvergesPerCPUSecond, "initial-converges/cpu-s")
	b.ReportMetric(roll.ReconcilesPerCPUSecond, "rollout-reconciles/cpu-s")
	b.ReportMetric(roll.CPUSeconds, "rollout-cpu-s")
	b.ReportMetric(float64(heap)/float64(n), "heap-B/device")
	runtime.KeepAlive(f)
}
