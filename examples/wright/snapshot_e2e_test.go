package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/journal"
)

const (
	e2eApp  = "3599588a-17d3-4d02-aae1-bcefe3706c51"
	e2eSnap = "5a0e0000-0000-4000-8000-0000000000e1"
	e2eQcow = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f51"
	e2eCtr  = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f52"
	e2eTree = "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e51"
	e2eDs   = "5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d51"
	e2eMax  = 64 << 20
)

// snapConfig is the controller's config at one step: generation gen of
// both volumes (a bump is the app's update: a purge of each), the app at
// version, its rollback counter, and whether it lists the app-update
// snapshot (active) at all.
func snapConfig(host string, gen, version int, counter uint32, listed bool) string {
	snap := `"snapshot": {"maxSnapshots": 1}`
	if listed {
		snap = fmt.Sprintf(`"snapshot": {"activeSnapshot": %q, "maxSnapshots": 1, "rollbackCmd": {"counter": %d},
     "snapshots": [{"id": %q, "type": "SNAPSHOT_TYPE_APP_UPDATE"}]}`, e2eSnap, counter, e2eSnap)
	}
	return fmt.Sprintf(`{
  "datastores": [{"id": %q, "dType": "DsContainerRegistry", "fqdn": "docker://%s"}],
  "contentInfo": [{"uuid": %q, "dsId": %q, "URL": "app:1", "iformat": "CONTAINER", "displayName": "app"}],
  "volumes": [
    {"uuid": %q, "origin": {"type": "VCOT_BLANK"}, "generationCount": "%d", "maxsizebytes": "%d", "displayName": "disk"},
    {"uuid": %q, "origin": {"type": "VCOT_DOWNLOAD", "downloadContentTreeID": %q}, "generationCount": "%d", "displayName": "app"}],
  "apps": [{"uuidandversion": {"uuid": %q, "version": "%d"}, "displayname": "vm",
    "volumeRefList": [{"uuid": %q, "generationCount": "%d"}, {"uuid": %q, "generationCount": "%d"}],
    %s}]
}`, e2eDs, host, e2eTree, e2eDs, e2eQcow, gen, e2eMax, e2eCtr, e2eTree, gen, e2eApp, version, e2eQcow, gen, e2eCtr, gen, snap)
}

// snapRig is one test's binary, registry and helpers.
type snapRig struct {
	t              *testing.T
	bin, qemu, qio string
	host           string
	env            []string
	work           string
}

func newSnapRig(t *testing.T) *snapRig {
	qemu := testenv.QemuImg(t)
	qio := testenv.LookPath(t, "qemu-io")
	r := &snapRig{t: t, bin: buildWright(t), qemu: qemu, qio: qio, work: t.TempDir()}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "EDGEWRIGHT_CRASH_AT=") {
			r.env = append(r.env, e)
		}
	}
	// The container image: a layer with a few files, a directory and a
	// symlink, pushed to a registry on loopback.
	var lb bytes.Buffer
	tw := tar.NewWriter(&lb)
	tw.WriteHeader(&tar.Header{Name: "etc/", Mode: 0o755, Typeflag: tar.TypeDir})
	tw.WriteHeader(&tar.Header{Name: "data/", Mode: 0o750, Typeflag: tar.TypeDir})
	for n, b := range map[string]string{"etc/app.conf": "mode=1\n", "data/seed": strings.Repeat("seed", 1000)} {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o640, Size: int64(len(b)), Typeflag: tar.TypeReg})
		tw.Write([]byte(b))
	}
	tw.WriteHeader(&tar.Header{Name: "etc/conf", Linkname: "app.conf", Typeflag: tar.TypeSymlink})
	tw.Close()
	img, err := mutate.AppendLayers(empty.Image, static.NewLayer(lb.Bytes(), types.OCIUncompressedLayer))
	if err != nil {
		t.Fatal(err)
	}
	img, _ = mutate.ConfigFile(img, &v1.ConfigFile{OS: "linux", Architecture: "amd64"})
	reg := pacedServer(t, registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	r.host = strings.TrimPrefix(reg.URL, "http://")
	ref, _ := name.ParseReference(r.host+"/app:1", name.Insecure)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *snapRig) config(gen, version int, counter uint32, listed bool) string {
	p := filepath.Join(r.work, fmt.Sprintf("config-%d-%d-%d-%v.json", gen, version, counter, listed))
	if err := os.WriteFile(p, []byte(snapConfig(r.host, gen, version, counter, listed)), 0o600); err != nil {
		r.t.Fatal(err)
	}
	return p
}

