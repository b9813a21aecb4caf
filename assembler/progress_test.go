package assembler

import (
	"testing"

	"github.com/edgewright/edgewright/materials"
)

// TestProgressGateMonotone: whatever the fetcher reports (a chunked
// download's written and fetched counts from several goroutines, a
// fall-back to the whole blob that restarts from zero or grows the bytes
// to fetch), the events let through never go back in Done or Fetched, so
// a percentage of Done over Known never goes down, and the last report
// of each is let through.
func TestProgressGateMonotone(t *testing.T) {
	const mib = 1 << 20
	type in struct{ done, known, fetched, toFetch int64 }
	tests := []struct {
		name string
		in   []in
		// last is the final event's counts.
		last in
	}{
		{name: "chunked", in: []in{{0, 8 * mib, 0, mib}, {2 * mib, 8 * mib, mib / 2, mib}, {2 * mib, 8 * mib, mib, mib}, {8 * mib, 8 * mib, mib, mib}},
			last: in{8 * mib, 8 * mib, mib, mib}},
		{name: "fall-back resumes after the chunks written", in: []in{{0, 8 * mib, 0, mib}, {3 * mib, 8 * mib, mib / 2, mib},
			{3 * mib, 8 * mib, mib / 2, mib/2 + 5*mib}, {5 * mib, 8 * mib, mib/2 + 2*mib, mib/2 + 5*mib}, {8 * mib, 8 * mib, mib/2 + 5*mib, mib/2 + 5*mib}},
			last: in{8 * mib, 8 * mib, mib/2 + 5*mib, mib/2 + 5*mib}},
		{name: "fall-back restarts from zero", in: []in{{0, 8 * mib, 0, mib}, {6 * mib, 8 * mib, mib, mib},
			{0, 8 * mib, mib, mib + 8*mib}, {3 * mib, 8 * mib, 4 * mib, 9 * mib}, {8 * mib, 8 * mib, 9 * mib, 9 * mib}},
			last: in{8 * mib, 8 * mib, 9 * mib, 9 * mib}},
		{name: "reports out of order from two goroutines", in: []in{{0, 8 * mib, 0, mib}, {4 * mib, 8 * mib, mib, mib}, {2 * mib, 8 * mib, mib / 2, mib},
			{8 * mib, 8 * mib, mib, mib}},
			last: in{8 * mib, 8 * mib, mib, mib}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []Event
			g := newProgressGate(func(e Event) { got = append(got, e) })
			for _, i := range tc.in {
				g.emit(Event{Kind: materials.KindContentTree, ID: "ct", Done: i.done, Known: i.known, Fetched: i.fetched, ToFetch: i.toFetch})
			}
			pct := int64(-1)
			for k, e := range got {
				if k > 0 && (e.Done < got[k-1].Done || e.Fetched < got[k-1].Fetched) {
					t.Errorf("event %d went back: %+v after %+v", k, e, got[k-1])
				}
				if p := e.Done * 100 / e.Known; p < pct {
					t.Errorf("event %d: %d%% after %d%%", k, p, pct)
				} else {
					pct = p
				}
			}
			if len(got) == 0 {
				t.Fatal("no event")
			}
			if e := got[len(got)-1]; (in{e.Done, e.Known, e.Fetched, e.ToFetch}) != tc.last {
				t.Errorf("last event %+v, want %+v", e, tc.last)
			}
		})
	}
}
