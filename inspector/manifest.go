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

type sniffed struct {
	mediaType string
	children  []digest.Digest
	// childBlobs describe children, in the same order.
	childBlobs []materials.Blob
	bad        []string // child digests that do not parse
}

// ociDoc holds the fields of an index and of a manifest at once.
type ociDoc struct {
	SchemaVersion int                  `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
	Config        *ocispec.Descriptor  `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
}

// sniffManifest recognises an OCI (or Docker v2) index or manifest and
// returns its media type and the blobs it references, sorted and without
// duplicates. Anything else (an image config, other JSON) is not one.
func sniffManifest(data []byte) (sniffed, bool) {
	var d ociDoc
	if err := json.Unmarshal(data, &d); err != nil || d.SchemaVersion != 2 {
		return sniffed{}, false
	}
	var out sniffed
	var descs []ocispec.Descriptor
	switch {
	case d.MediaType == ocispec.MediaTypeImageIndex || d.MediaType == mediaTypeDockerManifestList ||
		(d.MediaType == "" && d.Manifests != nil && d.Config == nil):
		out.mediaType = d.MediaType
		if out.mediaType == "" {
			out.mediaType = ocispec.MediaTypeImageIndex
		}
		descs = d.Manifests
	case d.MediaType == ocispec.MediaTypeImageManifest || d.MediaType == mediaTypeDockerManifest ||
		(d.MediaType == "" && d.Config != nil):
		out.mediaType = d.MediaType
		if out.mediaType == "" {
			out.mediaType = ocispec.MediaTypeImageManifest
		}
		if d.Config != nil {
			descs = append(descs, *d.Config)
		}
		descs = append(descs, d.Layers...)
	default:
		return sniffed{}, false
	}
	set := map[digest.Digest]bool{}
	desc := map[digest.Digest]materials.Blob{}
	for _, c := range descs {
		if err := c.Digest.Validate(); err != nil {
			out.bad = append(out.bad, string(c.Digest))
			continue
		}
		set[c.Digest] = true
		if _, ok := desc[c.Digest]; !ok {
			desc[c.Digest] = materials.Blob{Digest: c.Digest, Size: c.Size, MediaType: c.MediaType}
		}
	}
	out.children = sortedDigests(set)
	for _, d := range out.children {
		out.childBlobs = append(out.childBlobs, desc[d])
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
