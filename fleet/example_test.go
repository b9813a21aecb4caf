package fleet_test

import (
	"context"
	"fmt"

	"github.com/edgewright/edgewright/fleet"
	"github.com/edgewright/edgewright/materials"
)

// A controller team asks what an image update does to its fleet before
// it ships.
func Example() {
	v1 := fleet.Image{Name: "os-v1.qcow2", Format: materials.FormatQcow2, SizeBytes: 700 << 20, VirtualSize: 8 << 30}
	spec := fleet.Spec{Devices: 100, VolumesPerDevice: 10, Images: []fleet.Image{v1}, BlankShare: 0.5, Seed: 1}
	f, err := fleet.New(spec)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	first, _ := f.Converge(ctx, fleet.Options{})
	v2 := fleet.Image{Name: "os-v2.qcow2", Format: materials.FormatQcow2, SizeBytes: 720 << 20, VirtualSize: 8 << 30}
	f.Publish(v2)
	roll, _ := f.Rollout(ctx, spec.UpdateImage(1, v1, v2, 1), fleet.Options{})
	fmt.Println("initial:", first.Remodels, "not converged:", len(first.NotConverged))
	fmt.Println("rollout:", roll.Remodels["download"], "downloads,", roll.BytesDownloaded>>30, "GiB over the wire")
	// Output:
	// initial: map[create:1000 download:100] not converged: 0
	// rollout: 100 downloads, 70 GiB over the wire
}
