package sim_test

import (
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
	"github.com/edgewright/edgewright/assembler/crafts/rootdir"
	"github.com/edgewright/edgewright/assembler/crafts/snapshot"
	"github.com/edgewright/edgewright/assembler/sim"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/device/devicetest"
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
func simRig(t *testing.T) *devicetest.Rig {
	w := sim.NewWorld()
	dev := sim.New(w, sim.Options{})
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
func TestConformance(t *testing.T) {
	var shapes [2][]devicetest.Shape
	for i, rig := range []struct {
		name string
		new  func(*testing.T) *devicetest.Rig
	}{{"real", realRig}, {"sim", simRig}} {
		t.Run(rig.name, func(t *testing.T) { shapes[i] = devicetest.Run(t, rig.new) })
	}
	if t.Failed() {
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
