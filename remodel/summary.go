package remodel

import (
	"sort"
	"strconv"
	"strings"
)

// phrase is how the summary line names each action's count.
var phrase = map[Action]string{
	ActionResolve:  "to resolve",
	ActionDownload: "to download",
	ActionVerify:   "to verify",
	ActionAdopt:    "to adopt",
	ActionCreate:   "to create",
	ActionPurge:    "to purge",
	ActionResize:   "to resize",
	ActionDelete:   "to delete",
}

// Precedence is the action's place in Actions (earlier runs first when
// nothing else orders two remodels); unknown actions sort last.
func (a Action) Precedence() int {
	for i, b := range Actions {
		if a == b {
			return i
		}
	}
	return len(Actions)
}

// Summarize counts a plan's remodels by action and its held remodels, and
// writes the summary line, e.g.
// "Plan: 2 to download, 3 to create, 1 to purge, 1 to delete, 2 held."
func Summarize(p *Plan) Summary {
	s := Summary{Counts: map[Action]int{}, Held: len(p.Held)}
	for i := range p.Remodels {
		s.Counts[p.Remodels[i].Action]++
	}
	var parts []string
	for _, a := range Actions {
		if n := s.Counts[a]; n > 0 {
			parts = append(parts, strconv.Itoa(n)+" "+phrase[a])
		}
	}
	// Actions outside the known list still get counted, in name order.
	var odd []string
	for a := range s.Counts {
		if _, ok := phrase[a]; !ok {
			odd = append(odd, string(a))
		}
	}
	sort.Strings(odd)
	for _, a := range odd {
		parts = append(parts, strconv.Itoa(s.Counts[Action(a)])+" to "+a)
	}
	if len(parts) == 0 {
		parts = append(parts, "no changes")
	}
	if s.Held > 0 {
		parts = append(parts, strconv.Itoa(s.Held)+" held")
	}
	s.Text = "Plan: " + strings.Join(parts, ", ") + "."
	return s
}
