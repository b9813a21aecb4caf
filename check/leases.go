package check

import (
	"strconv"

	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// leakedLeases is the clean rule for containerd leases edgewright made
// (layout.OwnerLabel). A content tree's lease lives while the tree is
// downloaded and goes when the tree is sealed into its image record; one
// that outlives that (a seal whose release failed, a download stopped and
// its tree dropped) keeps the blobs it holds from containerd's collector
// until it expires. Bytes are those of its blobs no image record holds:
// what the collector may then take.
func (c *checker) leakedLeases() []Fix {
	var out []Fix
	for i := range c.fp.Leases {
		l := &c.fp.Leases[i]
		if l.Labels[layout.OwnerLabel] != layout.OwnerValue || c.leaseNeeded(l, nil) != "" {
			continue
		}
		old, age := c.stale(l.CreatedAt)
		if !old {
			continue
		}
		why := "its content tree " + strconv.Quote(l.Labels[layout.ContentTreeLabel]) + " is not in the last applied config"
		if c.sealed(l) {
			why = "its content tree's image record holds the tree now"
		}
		out = append(out, newFix(TypeClean, materials.MaterialRef{Kind: materials.KindLease, ID: l.ID}, c.leaseOnly(l), RemedyDelete,
			"leaked containerd lease of "+blobsWords(len(l.Blobs))+": "+why+"; "+age+", "+c.journalWords()+
				"; the blobs only it held are left to containerd's collector"))
	}
	return out
}

func blobsWords(n int) string {
	if n == 1 {
		return "1 blob"
	}
	return strconv.Itoa(n) + " blobs"
}

// leaseNeeded says why lease l must stay ("" when nothing needs it): a
// download of one of its blobs is in flight, its tree is still being
// downloaded for the last applied config or a Blueprint of needs, or it
// alone keeps a blob an overlay reads through.
func (c *checker) leaseNeeded(l *materials.LeaseRecord, needs []*materials.Blueprint) string {
	tree := l.Labels[layout.ContentTreeLabel]
	if c.inflight[materials.MaterialRef{Kind: materials.KindContentTree, ID: tree}] {
		return "lease " + l.ID + ": content tree " + tree + " is in flight"
	}
	for _, d := range l.Blobs {
		if c.inflight[materials.MaterialRef{Kind: materials.KindBlob, ID: string(d)}] {
			return "lease " + l.ID + ": the download of its blob " + string(d) + " is in flight"
		}
		if c.backing[string(d)] && !c.imageHeld[string(d)] {
			return "lease " + l.ID + " alone keeps blob " + string(d) + " from containerd's collector, and an overlay reads through it"
		}
	}
	if c.sealed(l) {
		return ""
	}
	if c.lastTrees[tree] != nil {
		return "lease " + l.ID + " holds the last applied config's content tree " + tree + " while it is downloaded"
	}
	for _, bp := range needs {
		for _, t := range bp.ContentTrees {
			if t.ID == tree {
				return "lease " + l.ID + " holds content tree " + tree + " of the config given while it is downloaded"
			}
		}
	}
	return ""
}

// sealed says whether an image record of edgewright's names l's tree.
func (c *checker) sealed(l *materials.LeaseRecord) bool {
	return c.sealedTrees[l.Labels[layout.ContentTreeLabel]]
}

// leaseOnly is the size of l's complete blobs no image record holds.
func (c *checker) leaseOnly(l *materials.LeaseRecord) int64 {
	var n int64
	for _, d := range l.Blobs {
		if !c.imageHeld[string(d)] {
			n += c.blobSize[string(d)]
		}
	}
	return n
}

// deleteLease is the clean of a lease, refused when the lease is needed
// after all.
func (p *fixPlanner) deleteLease(f Fix, reason string) ([]remodel.ID, string) {
	for i := range p.c.fp.Leases {
		if l := &p.c.fp.Leases[i]; l.ID == f.Target.ID {
			return p.deleteOwned(f, reason, l.Labels, "lease "+l.ID, func() string { return p.c.leaseNeeded(l, p.needs) })
		}
	}
	return nil, "containerd holds no lease " + f.Target.ID + " any more"
}
