package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edgewright/edgewright/inspector"
	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/journal"
	"github.com/edgewright/edgewright/materials"
)

const (
	fxTruncated = "8e2f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f01"
	fxLeaky     = "8e2f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f02"
	fxOverlay   = "8e2f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f03"
	fxChain     = "8e2f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f04"
	fxTmp       = "8e2f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f05"
	fxFlat      = "8e2f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f06"
	fxCorrupt   = "8e2f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f07"
	fxDS        = "5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d51"
	fxTreeQcow  = "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e51"
	fxTreeBase  = "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e52"
	fxTreeBase2 = "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e53"
)

// fixture is a damaged root and what its volumes' guests must read.
type fixture struct {
	root string
	// refs are, per volume file, an image with the bytes its guest must
	// read after the fixes (compared with qemu-img compare).
	refs map[string]string
	// want are the fixes the check must list, id to type.
	want map[string]string
	// overlays: the overlay cases are in (always, since the survey
	// follows backing chains; kept so the kill tests can pick them).
	overlays bool
}

func runIn(t *testing.T, dir, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", bin, args, err, out)
	}
}

// mustFollowBacking fails the test unless the survey follows an
// overlay's backing chain into the blob directory (the missing-blob,
// flatten and merge cases need it); it returns true.
func mustFollowBacking(t *testing.T, qimg string) bool {
	t.Helper()
	if !followsBacking(t, qimg) {
		t.Fatal("the survey does not follow a backing chain into the blob directory")
	}
	return true
}

