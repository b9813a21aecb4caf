package inspector

import (
	"encoding/json"
	"sort"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/edgewright/edgewright/materials"
)

// Docker's media types, which registries still serve beside OCI's.
const (
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
)

// Manifest is what SniffManifest learns of an OCI (or Docker v2) index or
// manifest.
type Manifest struct {
	MediaType string
	// Children are the blobs it references, sorted and without duplicates.
	Children []digest.Digest
	// ChildBlobs describe Children, in the same order.
	ChildBlobs []materials.Blob
	// Bad are child digests that do not parse.
	Bad []string
}

// ociDoc holds the fields of an index and of a manifest at once.
type ociDoc struct {
	SchemaVersion int                  `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
	Config        *ocispec.Descriptor  `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
}

// SniffManifest recognises an OCI (or Docker v2) index or manifest and
// returns its media type and the blobs it references. Anything else (an
// image config, other JSON) is not one. Both the blob directory and
// inspector/ctrsurvey read small JSON blobs with it, so that a blob's
// children are found the same way whichever store holds it.
func SniffManifest(data []byte) (Manifest, bool) {
	var d ociDoc
	if err := json.Unmarshal(data, &d); err != nil || d.SchemaVersion != 2 {
		return Manifest{}, false
	}
	var out Manifest
	var descs []ocispec.Descriptor
	switch {
	case d.MediaType == ocispec.MediaTypeImageIndex || d.MediaType == mediaTypeDockerManifestList ||
		(d.MediaType == "" && d.Manifests != nil && d.Config == nil):
		out.MediaType = d.MediaType
		if out.MediaType == "" {
			out.MediaType = ocispec.MediaTypeImageIndex
		}
		descs = d.Manifests
	case d.MediaType == ocispec.MediaTypeImageManifest || d.MediaType == mediaTypeDockerManifest ||
		(d.MediaType == "" && d.Config != nil):
		out.MediaType = d.MediaType
		if out.MediaType == "" {
			out.MediaType = ocispec.MediaTypeImageManifest
		}
		if d.Config != nil {
			descs = append(descs, *d.Config)
		}
		descs = append(descs, d.Layers...)
	default:
		return Manifest{}, false
	}
	set := map[digest.Digest]bool{}
	desc := map[digest.Digest]materials.Blob{}
	for _, c := range descs {
		if err := c.Digest.Validate(); err != nil {
			out.Bad = append(out.Bad, string(c.Digest))
			continue
		}
		set[c.Digest] = true
		if _, ok := desc[c.Digest]; !ok {
			desc[c.Digest] = materials.Blob{Digest: c.Digest, Size: c.Size, MediaType: c.MediaType}
		}
	}
	out.Children = sortedDigests(set)
	for _, d := range out.Children {
		out.ChildBlobs = append(out.ChildBlobs, desc[d])
	}
	return out, true
}

func sortedDigests(set map[digest.Digest]bool) []digest.Digest {
	if len(set) == 0 {
		return nil
	}
	out := make([]digest.Digest, 0, len(set))
	for d := range set {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
