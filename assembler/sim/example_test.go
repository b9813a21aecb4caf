package sim_test

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"
	"go.uber.org/zap"

	"github.com/edgewright/edgewright/assembler"
	"github.com/edgewright/edgewright/assembler/sim"
	"github.com/edgewright/edgewright/materials"
)

// A simulator runs the real executor over an in-memory device: publish
// content in a World, converge a Blueprint, read the Floorplan.
func Example() {
	w := sim.NewWorld()
	ds := materials.Datastore{ID: "ds", Type: materials.DatastoreHTTP, FQDN: "http://images.example"}
	img := digest.FromString("an OS image")
	w.Put(sim.Object{Digest: img, Size: 700 << 20, VirtualSize: 4 << 30})
	w.Serve(ds, "os.qcow2", img)

	dev := sim.New(w, sim.Options{CapacityBytes: 64 << 30})
	opts := dev.Options() // every role of the device; the rest is the caller's
	opts.Logger = zap.NewNop()
	a, err := assembler.New(opts)
	if err != nil {
		panic(err)
	}
	bp := &materials.Blueprint{Complete: true, Datastores: []materials.Datastore{ds},
		ContentTrees: []materials.ContentTree{{ID: "os", URL: "os.qcow2", SHA256: img.Encoded(), Format: materials.FormatQcow2, Datastores: []string{"ds"}}},
		Volumes: []materials.Volume{{ID: "6ba7b810-9dad-41d1-80b4-00c04fd430c8", Origin: materials.OriginDownload, ContentTree: "os",
			Format: materials.FormatQcow2, MaxSizeBytes: 8 << 30, RefCount: 1}}}
	res, err := a.Converge(context.Background(), bp, assembler.ConvergeOptions{})
	if err != nil {
		panic(err)
	}
	fp, _ := dev.Survey(context.Background(), nil)
	fmt.Println("converged:", res.Converged, "in", res.Rounds, "rounds")
	for _, v := range fp.Volumes {
		fmt.Println(v.Path, v.State, v.VirtualSize>>30, "GiB")
	}
	fmt.Println("downloaded:", dev.Downloaded()>>20, "MiB")
	// Output:
	// converged: true in 2 rounds
	// persist/vault/volumes/6ba7b810-9dad-41d1-80b4-00c04fd430c8#0.qcow2 complete 8 GiB
	// downloaded: 700 MiB
}