// followsBacking says whether the inspector reads an overlay's chain
// into VolumeFile.Backing.
func followsBacking(t *testing.T, qimg string) bool {
	root := t.TempDir()
	vols, blobs := filepath.Join(root, "persist/vault/volumes"), filepath.Join(root, "persist/blobs/sha256")
	os.MkdirAll(vols, 0o755)
	os.MkdirAll(blobs, 0o755)
	data := bytes.Repeat([]byte{7}, 1<<16)
	s := sha256.Sum256(data)
	h := hex.EncodeToString(s[:])
	os.WriteFile(filepath.Join(blobs, h), data, 0o644)
	runIn(t, vols, qimg, "create", "-q", "-f", "qcow2", "-b", "../../blobs/sha256/"+h, "-F", "raw", fxOverlay+"#1.qcow2")
	fp, err := inspector.Survey(context.Background(), inspector.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range fp.Volumes {
		if v.ID == fxOverlay && len(v.Backing) == 1 && v.Backing[0].Blob != "" && v.State == materials.StateComplete {
			return true
		}
	}
	return false
}

// damagedRoot builds a root with one of each kind of damage the fixes
// cure, content served by srv, and a journal that knows the config.
func damagedRoot(t *testing.T, srv *httptest.Server, files map[string][]byte, overlays bool) *fixture {
	t.Helper()
	qimg := testenv.QemuImg(t)
	qio := testenv.LookPath(t, "qemu-io")
	root, work := t.TempDir(), t.TempDir()
	vols := filepath.Join(root, "persist/vault/volumes")
	blobs := filepath.Join(root, "persist/blobs")
	for _, d := range []string{vols, blobs + "/sha256", blobs + "/ingest"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fx := &fixture{root: root, refs: map[string]string{}, want: map[string]string{}, overlays: overlays}
	long := time.Now().Add(-3 * time.Hour)
	put := func(name string, data []byte) string {
		s := sha256.Sum256(data)
		h := hex.EncodeToString(s[:])
		if err := os.WriteFile(filepath.Join(blobs, "sha256", h), data, 0o644); err != nil {
			t.Fatal(err)
		}
		return h
	}
	// The qcow2 content, and the truncated volume made from it.
	qsrc := filepath.Join(work, "content.qcow2")
	testenv.Qcow2(t, qsrc)
	qdata, _ := os.ReadFile(qsrc)
	files["disk.qcow2"] = qdata
	qhex := put("disk.qcow2", qdata)
	trunc := filepath.Join(vols, fxTruncated+"#1.qcow2")
	runIn(t, work, qimg, "convert", "-q", "-f", "qcow2", "-O", "qcow2", qsrc, trunc)
	os.Truncate(trunc, 64)
	fx.refs[trunc] = qsrc
	fx.want["mend:volume/"+fxTruncated+"#1"] = "mend"
	// Corrupted refcounts (qemu-img check finds corruptions; -r all could
	// lose data): re-created from the same content.
	corrupt := filepath.Join(vols, fxCorrupt+"#1.qcow2")
	runIn(t, work, qimg, "convert", "-q", "-f", "qcow2", "-O", "qcow2", qsrc, corrupt)
	testenv.DamageQcow2Refcounts(t, corrupt)
	fx.refs[corrupt] = qsrc
	fx.want["mend:volume/"+fxCorrupt+"#1"] = "mend"
	// Leaked clusters (refcount damage qemu-img check -r leaks repairs).
	leaky := filepath.Join(vols, fxLeaky+"#1.qcow2")
	testenv.Qcow2(t, leaky)
	runIn(t, work, "cp", leaky, filepath.Join(work, "leaky.ref"))
	fx.refs[leaky] = filepath.Join(work, "leaky.ref")
	testenv.LeakQcow2Cluster(t, leaky)
	fx.want["mend:volume/"+fxLeaky+"#1"] = "mend"
	bp := &materials.Blueprint{Complete: true,
		Datastores: []materials.Datastore{{ID: fxDS, Type: materials.DatastoreHTTP, FQDN: srv.URL}},
		Volumes: []materials.Volume{
			{ID: fxTruncated, Generation: 1, Origin: materials.OriginDownload, ContentTree: fxTreeQcow, Format: materials.FormatQcow2, MaxSizeBytes: 1 << 20, RefCount: 1},
			{ID: fxCorrupt, Generation: 1, Origin: materials.OriginDownload, ContentTree: fxTreeQcow, Format: materials.FormatQcow2, MaxSizeBytes: 1 << 20, RefCount: 1},
			{ID: fxLeaky, Generation: 1, Origin: materials.OriginBlank, Format: materials.FormatQcow2, MaxSizeBytes: 1 << 20, RefCount: 1},
		},
		ContentTrees: []materials.ContentTree{{ID: fxTreeQcow, URL: "disk.qcow2", Format: materials.FormatQcow2, SHA256: qhex, Datastores: []string{fxDS}}},
	}
	if overlays {
		// An overlay whose backing blob is gone: its guest reads the blob
		// and its own writes.
		base := bytes.Repeat([]byte{1}, 1<<20)
		files["base.raw"] = base
		bhex := put("base.raw", base)
		ov := filepath.Join(vols, fxOverlay+"#1.qcow2")
		runIn(t, vols, qimg, "create", "-q", "-f", "qcow2", "-b", "../../blobs/sha256/"+bhex, "-F", "raw", filepath.Base(ov), "2M")
		runIn(t, vols, qio, "-c", "write -P 3 512k 64k", filepath.Base(ov))
		runIn(t, vols, qimg, "convert", "-q", "-O", "raw", filepath.Base(ov), filepath.Join(work, "overlay.ref"))
		os.Remove(filepath.Join(blobs, "sha256", bhex))
		fx.refs[ov] = filepath.Join(work, "overlay.ref")
		fx.want["mend:volume/"+fxOverlay+"#1"] = "mend"
		// A two-deep chain: the volume on its snapshot's file on a blob.
		base2 := bytes.Repeat([]byte{2}, 1<<20)
		files["base2.raw"] = base2
		b2hex := put("base2.raw", base2)
		// The middle link: another file of the same volume (an older
		// generation, as the inspector accepts one).
		mid := fxChain + "#0.qcow2"
		top := filepath.Join(vols, fxChain+"#1.qcow2")
		runIn(t, vols, qimg, "create", "-q", "-f", "qcow2", "-b", "../../blobs/sha256/"+b2hex, "-F", "raw", mid, "2M")
		runIn(t, vols, qio, "-c", "write -P 4 0 64k", mid)
		runIn(t, vols, qimg, "create", "-q", "-f", "qcow2", "-b", mid, "-F", "qcow2", filepath.Base(top))
		runIn(t, vols, qio, "-c", "write -P 5 1M 64k", filepath.Base(top))
		runIn(t, vols, qimg, "convert", "-q", "-O", "raw", filepath.Base(top), filepath.Join(work, "chain.ref"))
		fx.refs[top] = filepath.Join(work, "chain.ref")
		fx.want["merge:volume/"+fxChain+"#1"] = "merge"
		// An overlay the last applied config wants under performance.
		flat := filepath.Join(vols, fxFlat+"#1.qcow2")
		runIn(t, vols, qimg, "create", "-q", "-f", "qcow2", "-b", "../../blobs/sha256/"+b2hex, "-F", "raw", filepath.Base(flat), "2M")
		runIn(t, vols, qio, "-c", "write -P 6 64k 64k", filepath.Base(flat))
		runIn(t, vols, qimg, "convert", "-q", "-O", "raw", filepath.Base(flat), filepath.Join(work, "flat.ref"))
		fx.refs[flat] = filepath.Join(work, "flat.ref")
		fx.want["optimize:volume/"+fxFlat+"#1"] = "optimize"
		bp.Additions = append(bp.Additions, materials.Addition{Kind: materials.AdditionStrategy,
			Target: materials.MaterialRef{Kind: materials.KindVolume, ID: fxFlat}, Strategy: materials.StrategyPerformance})
		bp.Volumes = append(bp.Volumes,
			materials.Volume{ID: fxFlat, Generation: 1, Origin: materials.OriginDownload, ContentTree: fxTreeBase2, Format: materials.FormatQcow2, MaxSizeBytes: 2 << 20, RefCount: 1},
			materials.Volume{ID: fxOverlay, Generation: 1, Origin: materials.OriginDownload, ContentTree: fxTreeBase, Format: materials.FormatQcow2, MaxSizeBytes: 2 << 20, RefCount: 1},
			materials.Volume{ID: fxChain, Generation: 1, Origin: materials.OriginDownload, ContentTree: fxTreeBase2, Format: materials.FormatQcow2, MaxSizeBytes: 2 << 20, RefCount: 1})
		bp.ContentTrees = append(bp.ContentTrees,
			materials.ContentTree{ID: fxTreeBase, URL: "base.raw", Format: materials.FormatRaw, SHA256: bhex, Datastores: []string{fxDS}},
			materials.ContentTree{ID: fxTreeBase2, URL: "base2.raw", Format: materials.FormatRaw, SHA256: b2hex, Datastores: []string{fxDS}})
	}
	// Stale .tmp work, a leaked ingest, an orphan blob past its grace
	// period, and someone's notes (listed, never deleted).
	tmp := filepath.Join(vols, fxTmp+"#2.raw.tmp")
	os.WriteFile(tmp, make([]byte, 8192), 0o644)
	os.Chtimes(tmp, long, long)
	fx.want["clean:file/persist/vault/volumes/"+fxTmp+"#2.raw.tmp"] = "clean"
	ingestHex := strings.Repeat("d", 64)
	ing := filepath.Join(blobs, "ingest", ingestHex)
	os.WriteFile(ing, make([]byte, 3000), 0o644)
	os.Chtimes(ing, long, long)
	fx.want["clean:file/persist/blobs/ingest/"+ingestHex] = "clean"
	ohex := put("orphan", []byte("a blob nothing needs any more"))
	fx.want["clean:blob/sha256:"+ohex] = "clean"
	os.WriteFile(filepath.Join(vols, "README.txt"), []byte("someone's notes\n"), 0o644)
	fx.want["clean:file/persist/vault/volumes/README.txt"] = "clean"

	mkJournal(t, root, func(j *journal.Journal) {
		if err := j.Checkpoint(bp, long); err != nil {
			t.Fatal(err)
		}
		if err := j.UpdateUnreferenced([]materials.Unreferenced{
			{Target: materials.MaterialRef{Kind: materials.KindBlob, ID: "sha256:" + ohex}, Since: long}}, nil); err != nil {
			t.Fatal(err)
		}
	})
	return fx
}

// contentServer serves files by name (filled by damagedRoot).
func contentServer(t *testing.T) (*httptest.Server, map[string][]byte) {
	files := map[string][]byte{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "x", timeZero, bytes.NewReader(b))
	}))
	t.Cleanup(srv.Close)
	return srv, files
}

