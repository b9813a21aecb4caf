package oci

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"go.uber.org/zap"
)

// Descriptor is an OCI content descriptor (media type, digest, size).
type Descriptor = ocispec.Descriptor

// Manifest media types this client walks.
const (
	MediaTypeOCIIndex       = ocispec.MediaTypeImageIndex
	MediaTypeOCIManifest    = ocispec.MediaTypeImageManifest
	MediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerSchema1  = "application/vnd.docker.distribution.manifest.v1+json"
)

// MaxManifestSize bounds an index or manifest fetched into memory.
const MaxManifestSize = 4 << 20

// MaxChildren bounds the manifests of an index and the layers of a
// manifest: real images have tens; a hostile one must not make us plan
// and fetch millions of blobs.
const MaxChildren = 1000

// manifestAccept is sent on every manifest request.
var manifestAccept = strings.Join([]string{MediaTypeOCIIndex, MediaTypeOCIManifest, MediaTypeDockerList, MediaTypeDockerManifest}, ", ")

// IsIndex reports whether mt is an OCI index or a Docker manifest list.
func IsIndex(mt string) bool { return mt == MediaTypeOCIIndex || mt == MediaTypeDockerList }

// IsManifest reports whether mt is an OCI or Docker v2 image manifest.
func IsManifest(mt string) bool { return mt == MediaTypeOCIManifest || mt == MediaTypeDockerManifest }

// Platform selects a manifest from an index.
type Platform struct {
	OS, Architecture, Variant string
}

// DefaultPlatform is what a Client picks when not told otherwise.
var DefaultPlatform = Platform{OS: "linux", Architecture: "amd64"}

func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// ParsePlatform parses `os/arch[/variant]`.
func ParsePlatform(s string) (Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return Platform{}, fmt.Errorf("platform %q: want os/arch[/variant]", s)
	}
	p := Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// Resolve asks the registry for ref's top descriptor: its digest (from
// Docker-Content-Digest or the hash of the body), media type and size. A
// digest reference is checked against what the registry serves.
func (c *Client) Resolve(ctx context.Context, ref Reference) (Descriptor, error) {
	resp, err := c.do(ctx, request{method: http.MethodHead, repo: ref.Repository, path: ref.Repository + "/manifests/" + ref.Ref(),
		header: http.Header{"Accept": {manifestAccept}}})
	if err == nil {
		drain(resp)
		d := Descriptor{MediaType: mediaType(resp.Header.Get("Content-Type")), Size: resp.ContentLength}
		if dg, perr := digest.Parse(resp.Header.Get("Docker-Content-Digest")); perr == nil {
			d.Digest = dg
		}
		if ref.Digest != "" && d.Digest != "" && d.Digest != ref.Digest {
			return Descriptor{}, &DigestMismatchError{What: "manifest " + ref.String(), Want: ref.Digest, Got: d.Digest}
		}
		if d.Digest != "" && d.Size > 0 && (IsIndex(d.MediaType) || IsManifest(d.MediaType)) {
			c.log.Debug("resolved", zap.String("host", c.reg.Host), zap.String("ref", ref.String()), zap.String("digest", d.Digest.String()))
			return d, nil
		}
	} else if IsNotFound(err) {
		return Descriptor{}, fmt.Errorf("resolve %s: %w", ref, err)
	}
	// HEAD was refused or said too little: GET and hash the body.
	d, _, err := c.getManifest(ctx, ref.Repository, ref.Ref(), ref.Digest)
	if err != nil {
		return Descriptor{}, fmt.Errorf("resolve %s: %w", ref, err)
	}
	return d, nil
}

// FetchManifest fetches an index or manifest blob by its descriptor and
// verifies its digest and size.
func (c *Client) FetchManifest(ctx context.Context, repo string, desc Descriptor) ([]byte, error) {
	d, data, err := c.getManifest(ctx, repo, desc.Digest.String(), desc.Digest)
	if err != nil {
		return nil, err
	}
	if desc.Size > 0 && d.Size != desc.Size {
		return nil, &SizeMismatchError{Digest: desc.Digest, Want: desc.Size, Got: d.Size}
	}
	return data, nil
}

