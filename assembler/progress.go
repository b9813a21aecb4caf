package assembler

import (
	"sync"

	"github.com/edgewright/edgewright/materials"
)

// progressGate keeps events monotone per material and thins them out: a
// restart from zero (a server that ignored Range, a chunked download that
// falls back to the whole blob) stays silent until it passes the bytes
// already reported, and the bytes fetched of a chunked download never go
// back either.
type progressGate struct {
	mu   sync.Mutex
	sink func(Event)
	last map[materials.MaterialRef]Event
}

const progressStep = 256 << 10

func newProgressGate(sink func(Event)) *progressGate {
	return &progressGate{sink: sink, last: map[materials.MaterialRef]Event{}}
}

func (g *progressGate) emit(e Event) {
	if g == nil || g.sink == nil {
		return
	}
	g.mu.Lock()
	ref := materials.MaterialRef{Kind: e.Kind, ID: e.ID}
	last, seen := g.last[ref]
	if seen {
		// A count that goes back (a restart from zero) is held at what
		// was reported until it passes it; the other count still moves.
		if e.Done < last.Done {
			e.Done, e.Known = last.Done, last.Known
		}
		e.Fetched = max(e.Fetched, last.Fetched)
	}
	send := !seen || moved(last.Done, e.Done, e.Known) || e.Known != last.Known && e.Known >= e.Done ||
		moved(last.Fetched, e.Fetched, e.ToFetch) || e.ToFetch != last.ToFetch && e.ToFetch >= e.Fetched
	if send {
		// Under the lock: events of one material come from several
		// goroutines (a chunked download's fetches), and the sink must
		// see them in the order they were let through.
		g.last[ref] = e
		g.sink(e)
	}
	g.mu.Unlock()
}

// moved: a count went from last to now by a step, or reached its total.
func moved(last, now, total int64) bool {
	return now > last && (now-last >= progressStep || total > 0 && now >= total)
}

// ProgressTo adapts a channel to Options.Progress. Sends block, so the
// reader must keep up (or be buffered): an event is never dropped, so the
// last one of each material is always its final count.
func ProgressTo(ch chan<- Event) func(Event) {
	return func(e Event) { ch <- e }
}