// verify wants the check to list only the unknown file, each volume's
// guest bytes those of its reference, and no work left under the root.
func (fx *fixture) verify(t *testing.T) {
	t.Helper()
	code, fixes, status, stderr := checkJSON(t, fx.root)
	var ids []string
	for _, f := range fixes {
		ids = append(ids, f["id"].(string))
	}
	if diff := cmp.Diff([]string{"clean:file/persist/vault/volumes/README.txt"}, ids); diff != "" || code != exitFixes {
		t.Errorf("check after the fixes: exit %d, fixes (-want +got):\n%s\nstderr: %s", code, diff, stderr)
	}
	for id, s := range status {
		if s != "optimized" {
			t.Errorf("volume %s is %s after the fixes", id, s)
		}
	}
	for vol, ref := range fx.refs {
		cmd := exec.Command("qemu-img", "compare", vol, ref)
		cmd.Dir = filepath.Dir(vol)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: guest bytes differ from %s: %v\n%s", filepath.Base(vol), ref, err, out)
		}
		if out, err := exec.Command("qemu-img", "check", vol).CombinedOutput(); err != nil {
			t.Errorf("%s: qemu-img check: %v\n%s", filepath.Base(vol), err, out)
		}
	}
	left, _ := filepath.Glob(filepath.Join(fx.root, "persist/vault/volumes/*.tmp"))
	ing, _ := filepath.Glob(filepath.Join(fx.root, "persist/blobs/ingest/*"))
	if len(left)+len(ing) > 0 {
		t.Errorf("work left: %v %v", left, ing)
	}
	if _, err := os.Stat(filepath.Join(fx.root, "persist/vault/volumes/README.txt")); err != nil {
		t.Errorf("the unknown file was touched: %v", err)
	}
}