func (c *Client) getManifest(ctx context.Context, repo, ref string, want digest.Digest) (Descriptor, []byte, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, repo: repo, path: repo + "/manifests/" + ref,
		header: http.Header{"Accept": {manifestAccept}}})
	if err != nil {
		return Descriptor{}, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxManifestSize+1))
	if err != nil {
		return Descriptor{}, nil, fmt.Errorf("read manifest %s@%s: %w", repo, ref, err)
	}
	if len(data) > MaxManifestSize {
		return Descriptor{}, nil, fmt.Errorf("manifest %s@%s: larger than %d bytes", repo, ref, MaxManifestSize)
	}
	got := digest.FromBytes(data)
	if want != "" {
		got = want.Algorithm().FromBytes(data)
		if got != want {
			return Descriptor{}, nil, &DigestMismatchError{What: "manifest " + repo + "@" + ref, Want: want, Got: got}
		}
	} else if h, perr := digest.Parse(resp.Header.Get("Docker-Content-Digest")); perr == nil && h.Algorithm() == digest.SHA256 && h != got {
		return Descriptor{}, nil, &DigestMismatchError{What: "manifest " + repo + ":" + ref + " (Docker-Content-Digest)", Want: h, Got: got}
	}
	mt := mediaType(resp.Header.Get("Content-Type"))
	if !IsIndex(mt) && !IsManifest(mt) {
		mt = sniffMediaType(data)
	}
	if !IsIndex(mt) && !IsManifest(mt) {
		return Descriptor{}, nil, &UnsupportedMediaTypeError{MediaType: mt, Digest: got}
	}
	return Descriptor{MediaType: mt, Digest: got, Size: int64(len(data))}, data, nil
}

func mediaType(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return contentType
	}
	return mt
}

// sniffMediaType reads a JSON blob's mediaType field, or guesses from its
// shape when the field is absent (it is optional in OCI).
func sniffMediaType(data []byte) string {
	var probe struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     string            `json:"mediaType"`
		Manifests     []json.RawMessage `json:"manifests"`
		Layers        []json.RawMessage `json:"layers"`
		Config        json.RawMessage   `json:"config"`
		FSLayers      json.RawMessage   `json:"fsLayers"`
	}
	if json.Unmarshal(data, &probe) != nil {
		return ""
	}
	switch {
	case probe.MediaType != "":
		return probe.MediaType
	case probe.FSLayers != nil:
		return mediaTypeDockerSchema1
	case probe.SchemaVersion != 2:
		// An image config has a "config" object too; only a
		// schemaVersion 2 document is a manifest by its shape.
		return ""
	case probe.Manifests != nil:
		return MediaTypeOCIIndex
	case probe.Config != nil || probe.Layers != nil:
		return MediaTypeOCIManifest
	}
	return ""
}

// Role is a child's place in its parent.
type Role string

const (
	RoleManifest Role = "manifest" // an index's entry
	RoleConfig   Role = "config"   // a manifest's config
	RoleLayer    Role = "layer"    // a manifest's layer
)

// Child is one descriptor an index or manifest names, with its role and its
// position among the children of that role (manifest i, layer i).
type Child struct {
	Descriptor
	Role  Role
	Index int
}

// Children lists what a fetched index or manifest blob names: an index's
// manifests (with platforms), or a manifest's config then its layers in
// order. mediaType may be empty; it is then read from the blob.
func Children(mediaType string, data []byte) ([]Child, error) {
	if mediaType == "" || (!IsIndex(mediaType) && !IsManifest(mediaType)) {
		if sniffed := sniffMediaType(data); sniffed != "" {
			mediaType = sniffed
		}
	}
	switch {
	case IsIndex(mediaType):
		var idx ocispec.Index
		if err := json.Unmarshal(data, &idx); err != nil {
			return nil, fmt.Errorf("parse index: %w", err)
		}
		if len(idx.Manifests) > MaxChildren {
			return nil, fmt.Errorf("parse index: %d manifests, more than the %d allowed", len(idx.Manifests), MaxChildren)
		}
		out := make([]Child, 0, len(idx.Manifests))
		for i, m := range idx.Manifests {
			if err := checkDescriptor(m, "manifests["+strconv.Itoa(i)+"]"); err != nil {
				return nil, err
			}
			out = append(out, Child{Descriptor: m, Role: RoleManifest, Index: i})
		}
		return out, nil
	case IsManifest(mediaType):
		var m ocispec.Manifest
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("parse manifest: %w", err)
		}
		if err := checkDescriptor(m.Config, "config"); err != nil {
			return nil, err
		}
		if len(m.Layers) > MaxChildren {
			return nil, fmt.Errorf("parse manifest: %d layers, more than the %d allowed", len(m.Layers), MaxChildren)
		}
		out := make([]Child, 0, 1+len(m.Layers))
		out = append(out, Child{Descriptor: m.Config, Role: RoleConfig})
		for i, l := range m.Layers {
			if err := checkDescriptor(l, "layers["+strconv.Itoa(i)+"]"); err != nil {
				return nil, err
			}
			out = append(out, Child{Descriptor: l, Role: RoleLayer, Index: i})
		}
		return out, nil
	}
	return nil, &UnsupportedMediaTypeError{MediaType: mediaType, Digest: digest.FromBytes(data)}
}