// wright runs the CLI; crashAt > 0 arms its SIGKILL after that journal
// write. It returns the exit code (-9 for the kill) and the output.
func (r *snapRig) wright(crashAt int, args ...string) (int, string) {
	r.t.Helper()
	cmd := exec.Command(r.bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Env = &out, &out, r.env
	if crashAt > 0 {
		cmd.Env = append(slices.Clone(r.env), fmt.Sprintf("EDGEWRIGHT_CRASH_AT=%d", crashAt))
	}
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &ee) && ee.Exited():
		return ee.ExitCode(), out.String()
	case errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL:
		return -9, out.String()
	}
	r.t.Fatalf("wright %v: %v\n%s", args, err, out.String())
	return 0, ""
}

func (r *snapRig) apply(root, cfg string) {
	r.t.Helper()
	if code, out := r.wright(0, "apply", "--config", cfg, "--root", root); !converged(code, out) {
		r.t.Fatalf("apply %s: exit %d\n%s", filepath.Base(cfg), code, out)
	}
	if code, out := r.wright(0, "plan", "--config", cfg, "--root", root); code != exitOK || !strings.Contains(out, "Plan: no changes") {
		r.t.Fatalf("plan after apply %s: exit %d\n%s", filepath.Base(cfg), code, out)
	}
}

// converged: exit 0, or exit 3 with only the holds a listed snapshot
// makes (the generation an update replaced is kept while it holds it).
func converged(code int, out string) bool {
	if code == exitOK {
		return true
	}
	if code != exitHeld {
		return false
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "held ") && strings.HasPrefix(strings.TrimSpace(l), "held ") && !strings.Contains(l, "it holds snapshot") {
			return false
		}
	}
	return true
}

func (r *snapRig) run(name string, args ...string) {
	r.t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		r.t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// vol is volume id's file of generation gen under root, "" when none.
func vol(root, id string, gen int) string {
	m, _ := filepath.Glob(filepath.Join(root, "persist/vault/volumes", fmt.Sprintf("%s#%d.*", id, gen)))
	for _, p := range m {
		if !strings.Contains(p, "@") && !strings.HasSuffix(p, ".tmp") {
			return p
		}
	}
	return ""
}

// sameQcow is qemu-img compare's verdict (exit 0 identical, 1 differ).
func (r *snapRig) sameQcow(a, b string) bool {
	r.t.Helper()
	out, err := exec.Command(r.qemu, "compare", "-q", "-f", "qcow2", "-F", "qcow2", a, b).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 1 {
		return false
	}
	if err != nil {
		r.t.Fatalf("qemu-img compare %s %s: %v\n%s", a, b, err, out)
	}
	return true
}

// tree renders a directory as sorted lines of path, type, mode and
// content digest or link target: equal lines, equal trees.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %s %o", rel, fi.Mode().Type(), fi.Mode().Perm())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s := sha256.Sum256(b)
			line += " " + hex.EncodeToString(s[:8])
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(lines)
	return lines
}

