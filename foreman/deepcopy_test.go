package foreman

import (
	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
)

// copyBlueprint and copyFloorplan are real deep copies: every slice, map
// and pointer is duplicated. The tests use them to prove Plan leaves its
// inputs alone, and the benchmarks as the yardstick for Plan's cost.
func copyBlueprint(b *materials.Blueprint) *materials.Blueprint {
	if b == nil {
		return nil
	}
	c := *b
	if b.Volumes != nil {
		c.Volumes = make([]materials.Volume, len(b.Volumes))
		for i, v := range b.Volumes {
			v.Apps = copyStrings(v.Apps)
			c.Volumes[i] = v
		}
	}
	if b.Apps != nil {
		c.Apps = make([]materials.App, len(b.Apps))
		for i, a := range b.Apps {
			a.VolumeRefs = append([]materials.VolumeRef(nil), a.VolumeRefs...)
			c.Apps[i] = a
		}
	}
	if b.ContentTrees != nil {
		c.ContentTrees = make([]materials.ContentTree, len(b.ContentTrees))
		for i, t := range b.ContentTrees {
			t.Datastores = copyStrings(t.Datastores)
			if t.Signature != nil {
				s := *t.Signature
				s.Signature = copyBytes(s.Signature)
				t.Signature = &s
			}
			c.ContentTrees[i] = t
		}
	}
	if b.Datastores != nil {
		c.Datastores = make([]materials.Datastore, len(b.Datastores))
		for i, d := range b.Datastores {
			if d.CertPEM != nil {
				pems := make([][]byte, len(d.CertPEM))
				for j := range d.CertPEM {
					pems[j] = copyBytes(d.CertPEM[j])
				}
				d.CertPEM = pems
			}
			c.Datastores[i] = d
		}
	}
	if b.Additions != nil {
		c.Additions = append([]materials.Addition(nil), b.Additions...)
	}
	if b.Withheld != nil {
		c.Withheld = append([]materials.MaterialRef(nil), b.Withheld...)
	}
	if b.Diagnostics != nil {
		c.Diagnostics = append(materials.Diagnostics(nil), b.Diagnostics...)
	}
	return &c
}

func copyFloorplan(f *materials.Floorplan) *materials.Floorplan {
	if f == nil {
		return nil
	}
	c := *f
	if f.Volumes != nil {
		c.Volumes = make([]materials.VolumeFile, len(f.Volumes))
		for i, v := range f.Volumes {
			if v.Legacy != nil {
				l := *v.Legacy
				v.Legacy = &l
			}
			c.Volumes[i] = v
		}
	}
	if f.Blobs != nil {
		c.Blobs = make([]materials.BlobRecord, len(f.Blobs))
		for i, b := range f.Blobs {
			b.Labels = copyLabels(b.Labels)
			b.Children = copyDigests(b.Children)
			c.Blobs[i] = b
		}
	}
	if f.Images != nil {
		c.Images = make([]materials.ImageRecord, len(f.Images))
		for i, im := range f.Images {
			im.Labels = copyLabels(im.Labels)
			im.Blobs = copyDigests(im.Blobs)
			c.Images[i] = im
		}
	}
	if f.Journal != nil {
		j := *f.Journal
		if j.InFlight != nil {
			j.InFlight = append([]materials.InFlight(nil), j.InFlight...)
		}
		if j.Unreferenced != nil {
			j.Unreferenced = append([]materials.Unreferenced(nil), j.Unreferenced...)
		}
		if j.Latches != nil {
			j.Latches = append([]materials.TagLatch(nil), j.Latches...)
		}
		j.LastApplied = copyBlueprint(j.LastApplied)
		c.Journal = &j
	}
	if f.Diagnostics != nil {
		c.Diagnostics = append(materials.Diagnostics(nil), f.Diagnostics...)
	}
	return &c
}

func copyStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}

func copyBytes(s []byte) []byte {
	if s == nil {
		return nil
	}
	return append([]byte(nil), s...)
}

func copyDigests(s []digest.Digest) []digest.Digest {
	if s == nil {
		return nil
	}
	return append([]digest.Digest(nil), s...)
}

func copyLabels(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
