package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/assembler/ctrstore"
)

// TestFixContainerd fixes a root whose blobs are in a real containerd
// (`wright apply --containerd --containerd-content DIR --strategy
// space` made its volumes overlays on containerd's blobs): with the
// content blob of two overlays removed from containerd and one of them
// truncated, the image record of a dropped content tree past its
// grace period, and a leaked lease (the lease a download of a tree no
// config names left, holding that record's blob), `wright fix
// --containerd ... --all` fetches the blob again into containerd,
// re-creates the truncated volume as an overlay on it, deletes the image
// record and the lease (containerd's collector then takes the blob), and
// checks a root with nothing left to fix.
func TestFixContainerd(t *testing.T) {
	const (
		dsID   = "5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d41"
		treeA  = "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e41"
		treeB  = "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e42"
		volOv  = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f41"
		volBad = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f42"
		volB   = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f43"
		treeC  = "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e43"
	)
	rig := newCtrRig(t, dsID, "wright-fix")
	tree, vol, config, ctr, hasImage := rig.tree, rig.vol, rig.config, rig.ctr, rig.hasImage
	ctrd, diskA, sumA, sumB := rig.ctrd, rig.diskA, rig.sumA, rig.sumB
	ns := rig.ns
	root, contentDir := t.TempDir(), ctrd.ContentDir()
	blobA := filepath.Join(contentDir, "blobs/sha256", hex.EncodeToString(sumA[:]))
	ctrArgs := []string{"--root", root, "--containerd", ctrd.Address, "--namespace", ns, "--containerd-content", contentDir, "--strategy", "space"}
	apply := func(step, cfg string, want int) {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(append([]string{"apply", "--config", cfg, "--allow-mass-delete"}, ctrArgs...), &out, &errb); code != want {
			t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", step, code, out.String(), errb.String())
		}
	}
	// Two overlays on blob A, one on blob B; then B's volume and tree
	// are dropped: its image record's grace clock starts (24 h).
	apply("space", config([]string{tree(treeA, "a.raw", sumA), tree(treeB, "b.raw", sumB)},
		[]string{vol(volOv, treeA), vol(volBad, treeA), vol(volB, treeB)}), exitOK)
	// (held: the record's delete waits out the grace period)
	apply("drop B", config([]string{tree(treeA, "a.raw", sumA)}, []string{vol(volOv, treeA), vol(volBad, treeA)}), exitHeld)
	imageB := treeB + "-b.raw"
	if !hasImage(imageB) {
		t.Fatalf("image record %s went at once; the test needs its grace clock", imageB)
	}
	// The damage: blob A gone from containerd (its record, and its file,
	// which containerd's collector would remove later), one overlay
	// truncated.
	ctr("content", "rm", "sha256:"+hex.EncodeToString(sumA[:]))
	if err := os.Remove(blobA); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	bad := filepath.Join(root, "persist/vault/volumes", volBad+"#1.qcow2")
	if err := os.Truncate(bad, 64); err != nil {
		t.Fatal(err)
	}
	// The leak: tree C's download stopped with blob B in its lease (as
	// the containerd craft keeps a blob another tree already holds), and
	// C is in no config.
	leaseC := ctrstore.LeaseID(treeC)
	st, err := ctrstore.Open(context.Background(), ctrstore.Options{Socket: ctrd.Address, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Keep(context.Background(), treeC, digest.NewDigestFromBytes(digest.SHA256, sumB[:])); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if !strings.Contains(ctr("leases", "ls"), leaseC) {
		t.Fatalf("containerd lists no lease %s", leaseC)
	}

	var out, errb bytes.Buffer
	code := run(append([]string{"fix", "--all", "--json", "--grace", "0s", "--stale-after", "1ns"}, ctrArgs...), &out, &errb)
	t.Logf("wright fix --containerd --all --json: exit %d\n%s%s", code, out.String(), errb.String())
	var res fixJSON
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("stdout is not JSON: %v", err)
	}
	got := map[string]string{}
	for _, s := range res.Selected {
		got[s.ID] = s.Outcome + s.Error + s.Why
	}
	for _, id := range []string{"mend:volume/" + volOv + "#1", "mend:volume/" + volBad + "#1", "clean:image/" + imageB, "clean:lease/" + leaseC} {
		if got[id] != "applied" {
			t.Errorf("fix %s: %q, want applied", id, got[id])
		}
	}
	if code != exitOK || len(res.Fixes) != 0 {
		t.Errorf("exit %d, fixes after: %v", code, res.Fixes)
	}
	for _, v := range res.Volumes {
		if v.Status != "optimized" {
			t.Errorf("volume %s is %s after the fix", v.ID, v.Status)
		}
	}
	// Blob A is back in containerd, both volumes read it through as
	// overlays on its file there, and B's image record is gone.
	if b, err := os.ReadFile(blobA); err != nil || !bytes.Equal(b, diskA) {
		t.Errorf("blob A in containerd: %d bytes, %v", len(b), err)
	}
	if !strings.Contains(ctr("content", "ls"), "sha256:"+hex.EncodeToString(sumA[:])) {
		t.Errorf("containerd does not list blob A")
	}
	for _, id := range []string{volOv, volBad} {
		p := filepath.Join(root, "persist/vault/volumes", id+"#1.qcow2")
		info, err := exec.Command("qemu-img", "info", "-U", "--output=json", p).Output()
		var i struct {
			Backing string `json:"backing-filename"`
		}
		if err != nil || json.Unmarshal(info, &i) != nil || i.Backing != blobA {
			t.Errorf("%s: backing file %q (%v), want %s", id, i.Backing, err, blobA)
		}
		if out, err := exec.Command("qemu-img", "compare", "-U", "-f", "qcow2", "-F", "raw", p, blobA).CombinedOutput(); err != nil {
			t.Errorf("%s: qemu-img compare with the blob: %v: %s", id, err, out)
		}
	}
	if hasImage(imageB) {
		t.Errorf("image record %s survived its clean", imageB)
	}
	if strings.Contains(ctr("leases", "ls"), leaseC) {
		t.Errorf("lease %s survived its clean", leaseC)
	}
	if strings.Contains(ctr("content", "ls"), "sha256:"+hex.EncodeToString(sumB[:])) {
		t.Errorf("blob B is still in containerd with its record and its lease gone")
	}
	if !hasImage(treeA + "-a.raw") {
		t.Errorf("image record of tree A, in the last applied config, is gone")
	}
	if entries, _ := os.ReadDir(filepath.Join(root, "persist/blobs/sha256")); len(entries) != 0 {
		t.Errorf("the blob directory holds %d blobs; with --containerd it should hold none", len(entries))
	}
}
