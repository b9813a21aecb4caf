package sim_test

import (
	"context"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	"go.uber.org/zap"

	"github.com/edgewright/edgewright/assembler"
	"github.com/edgewright/edgewright/assembler/crafts"
	"github.com/edgewright/edgewright/assembler/crafts/rootdir"
	"github.com/edgewright/edgewright/assembler/crafts/snapshot"
	"github.com/edgewright/edgewright/assembler/ctrstore"
	"github.com/edgewright/edgewright/assembler/sim"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/device/devicetest"
	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials"
)

// realRig is a root directory with the standard crafts, its content on a
// loopback HTTP server.
func realRig(t *testing.T) *devicetest.Rig {
	root, served := t.TempDir(), t.TempDir()
	srv := httptest.NewServer(http.FileServer(http.Dir(served)))
	t.Cleanup(srv.Close)
	return &devicetest.Rig{
		Options:   assembler.Options{Root: root, Survey: assembler.InspectorSurvey(root, nil, zap.NewNop())},
		Datastore: materials.Datastore{ID: "http", Type: materials.DatastoreHTTP, FQDN: srv.URL},
		Publish: func(t *testing.T, url string, content []byte) {
			if err := os.WriteFile(filepath.Join(served, url), content, 0o644); err != nil {
				t.Fatal(err)
			}
		},
	}
}

// simRig is an in-memory device in a world of its own.
func simRig(t *testing.T) *devicetest.Rig { return simRigWith(t, sim.Options{}) }

// simRigWith is simRig for a device shaped by opts.
func simRigWith(t *testing.T, opts sim.Options) *devicetest.Rig {
	w := sim.NewWorld()
	dev := sim.New(w, opts)
	ds := materials.Datastore{ID: "http", Type: materials.DatastoreHTTP, FQDN: "http.example"}
	return &devicetest.Rig{
		Options:   dev.Options(),
		Datastore: ds,
		Publish: func(t *testing.T, url string, content []byte) {
			o := sim.Object{Digest: digest.FromBytes(content), Size: int64(len(content))}
			if len(content) >= 32 && binary.BigEndian.Uint32(content) == 0x514649FB {
				o.VirtualSize = int64(binary.BigEndian.Uint64(content[24:]))
			}
			w.Put(o)
			w.Serve(ds, url, o.Digest)
		},
	}
}

// TestConformance runs the device suite on the real device and the
// in-memory one, and checks they end every step alike.
func TestConformance(t *testing.T) { conform(t, devicetest.Run, realRig, simRig) }

// conform runs suite on the real rig and the in-memory one and checks
// they end every step alike (when the real one ran: it may skip).
func conform(t *testing.T, suite func(*testing.T, func(*testing.T) *devicetest.Rig) []devicetest.Shape, real, mem func(*testing.T) *devicetest.Rig) {
	var shapes [2][]devicetest.Shape
	for i, rig := range []struct {
		name string
		new  func(*testing.T) *devicetest.Rig
	}{{"real", real}, {"sim", mem}} {
		t.Run(rig.name, func(t *testing.T) { shapes[i] = suite(t, rig.new) })
	}
	if t.Failed() || shapes[0] == nil {
		return
	}
	if d := cmp.Diff(shapes[0], shapes[1]); d != "" {
		t.Errorf("the in-memory device drifted from the real one (-real +sim):\n%s", d)
	}
}

// TestSnapshotConformance runs the snapshot suite (a rollback across
// generations that moves the old qcow2, one in place, the delete) on the
// real device with the snapshot craft and on the in-memory one, and
// checks they end every step alike.
func TestSnapshotConformance(t *testing.T) {
	var shapes [2][]devicetest.Shape
	for i, rig := range []struct {
		name string
		new  func(*testing.T) *devicetest.Rig
	}{{"real", func(t *testing.T) *devicetest.Rig {
		r := realRig(t)
		r.Options.Crafts.Snapshots = &snapshot.Snapshotter{Log: zap.NewNop()}
		return r
	}}, {"sim", simRig}} {
		t.Run(rig.name, func(t *testing.T) { shapes[i] = devicetest.Snapshots(t, rig.new) })
	}
	if t.Failed() {
		return
	}
	if d := cmp.Diff(shapes[0], shapes[1]); d != "" {
		t.Errorf("the in-memory device drifted from the real one (-real +sim):\n%s", d)
	}
}

// TestJournalConformance runs the journal suite on bbolt under a root and
// on the in-memory journal.
func TestJournalConformance(t *testing.T) {
	t.Run("real", func(t *testing.T) {
		devicetest.Journal(t, func(t *testing.T) device.JournalOpener { return rootdir.New(t.TempDir()) })
	})
	t.Run("sim", func(t *testing.T) {
		devicetest.Journal(t, func(t *testing.T) device.JournalOpener { return sim.New(sim.NewWorld(), sim.Options{}) })
	})
}

// simContentDir is where the in-memory device's containerd keeps its
// blobs' files.
const simContentDir = "/var/lib/containerd/io.containerd.content.v1.content"

// realCtrRig is a root directory whose downloads go to a confined
// containerd (skipped where containerd cannot run, failing under
// CI=true), its content directory known, content on a loopback server.
func realCtrRig(t *testing.T) *devicetest.Rig {
	rig := realRig(t)
	ctrd := testenv.StartContainerd(t)
	// The standard crafts as wright apply --containerd --containerd-content wires them.
	set, err := crafts.Open(context.Background(), rig.Options.Root, crafts.Options{Logger: zap.NewNop(),
		Containerd: &ctrstore.Options{Socket: ctrd.Address, Namespace: "devicetest"}, ContainerdContentDir: ctrd.ContentDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	rig.Options.Crafts = set.Crafts
	rig.Options.Containerd = set.Containerd
	rig.Options.ContainerdContentDir = ctrd.ContentDir()
	rig.Options.Survey = nil // the default survey, of the root and this containerd
	return rig
}

// simCtrRig is an in-memory device with containerd's store, its content
// directory known.
func simCtrRig(t *testing.T) *devicetest.Rig {
	return simRigWith(t, sim.Options{ContainerdContentDir: simContentDir})
}

// TestContainerdSpaceConformance runs the space-under-containerd story on
// the real device with a real containerd and on the in-memory one, and
// checks they end every step alike.
func TestContainerdSpaceConformance(t *testing.T) {
	conform(t, devicetest.ContainerdSpace, realCtrRig, simCtrRig)
}
