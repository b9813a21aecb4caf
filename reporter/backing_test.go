package reporter

import (
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
)

// TestBlobRefCountCountsOverlays: a blob's refCount is the content trees
// of the Blueprint it belongs to plus each volume file on disk whose
// backing chain reads through it.
func TestBlobRefCountCountsOverlays(t *testing.T) {
	overlay := func(id string, gen int64, links ...materials.BackingLink) materials.VolumeFile {
		f := qcow2File(id, gen, 1<<30, 1<<20)
		f.Backing = links
		return f
	}
	onBlob := materials.BackingLink{Name: "../../blobs/sha256/" + blobX.Encoded(), Blob: blobX, Format: materials.FormatRaw}
	missing := onBlob
	missing.Missing = true
	mid := materials.BackingLink{Name: volA + "#1.qcow2", Path: "persist/vault/volumes/" + volA + "#1.qcow2", Format: materials.FormatQcow2}
	tmp := overlay(volB, 2, onBlob)
	tmp.Temp, tmp.Path = true, tmp.Path+".tmp"
	bp := &materials.Blueprint{Complete: true, ContentTrees: []materials.ContentTree{treeVM()}}
	for _, tc := range []struct {
		name  string
		bp    *materials.Blueprint
		files []materials.VolumeFile
		want  uint32
	}{
		{"the tree alone", bp, nil, 1},
		{"the tree and a plain volume", bp, []materials.VolumeFile{qcow2File(volA, 1, 1<<30, 1<<20)}, 1},
		{"the tree and two overlays", bp, []materials.VolumeFile{overlay(volA, 1, onBlob), overlay(volB, 1, onBlob)}, 3},
		{"no config, one overlay", nil, []materials.VolumeFile{overlay(volA, 1, onBlob)}, 1},
		{"two generations, both overlays", nil, []materials.VolumeFile{overlay(volA, 1, onBlob), overlay(volA, 2, onBlob)}, 2},
		// The top reads through its snapshot's file, which reads the blob:
		// both files read through it.
		{"a chain of two on the blob", nil, []materials.VolumeFile{overlay(volA, 1, onBlob), overlay(volA, 2, mid, onBlob)}, 2},
		{"a link whose file is missing", bp, []materials.VolumeFile{overlay(volA, 1, missing)}, 1},
		{"an overlay being made (.tmp)", bp, []materials.VolumeFile{tmp}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fp := &materials.Floorplan{Volumes: tc.files, Blobs: []materials.BlobRecord{blobRec(blobX, 1<<20, materials.StateComplete)}}
			rep := Build(Inputs{Blueprint: tc.bp, Floorplan: fp})
			if got := refCount(t, rep, blobX); got != tc.want {
				t.Errorf("refCount %d, want %d", got, tc.want)
			}
		})
	}
}

func refCount(t *testing.T, rep *Report, d digest.Digest) uint32 {
	t.Helper()
	for _, b := range rep.Blobs {
		if b.Sha256 == d.Encoded() {
			return b.GetUsage().GetRefCount()
		}
	}
	t.Fatalf("no ZInfoBlob for %s", d)
	return 0
}