// TestFixDamagedRoot: check lists one fix of the right type for each
// damage, fix --all cures them (the unknown file is listed, not run),
// and a second check lists only the unknown file.
func TestFixDamagedRoot(t *testing.T) {
	qimg := testenv.QemuImg(t)
	overlays := mustFollowBacking(t, qimg)
	srv, files := contentServer(t)
	fx := damagedRoot(t, srv, files, overlays)
	code, fixes, _, stderr := checkJSON(t, fx.root)
	got := map[string]string{}
	for _, f := range fixes {
		got[f["id"].(string)] = f["type"].(string)
	}
	if diff := cmp.Diff(fx.want, got); diff != "" || code != exitFixes {
		t.Fatalf("check: exit %d, fixes (-want +got):\n%s\n%v\nstderr: %s", code, diff, fixes, stderr)
	}
	// A fix the check does not list is an error naming it.
	var out, errb bytes.Buffer
	if code := run([]string{"fix", "--root", fx.root, "clean:file/nope"}, &out, &errb); code != exitFailed || !strings.Contains(errb.String(), "clean:file/nope") {
		t.Errorf("unknown fix: exit %d\n%s%s", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	code = run([]string{"fix", "--root", fx.root, "--all"}, &out, &errb)
	t.Logf("wright fix --all:\n%s%s", out.String(), errb.String())
	if code != exitOK {
		t.Fatalf("fix --all: exit %d", code)
	}
	for _, want := range []string{"not run  clean:file/persist/vault/volumes/README.txt: reported only",
		"fix mend:volume/" + fxTruncated + "#1: stage 1/1 recreate 100%", "fix mend:volume/" + fxLeaky + "#1: stage 1/1 repair-leaks done"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("fix output lacks %q", want)
		}
	}
	fx.verify(t)
	if overlays {
		// Flattened: no backing file; merged: one link, the blob.
		for vol, want := range map[string]string{fxFlat: "", fxChain: "../../blobs/sha256/"} {
			out, err := exec.Command("qemu-img", "info", "--output=json", filepath.Join(fx.root, "persist/vault/volumes", vol+"#1.qcow2")).Output()
			var info struct {
				Backing string `json:"backing-filename"`
			}
			if err != nil || json.Unmarshal(out, &info) != nil || !strings.HasPrefix(info.Backing, want) || (want == "") != (info.Backing == "") {
				t.Errorf("%s: backing file %q (%v), want %q…", vol, info.Backing, err, want)
			}
		}
	}
}

// TestFixKills SIGKILLs `wright fix --all` right after each of its
// journal writes in turn (EDGEWRIGHT_CRASH_AT: after an intent, before
// its work; after a completion, while other fixes run), runs it again,
// and wants the same end as an uninterrupted run.
func TestFixKills(t *testing.T) {
	qimg := testenv.QemuImg(t)
	overlays := mustFollowBacking(t, qimg)
	bin := buildWright(t)
	srv, files := contentServer(t)
	for n := 1; ; n++ {
		if n > 40 {
			t.Fatal("fix --all still killed after 40 journal writes")
		}
		fx := damagedRoot(t, srv, files, overlays)
		cmd := exec.Command(bin, "fix", "--root", fx.root, "--all")
		cmd.Env = append(os.Environ(), "EDGEWRIGHT_CRASH_AT="+strconv.Itoa(n))
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		killed := errors.As(err, &ee) && !ee.Exited() && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
		if !killed {
			if err != nil {
				t.Fatalf("crash at %d: %v\n%s", n, err, out)
			}
			t.Logf("fix --all writes %d journal entries; killed after each of the first %d", n-1, n-1)
			return
		}
		again := exec.Command(bin, "fix", "--root", fx.root, "--all")
		if out2, err := again.CombinedOutput(); err != nil {
			t.Fatalf("after a kill at journal write %d, fix --all again: %v\n%s\nfirst run:\n%s", n, err, out2, out)
		}
		t.Run("kill at "+strconv.Itoa(n), fx.verify)
	}
}

// TestFixKillsMidWork SIGKILLs `wright fix --all` (its process group, so
// qemu-img dies with it) as soon as a fix's work file (<volume>.tmp)
// appears, for each fix that writes one, runs it again, and wants the
// same end as an uninterrupted run. A fix faster than the 1 ms poll may
// finish before the kill; the log says how many kills landed mid-work.
func TestFixKillsMidWork(t *testing.T) {
	qimg := testenv.QemuImg(t)
	overlays := mustFollowBacking(t, qimg)
	bin := buildWright(t)
	srv, files := contentServer(t)
	ids := []string{fxTruncated, fxLeaky}
	if overlays {
		ids = append(ids, fxChain, fxFlat)
	}
	landed := 0
	for _, id := range ids {
		fx := damagedRoot(t, srv, files, overlays)
		cmd := exec.Command(bin, "fix", "--root", fx.root, "--all")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		quit := make(chan struct{})
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var err error
		select {
		case <-whenCreating(fx.root, id, 0, quit):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			err = <-done
		case err = <-done:
		}
		close(quit)
		var ee *exec.ExitError
		if errors.As(err, &ee) && !ee.Exited() {
			landed++
		} else if err != nil {
			t.Fatalf("%s: fix --all: %v\n%s", id, err, out.String())
		}
		if out2, err := exec.Command(bin, "fix", "--root", fx.root, "--all").CombinedOutput(); err != nil {
			t.Fatalf("%s: fix --all again after the kill: %v\n%s\nfirst run:\n%s", id, err, out2, out.String())
		}
		t.Run("killed while "+id+".tmp was written", fx.verify)
	}
	t.Logf("%d of %d kills landed while a fix's work file was there", landed, len(ids))
}

// TestFixRecreateSpace: under --strategy space a damaged volume from raw
// content is made again as a qcow2 overlay on its blob, as its create
// made it, and reads the content's bytes.
func TestFixRecreateSpace(t *testing.T) {
	qimg := testenv.QemuImg(t)
	root := t.TempDir()
	vols, blobs := filepath.Join(root, "persist/vault/volumes"), filepath.Join(root, "persist/blobs/sha256")
	for _, d := range []string{vols, blobs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	content := bytes.Repeat([]byte("content "), 128<<10)
	h := fileHexOf(content)
	if err := os.WriteFile(filepath.Join(blobs, h), content, 0o644); err != nil {
		t.Fatal(err)
	}
	vol := filepath.Join(vols, fxTruncated+"#1.qcow2")
	runIn(t, vols, qimg, "create", "-q", "-f", "qcow2", "-b", "../../blobs/sha256/"+h, "-F", "raw", filepath.Base(vol))
	os.Truncate(vol, 64)
	mkJournal(t, root, func(j *journal.Journal) {
		if err := j.Checkpoint(&materials.Blueprint{Complete: true,
			Volumes: []materials.Volume{{ID: fxTruncated, Generation: 1, Origin: materials.OriginDownload, ContentTree: fxTreeBase,
				Format: materials.FormatQcow2, MaxSizeBytes: 1 << 20, RefCount: 1}},
			ContentTrees: []materials.ContentTree{{ID: fxTreeBase, URL: "base.raw", Format: materials.FormatRaw, SHA256: h}},
		}, time.Now()); err != nil {
			t.Fatal(err)
		}
	})
	var out, errb bytes.Buffer
	if code := run([]string{"fix", "--root", root, "--all", "--strategy", "space"}, &out, &errb); code != exitOK {
		t.Fatalf("fix: exit %d\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "recreate done (space: qcow2 overlay on blob sha256:"+h+")") {
		t.Errorf("fix output:\n%s", out.String())
	}
	info, err := exec.Command(qimg, "info", "--output=json", vol).Output()
	var i struct {
		Backing string `json:"backing-filename"`
	}
	if err != nil || json.Unmarshal(info, &i) != nil || i.Backing != "../../blobs/sha256/"+h {
		t.Errorf("re-created volume's backing file %q (%v), want the blob", i.Backing, err)
	}
	src := filepath.Join(t.TempDir(), "content.raw")
	os.WriteFile(src, content, 0o600)
	cmd := exec.Command(qimg, "compare", "-F", "raw", vol, src)
	cmd.Dir = vols
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("guest bytes: %v\n%s", err, out)
	}
}

func fileHexOf(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
