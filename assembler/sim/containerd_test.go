package sim_test

import (
	"context"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"go.uber.org/zap"

	"github.com/edgewright/edgewright/assembler"
	"github.com/edgewright/edgewright/assembler/sim"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/foreman"
	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
)

// A VM volume under space on a device whose downloads go to containerd:
// an overlay on the containerd blob when the content directory is known,
// else a copy from a staged blob; and with the image record gone (what a
// missing hold would do) containerd's collector takes the blob and the
// overlay's backing is missing.
func TestContainerdSpace(t *testing.T) {
	const dir = "/var/lib/containerd/io.containerd.content.v1.content"
	dg := digest.Digest("sha256:" + "5a79b911db5b6349a413e15ae37d3aca97f4456569cb36f269e5c37778bcd3d9")
	for _, tc := range []struct {
		name        string
		opts        sim.Options
		wantBacking string // "" : a standalone copy
	}{
		{"content directory known: an overlay", sim.Options{ContainerdContentDir: dir}, dir + "/blobs/sha256/" + dg.Encoded()},
		{"content directory unknown: a copy", sim.Options{Containerd: true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := sim.NewWorld()
			w.Put(sim.Object{Digest: dg, Size: 3 << 20})
			w.Serve(httpDS, "a.raw", dg)
			dev := sim.New(w, tc.opts)
			opts := dev.Options()
			opts.Logger = zap.NewNop()
			opts.Clock = func() time.Time { return testEpoch }
			a, err := assembler.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			bp := &materials.Blueprint{Complete: true, Datastores: []materials.Datastore{httpDS},
				ContentTrees: []materials.ContentTree{{ID: "tree-a", URL: "a.raw", SHA256: dg.Encoded(), Format: materials.FormatRaw, Datastores: []string{httpDS.ID}}},
				Volumes: []materials.Volume{{ID: "0c000000-0000-4000-8000-000000000001", Origin: materials.OriginDownload, ContentTree: "tree-a",
					Format: materials.FormatRaw, MaxSizeBytes: 4 << 20, RefCount: 1}}}
			res, err := a.Converge(context.Background(), bp, assembler.ConvergeOptions{Foreman: foreman.Options{Strategy: materials.StrategySpace}})
			if err != nil || !res.Converged {
				t.Fatalf("converge: %v %+v", err, res.Plan)
			}
			fp, err := dev.Survey(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(fp.Volumes) != 1 || len(fp.Images) != 1 || fp.Images[0].Name != "tree-a-a.raw" || fp.Images[0].Target != dg {
				t.Fatalf("volumes %+v, image records %+v; want one volume and tree-a's record", fp.Volumes, fp.Images)
			}
			v := fp.Volumes[0]
			if got := v.BackingFile; got != tc.wantBacking || v.State != materials.StateComplete {
				t.Fatalf("volume %s is %s backed by %q, want backed by %q", v.Path, v.State, got, tc.wantBacking)
			}
			for _, b := range fp.Blobs {
				if b.Store != materials.BlobStoreContainerd || b.Labels[foreman.OwnerLabel] != foreman.OwnerValue {
					t.Errorf("blob %s in store %q labelled %v; want containerd's, edgewright's", b.Digest, b.Store, b.Labels)
				}
			}
			if tc.wantBacking == "" {
				return
			}
			// The record goes while the overlay reads the blob.
			if err := opts.Crafts.Images.DeleteImage(context.Background(), "tree-a-a.raw"); err != nil {
				t.Fatal(err)
			}
			fp, err = dev.Survey(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(fp.Blobs) != 0 {
				t.Errorf("blobs %+v survived their image record: the collector keeps only what a lease or a record reaches", fp.Blobs)
			}
			if v := fp.Volumes[0]; v.State != materials.StateBroken || len(v.Backing) != 1 || !v.Backing[0].Missing {
				t.Errorf("after the collector the overlay is %s backed by %+v, want broken, its backing missing", v.State, v.Backing)
			}
		})
	}
}

// A tree's lease shows in the survey with the blobs it holds; deleting
// it (a clean of a leaked lease) lets the collector take them.
func TestContainerdLeases(t *testing.T) {
	dg := digest.Digest("sha256:" + "5a79b911db5b6349a413e15ae37d3aca97f4456569cb36f269e5c37778bcd3d9")
	w := sim.NewWorld()
	w.Put(sim.Object{Digest: dg, Size: 1 << 20})
	w.Serve(httpDS, "a.raw", dg)
	dev := sim.New(w, sim.Options{Containerd: true})
	opts := dev.Options()
	ctx := context.Background()
	ts := opts.Crafts.Stores[materials.BlobStoreContainerd].(device.TreeStore)
	ct := materials.ContentTree{ID: "tree-a", URL: "a.raw", SHA256: dg.Encoded(), Datastores: []string{httpDS.ID}}
	blob := materials.Blob{Digest: dg, Size: 1 << 20}
	in, err := ts.IngestFor(ctx, ct, blob)
	if err != nil {
		t.Fatal(err)
	}
	req := device.FetchRequest{Datastore: httpDS, ContentTree: ct, Blob: blob}
	if err := opts.Crafts.Fetchers[httpDS.Type].Fetch(ctx, req, in, func(int64, int64) {}); err != nil {
		t.Fatal(err)
	}
	if err := in.Commit(ctx, 1<<20); err != nil {
		t.Fatal(err)
	}
	fp, err := dev.Survey(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(fp.Leases) != 1 || fp.Leases[0].ID != "edgewright-tree-a" || len(fp.Leases[0].Blobs) != 1 || fp.Leases[0].Blobs[0] != dg ||
		fp.Leases[0].Labels[layout.ContentTreeLabel] != "tree-a" || len(fp.Blobs) != 1 {
		t.Fatalf("leases %+v, blobs %+v; want tree-a's lease holding its blob", fp.Leases, fp.Blobs)
	}
	if err := opts.Crafts.Leases.DeleteLease(ctx, "edgewright-tree-a"); err != nil {
		t.Fatal(err)
	}
	if err := opts.Crafts.Leases.DeleteLease(ctx, "someone-else"); err == nil {
		t.Errorf("a lease not named as edgewright's was deleted")
	}
	if fp, err = dev.Survey(ctx, nil); err != nil || len(fp.Leases) != 0 || len(fp.Blobs) != 0 {
		t.Errorf("after the delete: leases %+v, blobs %+v (%v); want none: the collector takes what only the lease held", fp.Leases, fp.Blobs, err)
	}
}
