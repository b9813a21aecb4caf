package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestApplyContainerdSpace runs `wright apply --strategy space` with blobs
// in a real containerd whose content directory is given: the VM volume is
// a qcow2 overlay naming the blob's file in containerd's content directory
// by its absolute path, and equals the content. With its tree dropped from
// the config (the volume now names another tree, in the same generation,
// so the overlay stays), applies past the grace period keep the overlay,
// its blob and the image record that keeps the blob from containerd's
// collector; once the volume is dropped and its overlay gone, the image
// record is deleted.
func TestApplyContainerdSpace(t *testing.T) {
	const (
		dsID  = "5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d31"
		treeA = "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e31"
		treeB = "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e32"
		volID = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f31"
		ns    = "wright-space"
	)
	rig := newCtrRig(t, dsID, ns)
	ctrd, diskA, sumA, sumB := rig.ctrd, rig.diskA, rig.sumA, rig.sumB
	tree, config, hasImage := rig.tree, rig.config, rig.hasImage
	vol := func(tid string) string { return rig.vol(volID, tid) }
	root := t.TempDir()
	contentDir := ctrd.ContentDir()
	blobA := filepath.Join(contentDir, "blobs/sha256", hex.EncodeToString(sumA[:]))
	overlay := filepath.Join(root, "persist/vault/volumes", volID+"#1.qcow2")
	imageA := treeA + "-a.raw"
	apply := func(step, cfg string, wantCode int, extra ...string) string {
		t.Helper()
		args := append([]string{"apply", "--config", cfg, "--root", root, "--containerd", ctrd.Address, "--namespace", ns,
			"--containerd-content", contentDir, "--strategy", "space", "--grace", "0s"}, extra...)
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != wantCode {
			t.Fatalf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", step, code, wantCode, out.String(), errb.String())
		}
		return out.String()
	}
	checkOverlay := func(step string) {
		t.Helper()
		out, err := exec.Command("qemu-img", "info", "-U", "--output=json", overlay).Output()
		if err != nil {
			t.Fatalf("%s: qemu-img info %s: %v", step, overlay, err)
		}
		var info struct {
			Format  string `json:"format"`
			Backing string `json:"backing-filename"`
		}
		if err := json.Unmarshal(out, &info); err != nil {
			t.Fatal(err)
		}
		if info.Format != "qcow2" || info.Backing != blobA {
			t.Errorf("%s: volume is %s backed by %q, want a qcow2 overlay on %s", step, info.Format, info.Backing, blobA)
		}
		if out, err := exec.Command("qemu-img", "compare", "-U", "-f", "qcow2", "-F", "raw", overlay, blobA).CombinedOutput(); err != nil {
			t.Errorf("%s: qemu-img compare overlay blob: %v: %s", step, err, out)
		}
		if b, err := os.ReadFile(blobA); err != nil || !bytes.Equal(b, diskA) {
			t.Errorf("%s: blob %s is not the content (%d bytes, %v)", step, blobA, len(b), err)
		}
		if !hasImage(imageA) {
			t.Errorf("%s: image record %s is gone while the overlay reads its blob", step, imageA)
		}
	}

	// 1. The volume is an overlay on the containerd blob.
	apply("space", config([]string{tree(treeA, "a.raw", sumA)}, []string{vol(treeA)}), exitOK)
	checkOverlay("space")
	if entries, _ := os.ReadDir(filepath.Join(root, "persist/blobs/sha256")); len(entries) != 0 {
		t.Errorf("the blob directory holds %d blobs; with --containerd it should hold none", len(entries))
	}

	// 2. Tree A is dropped (the volume names tree B in the same
	// generation: EVE keeps the volume as it is), past the grace period:
	// the overlay, its blob and the image record stay, twice.
	dropped := config([]string{tree(treeB, "b.raw", sumB)}, []string{vol(treeB)})
	for _, step := range []string{"tree dropped", "tree dropped, again"} {
		out := apply(step, dropped, exitHeld)
		if want := "held delete image " + imageA + ": image record of content tree " + treeA + " kept"; !strings.Contains(out, want) {
			t.Errorf("%s: stdout lacks %q:\n%s", step, want, out)
		}
		checkOverlay(step)
	}

	// 3. The volume is dropped: the overlay goes, and then the image
	// record (grace 0s: in the same apply or the next).
	none := config([]string{tree(treeB, "b.raw", sumB)}, nil)
	apply("volume dropped", none, exitOK, "--allow-mass-delete")
	if _, err := os.Lstat(overlay); !os.IsNotExist(err) {
		t.Errorf("volume dropped: the overlay is still there: %v", err)
	}
	apply("volume dropped, again", none, exitOK, "--allow-mass-delete")
	if hasImage(imageA) {
		t.Errorf("image record %s survived its overlay past the grace period", imageA)
	}
	if !hasImage(treeB + "-b.raw") {
		t.Errorf("image record of tree B, still in the config, is gone")
	}
}
