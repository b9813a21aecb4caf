package check

import (
	"sort"
	"strings"
	"time"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// Selection names the fixes of a Report to run: IDs, or All (of Type
// when Type is set).
type Selection struct {
	IDs  []string
	All  bool
	Type Type
}

// UnknownFixError: fixes named that the check does not list (fixed
// already, or never found).
type UnknownFixError struct{ IDs []string }

func (e *UnknownFixError) Error() string {
	return "the check lists no fix " + strings.Join(e.IDs, ", ") + " (fixed already, or not found on this root)"
}

// FixStages is one fix the plan carries out: its remodels in the order
// they run, stage 1 first.
type FixStages struct {
	Fix      Fix          `json:"fix"`
	Remodels []remodel.ID `json:"remodels"`
}

// Skipped is a chosen fix the plan does nothing for, and why.
type Skipped struct {
	Fix Fix    `json:"fix"`
	Why string `json:"why"`
}

// FixPlan is what PlanFixes makes of the chosen fixes.
type FixPlan struct {
	// Plan is for the assembler: its remodels are the fixes' stages.
	// It carries the journal's grace clocks as they are (a delete drops
	// its own) and no checkpoint: a fix run is not an apply of a config.
	Plan *remodel.Plan `json:"plan"`
	// Fixes are the fixes run, by ID.
	Fixes []FixStages `json:"fixes"`
	// Reported are chosen fixes nothing is done for automatically
	// (RemedyReport: an unknown file, damage with no known content).
	Reported []Skipped `json:"reported"`
	// Refused are chosen fixes the trust rule holds: they would delete
	// what the last applied config or an overlay needs.
	Refused []Skipped `json:"refused"`
}

// PlanFixes turns the fixes sel chooses from rep, a check of fp (a fresh
// survey), into a plan of remodels: deletes for clean, a download for a
// re-fetch, a recreate (after a download of the content when its blob is
// gone), and repair-leaks, sparsify, flatten or merge in place. It is
// pure. A fix named that rep does not list is an *UnknownFixError naming
// each. Nothing the last applied config, a Blueprint of needs (the
// config the runner was given) or an overlay's chain needs is ever
// deleted, whatever a fix says: such a fix is Refused.
func PlanFixes(fp *materials.Floorplan, rep Report, sel Selection, now time.Time, needs ...*materials.Blueprint) (*FixPlan, error) {
	chosen, err := choose(rep, sel)
	if err != nil {
		return nil, err
	}
	p := newFixPlanner(fp, rep.opts)
	p.needs = needs
	for _, bp := range needs {
		for _, t := range bp.ContentTrees {
			if d := t.Digest(); d != "" {
				p.neededBlobs[string(d)] = true
			}
		}
	}
	out := &FixPlan{Fixes: []FixStages{}, Reported: []Skipped{}, Refused: []Skipped{}}
	for _, f := range chosen {
		if f.Remedy == RemedyReport || f.Remedy == "" {
			out.Reported = append(out.Reported, Skipped{Fix: f, Why: "reported only: " + f.Reason})
			continue
		}
		ids, why := p.plan(f)
		if why != "" {
			out.Refused = append(out.Refused, Skipped{Fix: f, Why: why})
			continue
		}
		out.Fixes = append(out.Fixes, FixStages{Fix: f, Remodels: ids})
	}
	// Stage by stage (a recreate after the download it needs), each in
	// the action table's order.
	sort.SliceStable(p.remodels, func(i, j int) bool {
		a, b := &p.remodels[i], &p.remodels[j]
		if a.Stage != b.Stage {
			return a.Stage < b.Stage
		}
		return a.Action.Precedence() < b.Action.Precedence()
	})
	plan := &remodel.Plan{Fingerprint: fp.Fingerprint, MadeAt: now, Remodels: p.remodels, Held: []remodel.Held{}}
	if fp.Journal != nil {
		plan.Unreferenced = append([]materials.Unreferenced(nil), fp.Journal.Unreferenced...)
	}
	if plan.Remodels == nil {
		plan.Remodels = []remodel.Remodel{}
	}
	plan.Summary = remodel.Summarize(plan)
	out.Plan = plan
	return out, nil
}

// choose is the fixes sel names, in rep's order.
func choose(rep Report, sel Selection) ([]Fix, error) {
	if sel.All {
		var out []Fix
		for _, f := range rep.Fixes {
			if sel.Type == "" || f.Type == sel.Type {
				out = append(out, f)
			}
		}
		return out, nil
	}
	byID := map[string]Fix{}
	for _, f := range rep.Fixes {
		byID[f.ID] = f
	}
	want := map[string]bool{}
	var unknown []string
	for _, id := range sel.IDs {
		if _, ok := byID[id]; !ok {
			unknown = append(unknown, id)
		}
		want[id] = true
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, &UnknownFixError{IDs: unknown}
	}
	var out []Fix
	for _, f := range rep.Fixes {
		if want[f.ID] {
			out = append(out, f)
		}
	}
	return out, nil
}
