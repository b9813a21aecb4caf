package fleet

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"

	"github.com/google/uuid"
	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/materials/eve"
)

// Image is a content tree the fleet shares.
type Image struct {
	// Name is its URL at the datastore.
	Name   string
	Format materials.Format
	// SizeBytes is the blob's size; VirtualSize a qcow2's disk size (0
	// for raw: its size).
	SizeBytes, VirtualSize int64
	// SHA256 is the blob's digest (hex); made up from Name when empty.
	SHA256 string
}

func (im Image) digest() digest.Digest {
	if im.SHA256 != "" {
		return digest.NewDigestFromEncoded(digest.SHA256, im.SHA256)
	}
	return digest.FromString("fleet image " + im.Name)
}

// vsize is the disk a volume made from it takes at least.
func (im Image) vsize() int64 {
	if im.VirtualSize > 0 {
		return im.VirtualSize
	}
	return im.SizeBytes
}

// Spec generates a fleet.
type Spec struct {
	Devices int
	// VolumesPerDevice is how many volumes each device's config names.
	VolumesPerDevice int
	// Images are the content trees every device may use.
	Images []Image
	// BlankShare is the share of volumes that are blank (0..1).
	BlankShare float64
	// VolumesPerApp groups volumes into apps (default 5).
	VolumesPerApp int
	// DiskBytes is each device's disk; DiskSpread varies it by up to
	// that share either way (0..1).
	DiskBytes  int64
	DiskSpread float64
	// Datastore is the HTTP datastore's fqdn (default http://images.fleet).
	Datastore string
	Seed      uint64
}

// A Change is a rollout: it edits device i's config in place (its content
// trees and datastores are shared: replace them, never edit them).
type Change func(i int, cfg *eve.EdgeDevConfig)

// Datastore id every generated config uses.
const datastoreID = "5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d11"

func (s Spec) withDefaults() Spec {
	if s.VolumesPerApp <= 0 {
		s.VolumesPerApp = 5
	}
	if s.DiskBytes <= 0 {
		s.DiskBytes = 512 << 30
	}
	if s.Datastore == "" {
		s.Datastore = "http://images.fleet"
	}
	return s
}

// check names the first field of s that cannot make a fleet.
func (s Spec) check() error {
	switch {
	case s.Devices <= 0:
		return fmt.Errorf("fleet spec: devices %d: want > 0", s.Devices)
	case s.VolumesPerDevice < 0:
		return fmt.Errorf("fleet spec: volumes per device %d: want >= 0", s.VolumesPerDevice)
	case s.BlankShare < 0 || s.BlankShare > 1:
		return fmt.Errorf("fleet spec: blank share %v: want 0..1", s.BlankShare)
	case s.DiskSpread < 0 || s.DiskSpread >= 1:
		return fmt.Errorf("fleet spec: disk spread %v: want 0..1", s.DiskSpread)
	case len(s.Images) == 0 && s.BlankShare < 1 && s.VolumesPerDevice > 0:
		return fmt.Errorf("fleet spec: no images, but blank share %v leaves volumes made from content", s.BlankShare)
	}
	for i, im := range s.Images {
		if im.Name == "" || im.SizeBytes <= 0 {
			return fmt.Errorf("fleet spec: images[%d] %q: want a name and a size > 0", i, im.Name)
		}
		if im.Format != materials.FormatRaw && im.Format != materials.FormatQcow2 {
			return fmt.Errorf("fleet spec: images[%d] %q: format %q: want raw or qcow2", i, im.Name, im.Format)
		}
	}
	return nil
}

// rng is device i's generator: the same config every time it is asked.
func (s Spec) rng(i int) *rand.Rand { return rand.New(rand.NewPCG(s.Seed, uint64(i))) }

// randomID is a version 4 UUID from r: device i's volumes and apps get
// the same ids at every reconcile, at no hashing cost.
func randomID(r *rand.Rand) string {
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[:8], r.Uint64())
	binary.BigEndian.PutUint64(u[8:], r.Uint64())
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u.String()
}

func (s Spec) id(kind string, parts ...any) string {
	return uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "%d/%s/%v", s.Seed, kind, parts)).String()
}

