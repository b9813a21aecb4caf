package foreman

import (
	"cmp"
	"slices"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// order gives every candidate its stage (longest path from a remodel with
// no dependencies, starting at 1) and sorts them by (stage, action
// precedence, id): dependencies always come first.
func (p *planner) order() {
	var depth func(n *node) int
	depth = func(n *node) int {
		if n.stage > 0 {
			return n.stage
		}
		n.stage = -1 // on the stack; the graph is acyclic by construction
		s := 1
		for _, d := range n.deps {
			if d.stage == -1 {
				continue
			}
			if ds := depth(d) + 1; ds > s {
				s = ds
			}
		}
		n.stage = s
		return s
	}
	for _, n := range p.nodes {
		depth(n)
	}
	p.nodes = sortNodes(p.nodes)
}

// sortNodes orders nodes by stage, then action precedence, then ID. IDs
// are unique, so the order is total.
func sortNodes(nodes []*node) []*node {
	slices.SortFunc(nodes, func(a, b *node) int {
		return cmp.Or(cmp.Compare(a.stage, b.stage), cmp.Compare(a.r.Action.Precedence(), b.r.Action.Precedence()), strings.Compare(string(a.r.ID), string(b.r.ID)))
	})
	return nodes
}

// guard walks the ordered candidates and holds back, with a reason, those
// a guard stops: a held dependency, a hold Addition, a Limitation, an
// invalid Blueprint (destructive remodels), withheld and protected
// materials, the mass-delete guard, the grace period, and disk admission.
func (p *planner) guard() {
	if p.treeGuards {
		p.treeClosures()
		for _, n := range p.nodes {
			if n.r.Target.Kind == materials.KindBlob {
				for _, t := range p.blobTrees[digest.Digest(n.r.Target.ID)] {
					n.guards = append(n.guards, materials.MaterialRef{Kind: materials.KindContentTree, ID: t})
				}
			}
		}
	}
	mass := p.massDelete()
	var known bool
	p.budget, known = budget(p.opts.Space)
	for _, n := range p.nodes {
		code, reason := p.why(n, mass)
		if reason == "" && known {
			code, reason = remodel.HoldNoSpace, p.admit(n)
		} else if pp, purge := remodel.PayloadOf[*remodel.PurgePayload](&n.r); reason == "" && purge {
			pp.Strategy = remodel.MakeBeforeBreak
			n.r.Reason += "; make-before-break (free space unknown)"
		}
		if reason != "" {
			n.held = true
			p.holdDirect(n.r.ID, n.r.Action, n.r.Target, code, reason)
			continue
		}
		// What admission credited, so the plan's summary charges the
		// same (whether or not the free space was known).
		n.r.Reclaims = min(n.reclaims, n.r.Bytes)
		if pp, purge := remodel.PayloadOf[*remodel.PurgePayload](&n.r); purge && pp.Strategy == remodel.BreakBeforeMake {
			n.r.Reclaims += n.frees
		}
	}
}

// why is the guard that holds n, as a code and a sentence ("" when none).
func (p *planner) why(n *node, mass string) (remodel.HoldCode, string) {
	for _, d := range n.deps {
		if d.held {
			return remodel.HoldDependsOnHeld, "waits for held " + string(d.r.ID)
		}
	}
	for _, a := range p.hold {
		if n.covers(a.Target) {
			return remodel.HoldAddition, "held by a local addition" + reasonSuffix(a.Reason)
		}
	}
	for _, l := range p.opts.Limitations {
		if (l.Action == "" || l.Action == n.r.Action) && (l.Target == nil || n.covers(*l.Target)) {
			if l.Reason != "" {
				return remodel.HoldLimitation, "limited: " + l.Reason
			}
			return remodel.HoldLimitation, "limited by option"
		}
	}
	if !n.r.Action.Destructive() {
		return "", ""
	}
	return p.whyNotDestroy(n, mass)
}

// whyNotDestroy is the guard of the destructive remodels that holds n.
func (p *planner) whyNotDestroy(n *node, mass string) (remodel.HoldCode, string) {
	if !p.valid {
		return remodel.HoldInvalidBlueprint, "blueprint is incomplete or has errors: no destructive remodel"
	}
	if p.surveyGap != "" {
		return remodel.HoldSurveyIncomplete, p.surveyGap
	}
	for _, w := range p.withheld {
		if n.covers(w) || (w.Kind == materials.KindApp && n.app != "" && n.app == w.ID) {
			return remodel.HoldWithheld, "withheld: the config names " + w.String() + " but an error kept it out of the blueprint"
		}
	}
	for _, a := range p.protect {
		if n.covers(a.Target) {
			return remodel.HoldAddition, "protected by a local addition" + reasonSuffix(a.Reason)
		}
	}
	if n.drop && mass != "" {
		return remodel.HoldMassDelete, mass
	}
	if n.grace && p.unresolved != "" {
		return remodel.HoldWaitingForContent, p.unresolved
	}
	if n.grace && !(n.partial && p.opts.CleanUp) {
		if until := n.since.Add(p.opts.GracePeriod); p.now.Before(until) {
			return remodel.HoldGracePeriod, "grace period until " + fmtTime(until) + " (unreferenced since " + fmtTime(n.since) + ")"
		}
	}
	return "", ""
}

// admit charges a remodel's bytes to the free-space budget, choosing a
// purge's strategy on the way. It returns the reason when it does not fit.
func (p *planner) admit(n *node) string {
	need := max(n.r.Bytes-n.reclaims, 0)
	if pp, purge := remodel.PayloadOf[*remodel.PurgePayload](&n.r); purge {
		old := "generation " + itoa(pp.Replaces.Generation)
		if need <= p.budget {
			pp.Strategy = remodel.MakeBeforeBreak
			n.r.Reason += "; make-before-break: " + remodel.Bytes(p.budget) + " free covers the new generation's " + remodel.Bytes(need)
			p.budget -= need
			return ""
		}
		if need <= p.budget+n.frees {
			pp.Strategy = remodel.BreakBeforeMake
			n.r.Reason += "; break-before-make: only " + remodel.Bytes(p.budget) + " free and the new generation needs " + remodel.Bytes(need) + ", so " + old + " (" + remodel.Bytes(n.frees) + ") is deleted first"
			p.budget += n.frees - need
			return ""
		}
		return "needs " + remodel.Bytes(need) + ", " + remodel.Bytes(p.budget) + " free (" + remodel.Bytes(p.budget+n.frees) + " even after deleting " + old + " first)"
	}
	if n.r.Action.ChargesDisk() {
		if need > p.budget {
			return "needs " + remodel.Bytes(need) + ", " + remodel.Bytes(p.budget) + " free"
		}
		p.budget -= need
	}
	return ""
}

// massDelete returns the hold reason when the plan's volume drops exceed
// the allowed share of present volumes, or "" when they do not.
func (p *planner) massDelete() string {
	if p.opts.AllowMassDelete {
		return ""
	}
	// Only drops no other guard holds count: a withheld or protected
	// volume is not going to be deleted anyway.
	drops := 0
	for _, n := range p.nodes {
		if _, why := p.why(n, ""); n.drop && why == "" {
			drops++
		}
	}
	if drops == 0 {
		return ""
	}
	present := p.facts.presentVolumes()
	share := p.opts.MassDeleteShare
	if share <= 0 {
		share = DefaultMassDeleteShare
	}
	if drops < present && float64(drops) <= share*float64(present) {
		return ""
	}
	if drops >= present {
		return "mass delete: the plan would delete all " + itoa(int64(present)) + " volumes; pass --allow-mass-delete (AllowMassDelete in the library's options) to let it through"
	}
	pct := strings.TrimSuffix(strings.TrimRight(formatFloat(share*100), "0"), ".")
	return "mass delete: the plan would delete " + itoa(int64(drops)) + " of " + itoa(int64(present)) +
		" volumes, more than " + pct + "%; pass --allow-mass-delete (AllowMassDelete in the library's options) to let it through"
}

// treeClosures adds to blobTrees the blobs of content trees a guard names
// that the Blueprint does not need (withheld, or dropped but protected),
// from the last applied Blueprint and the floorplan's children.
func (p *planner) treeClosures() {
	var refs []string
	add := func(r materials.MaterialRef) {
		if r.Kind == materials.KindContentTree {
			refs = append(refs, r.ID)
		}
	}
	for _, a := range p.protect {
		add(a.Target)
	}
	for _, a := range p.hold {
		add(a.Target)
	}
	for _, w := range p.withheld {
		add(w)
	}
	for _, l := range p.opts.Limitations {
		if l.Target != nil {
			add(*l.Target)
		}
	}
	sort.Strings(refs)
	for _, id := range refs {
		if p.facts.tree(id) != nil {
			continue // a desired tree: walked already
		}
		t := p.facts.lastTree(id)
		if t == nil {
			continue
		}
		top, _ := p.facts.topDigest(t)
		if top == "" {
			continue
		}
		seen := map[digest.Digest]bool{}
		stack := []digest.Digest{top}
		for len(stack) > 0 {
			d := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[d] {
				continue
			}
			seen[d] = true
			p.blobTrees[d] = append(p.blobTrees[d], id)
			if r := p.facts.blobState(d).any; r != nil {
				stack = append(stack, r.Children...)
			}
		}
	}
}

// finish turns the guarded candidates into the Plan, sorted throughout.
func (p *planner) finish() *remodel.Plan {
	out := &remodel.Plan{
		Fingerprint:  p.fp.Fingerprint,
		MadeAt:       p.now,
		Remodels:     p.remodels(),
		Held:         p.sortedHeld(),
		Unreferenced: p.graceClocks(),
		Tops:         p.tops(),
		Diagnostics:  p.sortedDiags(),
	}
	if out.Fingerprint == "" {
		out.Fingerprint = materials.Fingerprint(p.fp)
	}
	out.Summary = remodel.Summarize(out)
	return out
}

// remodels are the candidates no guard held, in plan order, each with its
// stage and its dependencies in plan order.
func (p *planner) remodels() []remodel.Remodel {
	for i, n := range p.nodes {
		n.pos = int32(i)
	}
	out := make([]remodel.Remodel, 0, len(p.nodes))
	for _, n := range p.nodes {
		if n.held {
			continue
		}
		r := n.r
		r.Stage = n.stage
		deps := slices.Clone(n.deps)
		slices.SortFunc(deps, func(a, b *node) int { return cmp.Compare(a.pos, b.pos) })
		r.DependsOn = make([]remodel.ID, len(deps))
		for i, d := range deps {
			r.DependsOn[i] = d.r.ID
		}
		out = append(out, r)
	}
	return out
}

// sortedHeld orders the held remodels by action precedence, id, reason.
func (p *planner) sortedHeld() []remodel.Held {
	sort.Slice(p.held, func(i, j int) bool {
		a, b := p.held[i], p.held[j]
		if pa, pb := a.Action.Precedence(), b.Action.Precedence(); pa != pb {
			return pa < pb
		}
		if a.RemodelID != b.RemodelID {
			return a.RemodelID < b.RemodelID
		}
		return a.Reason < b.Reason
	})
	if p.held == nil {
		return []remodel.Held{}
	}
	return p.held
}

// graceClocks are the clocks the journal should hold afterwards. On an
// incomplete Blueprint nothing is known to be unneeded, so the journal's
// clocks are carried over as they are; otherwise clocks of materials
// needed again (or gone) are dropped.
func (p *planner) graceClocks() []materials.Unreferenced {
	unref := p.unref
	if p.fp.Journal != nil {
		for _, u := range p.fp.Journal.Unreferenced {
			ours := u.Target.Kind == materials.KindBlob || u.Target.Kind == materials.KindImage || u.Target.Kind == materials.KindContentTree
			if (!p.valid || !ours) && !p.unrefd[u.Target] {
				p.unrefd[u.Target] = true
				unref = append(unref, u)
			}
		}
	}
	sort.Slice(unref, func(i, j int) bool {
		a, b := unref[i].Target, unref[j].Target
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.ID < b.ID
	})
	return unref
}

// sortedDiags orders the diagnostics by path, message, value.
func (p *planner) sortedDiags() materials.Diagnostics {
	sort.SliceStable(p.diags, func(i, j int) bool {
		a, b := p.diags[i], p.diags[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		if a.Message != b.Message {
			return a.Message < b.Message
		}
		return a.Value < b.Value
	})
	if p.diags == nil {
		return materials.Diagnostics{}
	}
	return p.diags
}

func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return ": " + r
}