func checkDescriptor(d Descriptor, field string) error {
	if err := d.Digest.Validate(); err != nil {
		return fmt.Errorf("%s: digest %q: %w", field, d.Digest, err)
	}
	if d.Size < 0 {
		return fmt.Errorf("%s: size %d is negative", field, d.Size)
	}
	return nil
}

// ChoosePlatform picks the manifest for p from an index's children: OS and
// architecture must match; a wanted variant must match, and with none
// wanted an entry without a variant is preferred. Attestation entries
// (unknown/unknown) never match. The zero Platform means DefaultPlatform.
func ChoosePlatform(children []Child, p Platform) (Descriptor, error) {
	if p == (Platform{}) {
		p = DefaultPlatform
	}
	var found *Child
	var avail []string
	for i := range children {
		ch := &children[i]
		if ch.Role != RoleManifest {
			continue
		}
		cp := ch.Platform
		if cp == nil {
			avail = append(avail, "(none)")
			continue
		}
		avail = append(avail, Platform{cp.OS, cp.Architecture, cp.Variant}.String())
		if cp.OS != p.OS || cp.Architecture != p.Architecture {
			continue
		}
		if p.Variant != "" && cp.Variant != p.Variant {
			continue
		}
		if found == nil || (found.Platform.Variant != "" && cp.Variant == "") {
			found = ch
		}
	}
	if found == nil {
		return Descriptor{}, &NoPlatformError{Want: p, Available: avail}
	}
	return found.Descriptor, nil
}

// Fetched is a small JSON blob fetched into memory with what it names.
type Fetched struct {
	Descriptor
	Data     []byte
	Children []Child
}

// Tree is a content tree walked down to its layers.
type Tree struct {
	Top Descriptor
	// Index is the top blob when it is an index (nil for a single manifest).
	Index *Fetched
	// Manifest is the manifest chosen for the platform (or the top).
	Manifest Fetched
	Config   Descriptor
	Layers   []Descriptor
}

// Blobs lists every blob of the tree, top first: index, manifest, config,
// layers.
func (t *Tree) Blobs() []Descriptor {
	var out []Descriptor
	if t.Index != nil {
		out = append(out, t.Index.Descriptor)
	}
	out = append(out, t.Manifest.Descriptor, t.Config)
	return append(out, t.Layers...)
}

// Walk fetches top (an index or a manifest) and, for an index, the
// manifest for the client's platform; it returns the tree with the small
// blobs' bytes so a store can keep them.
func (c *Client) Walk(ctx context.Context, repo string, top Descriptor) (*Tree, error) {
	data, err := c.FetchManifest(ctx, repo, top)
	if err != nil {
		return nil, fmt.Errorf("walk %s@%s: %w", repo, top.Digest, err)
	}
	kids, err := Children(top.MediaType, data)
	if err != nil {
		return nil, fmt.Errorf("walk %s@%s: %w", repo, top.Digest, err)
	}
	t := &Tree{Top: top}
	m := Fetched{Descriptor: top, Data: data, Children: kids}
	if IsIndex(top.MediaType) || (top.MediaType == "" && len(kids) > 0 && kids[0].Role == RoleManifest) {
		t.Index = &Fetched{Descriptor: top, Data: data, Children: kids}
		md, err := ChoosePlatform(kids, c.platform)
		if err != nil {
			return nil, fmt.Errorf("walk %s@%s: %w", repo, top.Digest, err)
		}
		mdata, err := c.FetchManifest(ctx, repo, md)
		if err != nil {
			return nil, fmt.Errorf("walk %s@%s: %w", repo, md.Digest, err)
		}
		mkids, err := Children(md.MediaType, mdata)
		if err != nil {
			return nil, fmt.Errorf("walk %s@%s: %w", repo, md.Digest, err)
		}
		if len(mkids) > 0 && mkids[0].Role != RoleConfig {
			return nil, fmt.Errorf("walk %s@%s: index entry is not an image manifest (nested index)", repo, md.Digest)
		}
		m = Fetched{Descriptor: md, Data: mdata, Children: mkids}
	}
	t.Manifest = m
	for _, k := range m.Children {
		switch k.Role {
		case RoleConfig:
			t.Config = k.Descriptor
		case RoleLayer:
			t.Layers = append(t.Layers, k.Descriptor)
		}
	}
	return t, nil
}
