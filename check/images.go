package check

import (
	"time"

	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// pastGraceImages is the clean rule for containerd image records
// edgewright wrote (layout.OwnerLabel) whose grace clock in the journal
// ran out: a record the last applied config names (by the name the
// assembler gives it, <tree id>-<URL>) or whose blobs an overlay reads
// through is never cleaned (containerd would collect the blob under
// the overlay). Deleting a record frees nothing itself (its blobs are
// left to containerd's collector), so Bytes is 0.
func (c *checker) pastGraceImages() []Fix {
	if c.fp.Journal == nil {
		return nil
	}
	clocks := map[string]time.Time{}
	for _, u := range c.fp.Journal.Unreferenced {
		if u.Target.Kind == materials.KindImage {
			clocks[u.Target.ID] = u.Since
		}
	}
	var out []Fix
	for i := range c.fp.Images {
		im := &c.fp.Images[i]
		since, ok := clocks[im.Name]
		if !ok || im.Labels[layout.OwnerLabel] != layout.OwnerValue || c.imageNeeded(im, nil) != "" {
			continue
		}
		until := since.Add(c.opts.GracePeriod)
		if c.opts.Now.Before(until) {
			continue
		}
		out = append(out, newFix(TypeClean, materials.MaterialRef{Kind: materials.KindImage, ID: im.Name}, 0, RemedyDelete,
			"containerd image record edgewright wrote, unreferenced since "+since.UTC().Format(time.RFC3339)+", grace period of "+
				c.opts.GracePeriod.String()+" over at "+until.UTC().Format(time.RFC3339)+"; its blobs are left to containerd's collector"))
	}
	return out
}

// imageNeeded says why image record im must stay ("" when nothing needs
// it): the last applied config or a Blueprint of needs names it, or an
// overlay reads through one of its blobs.
func (c *checker) imageNeeded(im *materials.ImageRecord, needs []*materials.Blueprint) string {
	for _, t := range c.lastTrees {
		if im.Name == t.ID+"-"+t.URL {
			return "image record " + im.Name + " is the last applied config's content tree " + t.ID
		}
	}
	for _, bp := range needs {
		for _, t := range bp.ContentTrees {
			if im.Name == t.ID+"-"+t.URL {
				return "image record " + im.Name + " is content tree " + t.ID + " of the config given"
			}
		}
	}
	reads := c.backing[string(im.Target)]
	d := string(im.Target)
	for _, b := range im.Blobs {
		if !reads && c.backing[string(b)] {
			reads, d = true, string(b)
		}
	}
	if reads {
		return "image record " + im.Name + " keeps blob " + d + " from containerd's collector, and an overlay reads through it"
	}
	return ""
}

// deleteImage is the clean of an image record, refused when the record
// is needed after all.
func (p *fixPlanner) deleteImage(f Fix, reason string) ([]remodel.ID, string) {
	for i := range p.c.fp.Images {
		if im := &p.c.fp.Images[i]; im.Name == f.Target.ID {
			return p.deleteOwned(f, reason, im.Labels, "image record "+im.Name, func() string { return p.c.imageNeeded(im, p.needs) })
		}
	}
	return nil, "containerd holds no image record " + f.Target.ID + " any more"
}

// deleteOwned is the delete of a containerd record (an image record, a
// lease) of edgewright's that nothing needs; else the refusal.
func (p *fixPlanner) deleteOwned(f Fix, reason string, labels map[string]string, what string, needed func() string) ([]remodel.ID, string) {
	if labels[layout.OwnerLabel] != layout.OwnerValue {
		return nil, what + " is not edgewright's"
	}
	if why := needed(); why != "" {
		return nil, why
	}
	return []remodel.ID{p.add(remodel.Remodel{ID: remodel.NewID(remodel.ActionDelete, f.Target), Action: remodel.ActionDelete,
		Target: f.Target, Reason: reason, Payload: &remodel.DeletePayload{}})}, ""
}
