package foreman

import (
	"testing"

	"github.com/opencontainers/go-digest"
)

// Digests whose 64-bit keys collide must still be told apart.
func TestBlobKeyCollision(t *testing.T) {
	p := &planner{blobs: map[uint64]*blobEntry{}}
	a := digest.Digest("sha256:0123456789abcdef" + "1111111111111111111111111111111111111111111111111")
	b := digest.Digest("sha256:0123456789abcdef" + "2222222222222222222222222222222222222222222222222")
	odd := digest.Digest("md5:whatever")
	if blobKey(a) != blobKey(b) {
		t.Fatal("test digests were meant to collide")
	}
	ea, eb, eo := p.entry(a), p.entry(b), p.entry(odd)
	if ea == eb || ea == eo {
		t.Fatal("colliding digests share an entry")
	}
	ea.neededBy = 1
	if p.lookup(a) != ea || p.lookup(b) != eb || p.lookup(odd) != eo || p.entry(a) != ea {
		t.Fatal("lookup does not find the entry made")
	}
	if p.lookup(digest.Digest("sha256:0123456789abcdef3333")) != nil {
		t.Fatal("lookup found a digest never entered")
	}
	// Entries survive the arena growing.
	for i := 0; i < 1000; i++ {
		p.entry(digest.Digest("sha256:" + string(rune('a'+i%6)) + "x" + string(rune(i))))
	}
	if p.lookup(a).neededBy != 1 {
		t.Fatal("entry lost after the arena grew")
	}
}
