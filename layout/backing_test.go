package layout

import (
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
)

func TestBackingName(t *testing.T) {
	d := digest.FromString("content")
	for _, clear := range []bool{false, true} {
		name, err := BackingName(materials.Volume{ID: "v", ClearText: clear}, d)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := ParseBackingName(name); !ok || got != d {
			t.Errorf("clear=%v: %q parses to %s %v", clear, name, got, ok)
		}
	}
	for _, bad := range []string{"", "/etc/shadow", "../../blobs/sha256/" + d.Encoded() + "/x", "../../../blobs/sha256/" + d.Encoded(), "../../blobs/sha256/ABC"} {
		if _, ok := ParseBackingName(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := BackingName(materials.Volume{ID: "v"}, "md5:00"); err == nil {
		t.Error("a non-sha256 digest accepted")
	}
}
