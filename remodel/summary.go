package remodel

import (
	"sort"
	"strconv"
	"strings"
)

// Summarize counts a plan's remodels by action and its held remodels by
// code, adds up their bytes and the peak of extra disk (in the plan's
// order, as disk admission charged them), and writes the summary line,
// e.g. "Plan: 2 to download, 3 to create, 1 to purge, 1 to delete, 2 held."
func Summarize(p *Plan) Summary {
	s := Summary{Counts: map[Action]int{}, Held: len(p.Held), HeldByCode: map[HoldCode]int{}}
	var extra int64
	for i := range p.Remodels {
		r := &p.Remodels[i]
		s.Counts[r.Action]++
		s.BytesToWrite += r.Bytes
		if r.Action == ActionDownload {
			if pl, ok := r.Payload.(*DownloadPayload); ok {
				s.BytesToDownload += pl.FetchBytes(r)
			} else {
				s.BytesToDownload += r.Bytes
			}
		}
		if r.Action.ChargesDisk() {
			extra += r.Bytes - r.Reclaims
			s.PeakExtraDiskBytes = max(s.PeakExtraDiskBytes, extra)
		}
	}
	for _, h := range p.Held {
		s.HeldByCode[h.Code]++
	}
	var parts []string
	for _, a := range Actions {
		if n := s.Counts[a]; n > 0 {
			f, _ := a.Facts()
			parts = append(parts, strconv.Itoa(n)+" "+f.Phrase)
		}
	}
	// Actions outside the known list still get counted, in name order.
	var odd []string
	for a := range s.Counts {
		if _, ok := a.Facts(); !ok {
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
