package foreman

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edgewright/edgewright/materials"
)

func TestCheckpoint(t *testing.T) {
	v := func(id string, gen int64, refs int) materials.Volume {
		return materials.Volume{ID: id, Generation: gen, RefCount: refs, Apps: []string{"a"}}
	}
	carried := func(id string, gen int64) materials.Volume { return materials.Volume{ID: id, Generation: gen} }
	file := func(id string, gen int64, st materials.State) materials.VolumeFile {
		return materials.VolumeFile{ID: id, Generation: gen, State: st}
	}
	bp := &materials.Blueprint{Complete: true, Volumes: []materials.Volume{v("b", 2, 1)}}
	for _, tc := range []struct {
		name  string
		bp    *materials.Blueprint
		last  *materials.Blueprint
		files []materials.VolumeFile
		want  []materials.Volume
	}{
		{name: "no last applied: the Blueprint", bp: bp, want: bp.Volumes},
		{name: "dropped and gone: forgotten", bp: bp, last: &materials.Blueprint{Volumes: []materials.Volume{v("a", 1, 1)}}, want: bp.Volumes},
		{name: "dropped, still on disk: carried without apps", bp: bp, last: &materials.Blueprint{Volumes: []materials.Volume{v("a", 1, 1)}},
			files: []materials.VolumeFile{file("a", 1, materials.StateComplete)}, want: []materials.Volume{carried("a", 1), v("b", 2, 1)}},
		{name: "an unreadable file is no proof it is gone", bp: bp, last: &materials.Blueprint{Volumes: []materials.Volume{v("c", 0, 1)}},
			files: []materials.VolumeFile{file("c", 0, materials.StateUnknown)}, want: []materials.Volume{v("b", 2, 1), carried("c", 0)}},
		{name: "the old generation of a purge is carried until the purge removes it", bp: bp,
			last:  &materials.Blueprint{Volumes: []materials.Volume{v("b", 1, 1)}},
			files: []materials.VolumeFile{file("b", 1, materials.StateComplete)}, want: []materials.Volume{carried("b", 1), v("b", 2, 1)}},
		{name: "incomplete: nothing recorded", bp: &materials.Blueprint{}, last: bp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fp := &materials.Floorplan{Volumes: tc.files, Journal: &materials.JournalState{LastApplied: tc.last}}
			got := checkpoint(tc.bp, fp)
			if !tc.bp.Complete {
				if got != nil {
					t.Fatalf("checkpoint of an incomplete Blueprint: %+v", got)
				}
				return
			}
			if d := cmp.Diff(tc.want, got.Volumes); d != "" {
				t.Errorf("checkpoint volumes (-want +got):\n%s", d)
			}
		})
	}
}
