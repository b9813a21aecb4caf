package fleet_test

import (
	"context"
	"testing"

	"github.com/edgewright/edgewright/fleet"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

var images = []fleet.Image{
	{Name: "os-v1.qcow2", Format: materials.FormatQcow2, SizeBytes: 700 << 20, VirtualSize: 4 << 30},
	{Name: "data-v1.raw", Format: materials.FormatRaw, SizeBytes: 256 << 20},
	{Name: "tools-v1.qcow2", Format: materials.FormatQcow2, SizeBytes: 120 << 20, VirtualSize: 1 << 30},
}

// TestConvergeAndRollout: a fleet converges from empty, then an image
// update rolls out as purges that fetch the new image once per device.
func TestConvergeAndRollout(t *testing.T) {
	ctx := context.Background()
	spec := fleet.Spec{Devices: 40, VolumesPerDevice: 12, Images: images, BlankShare: 0.25, Seed: 7}
	f, err := fleet.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	first, err := f.Converge(ctx, fleet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.NotConverged) != 0 {
		t.Fatalf("not converged: %v (%+v)", first.NotConverged, first.PerDevice[first.NotConverged[0]])
	}
	if got, want := first.Remodels[remodel.ActionCreate], spec.Devices*spec.VolumesPerDevice; got != want {
		t.Errorf("creates: %d, want one per volume (%d)", got, want)
	}
	// A device fetches every content tree its config names, used or not,
	// as EVE does.
	if got, want := first.Remodels[remodel.ActionDownload], spec.Devices*len(images); got != want {
		t.Errorf("downloads: %d, want one per content tree and device (%d)", got, want)
	}
	if first.BytesDownloaded <= 0 || first.BytesWritten < first.BytesDownloaded {
		t.Errorf("bytes: %d downloaded, %d written", first.BytesDownloaded, first.BytesWritten)
	}
	again, err := f.Converge(ctx, fleet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(again.Remodels); n != 0 || again.BytesDownloaded != 0 {
		t.Errorf("a converged fleet reconciled again did %v, downloaded %d", again.Remodels, again.BytesDownloaded)
	}

	v2 := fleet.Image{Name: "os-v2.qcow2", Format: materials.FormatQcow2, SizeBytes: 720 << 20, VirtualSize: 4 << 30}
	f.Publish(v2)
	roll, err := f.Rollout(ctx, spec.UpdateImage(1, images[0], v2, 1), fleet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(roll.NotConverged) != 0 {
		t.Fatalf("rollout: not converged: %v", roll.NotConverged)
	}
	purges := 0
	for i := 0; i < spec.Devices; i++ {
		for _, v := range f.Config(i).Volumes {
			if v.Generation == 2 {
				purges++
			}
		}
	}
	if purges == 0 || roll.Remodels[remodel.ActionPurge] != purges {
		t.Errorf("rollout purges: %d, want %d (> 0)", roll.Remodels[remodel.ActionPurge], purges)
	}
	t.Logf("first: %d reconciles, %.0f/CPU-s, %v, %d MiB down; rollout: %v, %d MiB down", first.Reconciles, first.ReconcilesPerCPUSecond,
		first.Remodels, first.BytesDownloaded>>20, roll.Remodels, roll.BytesDownloaded>>20)
}

// TestSmallDisksHold: devices whose disk cannot hold their volumes report
// held remodels with code no-space and do not converge.
func TestSmallDisksHold(t *testing.T) {
	spec := fleet.Spec{Devices: 5, VolumesPerDevice: 10, Images: images, DiskBytes: 1 << 30, Seed: 3}
	f, err := fleet.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := f.Converge(context.Background(), fleet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Held[remodel.HoldNoSpace] == 0 || len(rep.NotConverged) != spec.Devices {
		t.Errorf("held %v, not converged %v: want no-space holds on every device", rep.Held, rep.NotConverged)
	}
	if rep.PeakDiskShare > 1 {
		t.Errorf("peak disk share %.2f: a device used more disk than it has", rep.PeakDiskShare)
	}
}

func TestSpecErrors(t *testing.T) {
	for _, s := range []fleet.Spec{
		{Devices: 0, VolumesPerDevice: 1, Images: images},
		{Devices: 1, VolumesPerDevice: 1},
		{Devices: 1, VolumesPerDevice: 1, Images: images, BlankShare: 2},
		{Devices: 1, VolumesPerDevice: 1, Images: []fleet.Image{{Name: "x", Format: materials.FormatRaw}}},
	} {
		if _, err := fleet.New(s); err == nil {
			t.Errorf("fleet.New(%+v): no error", s)
		}
	}
}
