package materials

import (
	"strings"

	"github.com/opencontainers/go-digest"
)

// IsSHA256Hex reports whether s is a sha256 digest's encoded part as
// edgewright writes it: 64 lower-case hex digits.
func IsSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// TopDigest is the one rule for which blob is a content tree's top: its
// configured sha256; else, for an OCI tree, a digest pinned in its URL
// (`repo@sha256:…`), or the journal's latch for this tree id and
// generation when the latch was made for this very URL (a changed URL
// under the same generation must be resolved again, never served the old
// tag's digest). latch is the journal's latch for the tree id and
// generation, nil when there is none. "" means no top is known yet.
func TopDigest(t *ContentTree, oci bool, latch *TagLatch) digest.Digest {
	if t.SHA256 != "" {
		if !IsSHA256Hex(t.SHA256) {
			return ""
		}
		return digest.Digest("sha256:" + t.SHA256)
	}
	if !oci {
		return ""
	}
	if i := strings.LastIndex(t.URL, "@sha256:"); i >= 0 && IsSHA256Hex(t.URL[i+8:]) {
		return digest.Digest(t.URL[i+1:])
	}
	if latch != nil && latch.ContentTree == t.ID && latch.Generation == t.Generation && latch.URL == t.URL &&
		strings.HasPrefix(string(latch.Digest), "sha256:") && IsSHA256Hex(latch.Digest.Encoded()) {
		return latch.Digest
	}
	return ""
}

// IsOCI reports whether a content tree is an OCI image: container format,
// or served by a container registry among datastores.
func IsOCI(t *ContentTree, datastores []Datastore) bool {
	if t.Format == FormatContainer {
		return true
	}
	for _, id := range t.Datastores {
		for i := range datastores {
			if datastores[i].ID == id && datastores[i].Type == DatastoreContainerRegistry {
				return true
			}
		}
	}
	return false
}
