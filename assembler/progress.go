package assembler

import (
	"sync"

	"github.com/edgewright/edgewright/materials"
)

// progressGate keeps events monotone per material and thins them out: a
// restart from zero (a server that ignored Range) stays silent until it
// passes the bytes already reported.
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
	send := false
	switch {
	case !seen:
		send = true
	case e.Done < last.Done:
	case e.Done == last.Done:
		send = e.Known != last.Known && e.Known >= e.Done
	default:
		send = e.Done-last.Done >= progressStep || (e.Known > 0 && e.Done >= e.Known) || e.Known != last.Known
	}
	if send {
		g.last[ref] = e
	}
	g.mu.Unlock()
	if send {
		g.sink(e)
	}
}

// ProgressTo adapts a channel to Options.Progress. Sends block, so the
// reader must keep up (or be buffered): an event is never dropped, so the
// last one of each material is always its final count.
func ProgressTo(ch chan<- Event) func(Event) {
	return func(e Event) { ch <- e }
}
