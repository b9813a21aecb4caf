package fleet

import (
	"math/rand/v2"

	"github.com/edgewright/edgewright/materials/eve"
)

// BumpGenerations purges a share of every device's volumes: their
// generation goes up by one, and the apps that use them follow.
func BumpGenerations(seed uint64, share float64) Change {
	return func(i int, cfg *eve.EdgeDevConfig) {
		r := rand.New(rand.NewPCG(seed, uint64(i)))
		bumped := map[string]int64{}
		for _, v := range cfg.Volumes {
			if r.Float64() < share {
				v.GenerationCount++
				bumped[v.Uuid] = v.GenerationCount
			}
		}
		followRefs(cfg, bumped)
	}
}

// UpdateImage moves a share of the volumes made from image from to image
// to (a new content tree, published with Fleet.Publish first), at a new
// generation, as a controller rolls out an app's new version.
func (s Spec) UpdateImage(seed uint64, from, to Image, share float64) Change {
	s = s.withDefaults()
	fromID, toTree := s.treeID(from), s.contentTree(to)
	return func(i int, cfg *eve.EdgeDevConfig) {
		r := rand.New(rand.NewPCG(seed, uint64(i)))
		have := false
		for _, ct := range cfg.ContentInfo {
			have = have || ct.Uuid == toTree.Uuid
		}
		if !have {
			cfg.ContentInfo = append(cfg.ContentInfo, toTree)
		}
		bumped := map[string]int64{}
		for _, v := range cfg.Volumes {
			if v.Origin.GetDownloadContentTreeID() == fromID && r.Float64() < share {
				v.Origin.DownloadContentTreeID = toTree.Uuid
				v.Maxsizebytes = max(v.Maxsizebytes, to.vsize())
				v.GenerationCount++
				bumped[v.Uuid] = v.GenerationCount
			}
		}
		followRefs(cfg, bumped)
	}
}

// followRefs points the apps' volume refs at the new generations.
func followRefs(cfg *eve.EdgeDevConfig, gen map[string]int64) {
	for _, a := range cfg.Apps {
		for _, ref := range a.VolumeRefList {
			if g, ok := gen[ref.Uuid]; ok {
				ref.GenerationCount = g
			}
		}
	}
}