// qcowSnapshots lists the internal snapshot names of a qcow2.
func (r *snapRig) qcowSnapshots(p string) []string {
	r.t.Helper()
	out, err := exec.Command(r.qemu, "info", "--output=json", "-f", "qcow2", p).Output()
	if err != nil {
		r.t.Fatalf("qemu-img info %s: %v", p, err)
	}
	var info struct {
		Snapshots []struct {
			Name string `json:"name"`
		} `json:"snapshots"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		r.t.Fatal(err)
	}
	var names []string
	for _, s := range info.Snapshots {
		names = append(names, s.Name)
	}
	return names
}

// lineage is the journal's record of the snapshot, per volume key.
func lineage(t *testing.T, root string) map[string]string {
	t.Helper()
	j, err := journal.OpenRoot(root, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	list, err := j.Lineage()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range list {
		out[l.Volume.String()] = l.Snapshot + " version " + l.ConfigVersion + " " + string(l.Type)
	}
	return out
}

// snapState is what a step leaves for the checks: the bytes the snapshot
// must hold (a copy of the qcow2 and of the tree as they were just before
// the update).
type snapState struct {
	refQcow string
	refTree []string
}

// checkUpdated: after v2, generation 1 of each volume holds the snapshot
// (its bytes are the reference's), generation 2 exists, and the journal
// records the snapshot of both generation-1 volumes for config version 1.
func (r *snapRig) checkUpdated(root string, s snapState) {
	t := r.t
	t.Helper()
	q1, c1 := vol(root, e2eQcow, 1), vol(root, e2eCtr, 1)
	if q1 == "" || c1 == "" || vol(root, e2eQcow, 2) == "" || vol(root, e2eCtr, 2) == "" {
		t.Fatalf("volumes after the update: %q %q %q %q", q1, c1, vol(root, e2eQcow, 2), vol(root, e2eCtr, 2))
	}
	if got := r.qcowSnapshots(q1); !slices.Equal(got, []string{e2eSnap}) {
		t.Fatalf("qcow2 generation 1 snapshots %v, want [%s]", got, e2eSnap)
	}
	out := filepath.Join(t.TempDir(), "snap.qcow2")
	r.run(r.qemu, "convert", "-O", "qcow2", "-l", "snapshot.name="+e2eSnap, q1, out)
	if !r.sameQcow(s.refQcow, out) {
		t.Fatal("the qcow2 snapshot's bytes are not the volume's before the update")
	}
	sp := filepath.Join(filepath.Dir(c1), fmt.Sprintf("%s#1@%s.container", e2eCtr, e2eSnap))
	if got := tree(t, sp); !slices.Equal(got, s.refTree) {
		t.Fatalf("container snapshot tree:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(s.refTree, "\n"))
	}
	want := map[string]string{e2eQcow + "#1": e2eSnap + " version 1 app-update", e2eCtr + "#1": e2eSnap + " version 1 app-update"}
	if got := lineage(t, root); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("lineage %v, want %v", got, want)
	}
}

// checkRolledBack: generation 2 (the one the app uses) holds the
// snapshot's bytes. The qcow2's generation 1 file was moved (reverted in
// place, renamed over generation 2): generation 2 holds the snapshot now
// and generation 1 is gone; the container's generation 1 still holds its
// copy. The lineage moved with the qcow2's snapshot.
func (r *snapRig) checkRolledBack(root string, s snapState) {
	t := r.t
	t.Helper()
	if !r.sameQcow(s.refQcow, vol(root, e2eQcow, 2)) {
		t.Fatal("qcow2 generation 2 after the rollback differs from the snapshot")
	}
	if got := tree(t, vol(root, e2eCtr, 2)); !slices.Equal(got, s.refTree) {
		t.Fatalf("container generation 2 after the rollback:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(s.refTree, "\n"))
	}
	if got := r.qcowSnapshots(vol(root, e2eQcow, 2)); !slices.Equal(got, []string{e2eSnap}) {
		t.Fatalf("qcow2 generation 2 after the move holds snapshots %v, want [%s]", got, e2eSnap)
	}
	if p := vol(root, e2eQcow, 1); p != "" {
		t.Fatalf("qcow2 generation 1 left after the move: %s", p)
	}
	out := filepath.Join(t.TempDir(), "snap.qcow2")
	r.run(r.qemu, "convert", "-O", "qcow2", "-l", "snapshot.name="+e2eSnap, vol(root, e2eQcow, 2), out)
	if !r.sameQcow(s.refQcow, out) {
		t.Fatal("the moved snapshot's bytes are not the volume's before the update")
	}
	sp := filepath.Join(filepath.Dir(vol(root, e2eCtr, 1)), fmt.Sprintf("%s#1@%s.container", e2eCtr, e2eSnap))
	if got := tree(t, sp); !slices.Equal(got, s.refTree) {
		t.Fatalf("container snapshot tree after the rollback:\n%s", strings.Join(got, "\n"))
	}
	want := map[string]string{e2eQcow + "#2": e2eSnap + " version 1 app-update", e2eCtr + "#1": e2eSnap + " version 1 app-update"}
	if got := lineage(t, root); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("lineage after the rollback %v, want %v", got, want)
	}
}

// checkDeleted: the snapshot is gone with its records, and with it
// generation 1; generation 2 keeps the restored bytes.
func (r *snapRig) checkDeleted(root string, s snapState) {
	t := r.t
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(root, "persist/vault/volumes/*"))
	for _, p := range m {
		if strings.Contains(p, "#1") || strings.Contains(p, "@") || strings.HasSuffix(p, ".tmp") {
			t.Fatalf("left after the snapshot's delete: %s (all: %v)", p, m)
		}
	}
	if got := lineage(t, root); len(got) != 0 {
		t.Fatalf("lineage after the delete: %v", got)
	}
	r.checkRolledBack2(root, s)
}

func (r *snapRig) checkRolledBack2(root string, s snapState) {
	t := r.t
	t.Helper()
	if !r.sameQcow(s.refQcow, vol(root, e2eQcow, 2)) {
		t.Fatal("qcow2 generation 2 differs from the restored bytes")
	}
	if got := tree(t, vol(root, e2eCtr, 2)); !slices.Equal(got, s.refTree) {
		t.Fatalf("container generation 2:\n%s", strings.Join(got, "\n"))
	}
}

// noTemps fails on a temp left under the root's volumes.
func noTemps(t *testing.T, root string) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(root, "persist/vault/volumes/*.tmp"))
	if len(m) > 0 {
		t.Fatalf("temps left: %v", m)
	}
}

// prepare brings a fresh root to the state just before step: "update"
// (v1 applied, the app wrote 0xab into the qcow2 and a file into its
// directory), "rollback" (v2 applied, the app then wrote 0xcd and changed
// its directory), "delete" (v3's rollback applied).
func (r *snapRig) prepare(step string) (string, snapState) {
	t := r.t
	t.Helper()
	root := t.TempDir()
	r.apply(root, r.config(1, 1, 0, true))
	q1, c1 := vol(root, e2eQcow, 1), vol(root, e2eCtr, 1)
	r.run(r.qio, "-f", "qcow2", "-c", "write -P 0xab 0 1M", q1)
	if err := os.WriteFile(filepath.Join(c1, "data/state"), []byte("written by the app at v1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := snapState{refQcow: filepath.Join(t.TempDir(), "ref.qcow2"), refTree: tree(t, c1)}
	r.run("cp", "--sparse=always", q1, s.refQcow)
	if step == "update" {
		return root, s
	}
	r.apply(root, r.config(2, 2, 0, true))
	q2, c2 := vol(root, e2eQcow, 2), vol(root, e2eCtr, 2)
	r.run(r.qio, "-f", "qcow2", "-c", "write -P 0xcd 512K 1M", q2)
	os.WriteFile(filepath.Join(c2, "etc/app.conf"), []byte("mode=2\n"), 0o600)
	os.WriteFile(filepath.Join(c2, "data/new"), []byte("v2\n"), 0o600)
	if r.sameQcow(s.refQcow, q2) || slices.Equal(tree(t, c2), s.refTree) {
		t.Fatal("generation 2 already equals the snapshot: the test cannot tell a rollback")
	}
	if step == "rollback" {
		return root, s
	}
	r.apply(root, r.config(2, 3, 1, true))
	return root, s
}

// TestSnapshotRollbackAcrossGenerations runs issue 15's acceptance through
// the real `wright apply` on real qemu-img volumes and a container volume
// unpacked from a registry on loopback: config v1 lists an app-update
// snapshot; the app writes 0xab into its qcow2 (qemu-io) and a file into
// its directory; v2 updates the app (generationCount 1 → 2: a purge of
// each volume), which first takes the snapshot of generation 1 and keeps
// generation 1 while it holds it; the app writes again; v3 raises
// rollback_cmd.counter and the snapshot's bytes are restored from
// generation 1 into generation 2 (qemu-img compare, a tree compare): the
// qcow2 by moving generation 1's file over generation 2, the container by
// a copy; v4 drops the snapshot: it is deleted with its lineage, then
// generation 1.
func TestSnapshotRollbackAcrossGenerations(t *testing.T) {
	r := newSnapRig(t)
	root, s := r.prepare("update")
	r.apply(root, r.config(2, 2, 0, true))
	r.checkUpdated(root, s)
	var st bytes.Buffer
	if code := run([]string{"snapshots", "--root", root}, &st, io.Discard); code != 0 || !strings.Contains(st.String(), "app-update") {
		t.Fatalf("wright snapshots (exit %d):\n%s", code, st.String())
	}
	t.Logf("wright snapshots after the update:\n%s", st.String())

	q2, c2 := vol(root, e2eQcow, 2), vol(root, e2eCtr, 2)
	r.run(r.qio, "-f", "qcow2", "-c", "write -P 0xcd 512K 1M", q2)
	os.WriteFile(filepath.Join(c2, "data/new"), []byte("v2\n"), 0o600)
	r.apply(root, r.config(2, 3, 1, true))
	r.checkRolledBack(root, s)
	noTemps(t, root)

	r.apply(root, r.config(2, 3, 1, false))
	r.checkDeleted(root, s)
	noTemps(t, root)
}

// TestSnapshotKills SIGKILLs `wright apply` right after each journal write
// (EDGEWRIGHT_CRASH_AT=N, N = 1, 2, ... until an apply finishes unkilled)
// of the three steps: the update that takes the snapshot (snapshot
// remodel, then the new generations), the rollback across generations
// (the qcow2's move: its lineage written on generation 2 after the revert
// in place and before the rename, and dropped from generation 1 after it,
// are journal writes of their own, so a kill lands between each step),
// and the delete-snapshot (then generation 1's delete). After each kill an
// apply without a kill must converge (exit 0, then `wright plan` has no
// changes) with the content the config says, and no temp left.
func TestSnapshotKills(t *testing.T) {
	if testing.Short() {
		t.Skip("runs about a hundred applies")
	}
	r := newSnapRig(t)
	steps := []struct {
		name  string
		cfg   func() string
		check func(root string, s snapState)
	}{
		{"update", func() string { return r.config(2, 2, 0, true) }, r.checkUpdated},
		{"rollback", func() string { return r.config(2, 3, 1, true) }, r.checkRolledBack},
		{"delete", func() string { return r.config(2, 3, 1, false) }, r.checkDeleted},
	}
	total := 0
	var fig []string
	for _, st := range steps {
		tmpl, s := r.prepare(st.name)
		cfg := st.cfg()
		kills := 0
		for n := 1; ; n++ {
			if n > 200 {
				t.Fatalf("%s: still killed at journal write %d", st.name, n)
			}
			root := filepath.Join(t.TempDir(), "root")
			r.run("cp", "-a", "--sparse=always", tmpl, root)
			code, out := r.wright(n, "apply", "--config", cfg, "--root", root)
			if code != -9 {
				if !converged(code, out) {
					t.Fatalf("%s: apply with EDGEWRIGHT_CRASH_AT=%d: exit %d\n%s", st.name, n, code, out)
				}
				st.check(root, s)
				break // the apply has fewer journal writes than n
			}
			kills++
			r.apply(root, cfg)
			st.check(root, s)
			noTemps(t, root)
			if t.Failed() {
				t.Fatalf("%s: kill after journal write %d", st.name, n)
			}
		}
		total += kills
		fig = append(fig, fmt.Sprintf("%s %d", st.name, kills))
	}
	t.Logf("kills after a journal write, each converged by the next apply: %d (%s)", total, strings.Join(fig, ", "))
}