// treeID is the content tree of an image, the same on every device.
func (s Spec) treeID(im Image) string { return s.id("tree", im.Name, im.digest()) }

// diskBytes is device i's disk.
func (s Spec) diskBytes(i int) int64 {
	if s.DiskSpread == 0 {
		return s.DiskBytes
	}
	f := 1 + s.DiskSpread*(2*s.rng(i).Float64()-1)
	return int64(float64(s.DiskBytes) * f)
}

// Config is device i's controller config.
func (s Spec) Config(i int) *eve.EdgeDevConfig { return newGenerator(s.withDefaults()).config(i) }

// generator makes the configs of one Spec: the content trees and the
// datastore, the same on every device, are made once and shared.
type generator struct {
	spec  Spec
	trees []*eve.ContentTree
	ds    *eve.DatastoreConfig
	// volNames and appNames are the display names, the same on every
	// device: made once, so a device's last Blueprint keeps no copy.
	volNames, appNames []string
}

func newGenerator(s Spec) *generator {
	g := &generator{spec: s, ds: &eve.DatastoreConfig{Id: datastoreID, DType: eve.DsType_DsHttp, Fqdn: s.Datastore, Dpath: "images"}}
	for _, im := range s.Images {
		g.trees = append(g.trees, s.contentTree(im))
	}
	for j := 0; j < s.VolumesPerDevice; j++ {
		g.volNames = append(g.volNames, fmt.Sprintf("vol-%d", j))
	}
	for a := 0; a*s.VolumesPerApp < s.VolumesPerDevice; a++ {
		g.appNames = append(g.appNames, fmt.Sprintf("app-%d", a))
	}
	return g
}

// config is device i's config. Its content trees and datastore are
// shared with every other device's: a Change must replace them, never
// edit them.
func (g *generator) config(i int) *eve.EdgeDevConfig {
	s := g.spec
	r := s.rng(i)
	cfg := &eve.EdgeDevConfig{
		Datastores:  []*eve.DatastoreConfig{g.ds},
		ContentInfo: append([]*eve.ContentTree(nil), g.trees...),
		Volumes:     make([]*eve.Volume, 0, s.VolumesPerDevice),
		Apps:        make([]*eve.AppInstanceConfig, 0, len(g.appNames)),
	}
	refs := make([]*eve.VolumeRef, 0, s.VolumesPerDevice)
	for j := 0; j < s.VolumesPerDevice; j++ {
		v := &eve.Volume{Uuid: randomID(r), GenerationCount: 1, DisplayName: g.volNames[j],
			Origin: &eve.VolumeContentOrigin{Type: eve.VolumeContentOriginType_VCOT_BLANK}, Maxsizebytes: int64(1+r.IntN(8)) << 30}
		if r.Float64() >= s.BlankShare && len(s.Images) > 0 {
			k := r.IntN(len(s.Images))
			im := s.Images[k]
			v.Origin = &eve.VolumeContentOrigin{Type: eve.VolumeContentOriginType_VCOT_DOWNLOAD, DownloadContentTreeID: g.trees[k].Uuid}
			v.Maxsizebytes = max(v.Maxsizebytes, im.vsize())
		}
		cfg.Volumes = append(cfg.Volumes, v)
		refs = append(refs, &eve.VolumeRef{Uuid: v.Uuid, GenerationCount: v.GenerationCount})
	}
	for a := 0; len(refs) > 0; a++ {
		n := min(s.VolumesPerApp, len(refs))
		cfg.Apps = append(cfg.Apps, &eve.AppInstanceConfig{
			Uuidandversion: &eve.UUIDandVersion{Uuid: randomID(r), Version: "1"},
			Displayname:    g.appNames[a], Activate: true, VolumeRefList: refs[:n]})
		refs = refs[n:]
	}
	return cfg
}

func (s Spec) contentTree(im Image) *eve.ContentTree {
	f := eve.Format_RAW
	if im.Format == materials.FormatQcow2 {
		f = eve.Format_QCOW2
	}
	return &eve.ContentTree{Uuid: s.treeID(im), DsId: datastoreID, URL: im.Name, Iformat: f, Sha256: im.digest().Encoded(),
		MaxSizeBytes: uint64(im.SizeBytes), DisplayName: im.Name, GenerationCount: 1}
}
