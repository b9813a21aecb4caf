package reporter

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
)

// TestLatchForAnotherURLNamesNoTop: after the config changes a tag's URL
// under the same generation, the old tag's latch is not this tree's top,
// so the report must not show the old digest as the tree's sha256 (the
// foreman resolves the new URL instead).
func TestLatchForAnotherURLNamesNoTop(t *testing.T) {
	old := digest.Digest("sha256:" + strings.Repeat("c", 64))
	for _, tc := range []struct {
		url  string
		want string
	}{
		{"apps/web:1.0", old.Encoded()}, // the latch's own URL
		{"apps/web:2.0", ""},            // changed since it was latched
	} {
		bp := &materials.Blueprint{Complete: true,
			Datastores:   []materials.Datastore{{ID: "ds", Type: materials.DatastoreContainerRegistry, FQDN: "docker://r.example"}},
			ContentTrees: []materials.ContentTree{{ID: "ct", URL: tc.url, Format: materials.FormatContainer, Generation: 1, Datastores: []string{"ds"}}}}
		fp := &materials.Floorplan{
			Blobs:   []materials.BlobRecord{{Digest: old, Store: materials.BlobStoreContainerd, Size: 100, State: materials.StateComplete}},
			Journal: &materials.JournalState{Latches: []materials.TagLatch{{ContentTree: "ct", Generation: 1, URL: "apps/web:1.0", Digest: old}}}}
		rep := Build(Inputs{Blueprint: bp, Floorplan: fp})
		if len(rep.ContentTrees) != 1 {
			t.Fatalf("%s: %d content tree messages, want 1", tc.url, len(rep.ContentTrees))
		}
		if got := rep.ContentTrees[0].Sha256; got != tc.want {
			t.Errorf("URL %s: reported sha256 %q, want %q", tc.url, got, tc.want)
		}
	}
}
