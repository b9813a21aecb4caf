package reporter

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/materials/eve"
)

func TestAppSnapshots(t *testing.T) {
	const (
		app  = "3599588a-17d3-4d02-aae1-bcefe3706cf1"
		app2 = "3599588a-17d3-4d02-aae1-bcefe3706cf2"
		vq   = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f10" // qcow2
		vr   = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f11" // raw
		sA   = "5a0e0000-0000-4000-8000-00000000000a"
		sB   = "5a0e0000-0000-4000-8000-00000000000b"
		sC   = "5a0e0000-0000-4000-8000-00000000000c"
	)
	t1 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	refs := []materials.VolumeRef{{Volume: vq, Generation: 1}, {Volume: vr, Generation: 1}}
	bp := func(snaps ...materials.Snapshot) *materials.Blueprint {
		for i := range snaps {
			snaps[i].App, snaps[i].Volumes = app, refs
		}
		return &materials.Blueprint{Complete: true,
			Apps: []materials.App{
				{ID: app, Version: "3", DisplayName: "ubuntu", VolumeRefs: refs},
				{ID: app2, Version: "1", VolumeRefs: []materials.VolumeRef{{Volume: vr, Generation: 1}}},
			},
			Snapshots: snaps}
	}
	snap := func(id string, typ materials.SnapshotType) materials.Snapshot {
		return materials.Snapshot{ID: id, Type: typ}
	}
	in := func(name string, at time.Time) materials.SnapshotInfo {
		return materials.SnapshotInfo{Name: name, Created: at, State: materials.StateComplete}
	}
	copyOf := func(name string, at time.Time, st materials.State, why string) materials.SnapshotInfo {
		return materials.SnapshotInfo{Name: name, Path: "persist/vault/volumes/" + vr + "#1@" + name + ".raw", Created: at, State: st, Reason: why}
	}
	fp := func(q, r []materials.SnapshotInfo) *materials.Floorplan {
		return &materials.Floorplan{Volumes: []materials.VolumeFile{
			{ID: vq, Generation: 1, Format: materials.FormatQcow2, State: materials.StateComplete, Snapshots: q},
			{ID: vr, Generation: 1, Format: materials.FormatRaw, State: materials.StateComplete, Snapshots: r},
		}}
	}
	render := func(apps []*eve.ZInfoApp) []string {
		out := []string{}
		for _, a := range apps {
			for _, s := range a.Snapshots {
				line := a.AppID[len(a.AppID)-3:] + " " + s.Id[len(s.Id)-1:] + " " + s.Type.String()
				if s.CreateTime != nil {
					line += " " + s.CreateTime.AsTime().Format("15:04")
				}
				if s.SnapErr != nil {
					line += " err=" + s.SnapErr.Description
				}
				out = append(out, line)
			}
		}
		return out
	}
	tests := []struct {
		name     string
		in       Inputs
		want     []string
		noBPApps bool
	}{
		{name: "no blueprint", in: Inputs{Floorplan: fp(nil, nil)}, want: []string{}},
		{name: "asked, not taken yet: nothing", in: Inputs{Blueprint: bp(snap(sA, materials.SnapshotImmediate)), Floorplan: fp(nil, nil)}, want: []string{}},
		{name: "on every volume: reported, at the later time", in: Inputs{
			Blueprint: bp(snap(sA, materials.SnapshotAppUpdate)),
			Floorplan: fp([]materials.SnapshotInfo{in(sA, t1)}, []materials.SnapshotInfo{copyOf(sA, t2, materials.StateComplete, "")})},
			want: []string{"cf1 a SNAPSHOT_TYPE_APP_UPDATE 11:00"}},
		{name: "on one of two volumes: being taken, not reported", in: Inputs{
			Blueprint: bp(snap(sA, materials.SnapshotImmediate)),
			Floorplan: fp([]materials.SnapshotInfo{in(sA, t1)}, nil)},
			want: []string{}},
		{name: "a failure is reported with its error", in: Inputs{
			Blueprint: bp(snap(sA, materials.SnapshotImmediate)),
			Floorplan: fp([]materials.SnapshotInfo{in(sA, t1)}, nil),
			Failures:  []Failure{{Target: materials.MaterialRef{Kind: materials.KindSnapshot, ID: app + "/" + sA}, Description: "no space"}}},
			want: []string{"cf1 a SNAPSHOT_TYPE_IMMEDIATE err=no space"}},
		{name: "a damaged copy is an error", in: Inputs{
			Blueprint: bp(snap(sA, materials.SnapshotImmediate)),
			Floorplan: fp([]materials.SnapshotInfo{in(sA, t1)}, []materials.SnapshotInfo{copyOf(sA, t1, materials.StateBroken, "a directory named .raw")})},
			want: []string{"cf1 a SNAPSHOT_TYPE_IMMEDIATE err=snapshot copy damaged: volume " + vr + ": a directory named .raw"}},
		{name: "ours on disk but dropped from the config: reported until deleted; someone else's ignored", in: Inputs{
			Blueprint: bp(snap(sA, materials.SnapshotImmediate)),
			Floorplan: fp([]materials.SnapshotInfo{in(sA, t2), in(sB, t1), in("before-upgrade", t1)},
				[]materials.SnapshotInfo{copyOf(sA, t2, materials.StateComplete, ""), copyOf(sB, t1, materials.StateComplete, "")})},
			// app2 refers to the raw volume only: the unlisted b is on all
			// its volumes too, a is cf1's by the config.
			want: []string{"cf1 b SNAPSHOT_TYPE_UNSPECIFIED 10:00", "cf1 a SNAPSHOT_TYPE_IMMEDIATE 11:00",
				"cf2 b SNAPSHOT_TYPE_UNSPECIFIED 10:00"}},
		{name: "oldest first, a failure not taken last", in: Inputs{
			Blueprint: bp(snap(sC, materials.SnapshotImmediate), snap(sA, materials.SnapshotImmediate), snap(sB, materials.SnapshotAppUpdate)),
			Floorplan: fp([]materials.SnapshotInfo{in(sA, t2), in(sB, t1)}, []materials.SnapshotInfo{copyOf(sA, t2, materials.StateComplete, ""), copyOf(sB, t1, materials.StateComplete, "")}),
			Failures:  []Failure{{Target: materials.MaterialRef{Kind: materials.KindSnapshot, ID: app + "/" + sC}, Description: "qemu-img failed"}}},
			want: []string{"cf1 b SNAPSHOT_TYPE_APP_UPDATE 10:00", "cf1 a SNAPSHOT_TYPE_IMMEDIATE 11:00", "cf1 c SNAPSHOT_TYPE_IMMEDIATE err=qemu-img failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := render(AppSnapshots(tt.in))
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}

	// The envelope on the wire: ZInfoMsg.ainfo is field 5, ZInfoApp.snapshots
	// 18, ZInfoSnapshot.id 1 (EVE's numbers), read back without our schema.
	apps := AppSnapshots(tests[2].in)
	if len(apps) != 1 || apps[0].AppName != "ubuntu" || apps[0].AppVersion != "3" || len(apps[0].VolumeRefs) != 2 {
		t.Fatalf("app fields: %v", apps)
	}
	msgs := AppMessages(apps, "dev-1", time.Time{})
	if len(msgs) != 1 || msgs[0].Ztype != eve.ZInfoTypes_ZiApp {
		t.Fatalf("messages: %v", msgs)
	}
	b, err := proto.Marshal(msgs[0])
	if err != nil {
		t.Fatal(err)
	}
	ainfo := field(t, b, 5)
	snapMsg := field(t, ainfo, 18)
	if id := field(t, snapMsg, 1); string(id) != sA {
		t.Fatalf("snapshot id on the wire = %q", id)
	}
}

// field returns the bytes of the first length-delimited field num in b.
func field(t *testing.T, b []byte, num protowire.Number) []byte {
	t.Helper()
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			t.Fatalf("bad tag")
		}
		b = b[l:]
		m := protowire.ConsumeFieldValue(n, typ, b)
		if m < 0 {
			t.Fatalf("bad field %d", n)
		}
		if n == num && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b)
			return v
		}
		b = b[m:]
	}
	t.Fatalf("field %d not found", num)
	return nil
}
