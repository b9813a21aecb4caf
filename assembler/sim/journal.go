package sim

import (
	"context"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/journal"
	"github.com/edgewright/edgewright/materials"
)

// historyLimit is package journal's default bound on kept history.
const historyLimit = 4096

// journalState is the device's journal, kept across sessions and crashes
// as the bbolt file is.
type journalState struct {
	intents      map[string]journal.Intent
	history      []journal.Record
	unreferenced map[materials.MaterialRef]time.Time
	latches      map[string]materials.TagLatch
	lastApplied  *materials.Blueprint
	usage        map[materials.MaterialRef]materials.Usage
	// lineage is keyed as package journal keys it: app, snapshot, volume.
	lineage map[lineageKey]materials.SnapshotLineage
	dense   map[string]materials.DenseFile
}

type lineageKey struct {
	app, snap string
	vol       materials.VolumeKey
}

func newJournalState() *journalState {
	return &journalState{intents: map[string]journal.Intent{}, unreferenced: map[materials.MaterialRef]time.Time{},
		latches: map[string]materials.TagLatch{}, usage: map[materials.MaterialRef]materials.Usage{},
		lineage: map[lineageKey]materials.SnapshotLineage{}, dense: map[string]materials.DenseFile{}}
}

// simJournal is one session's handle on the device's journal. Every write
// goes through write, which refuses after a crash and then calls the
// session's fault hook, as a durable bbolt commit would.
type simJournal struct {
	// wmu orders writes and their hook calls, as bbolt's one writer does.
	wmu        sync.Mutex
	d          *Device
	afterWrite func(int)
	writes     int
	closed     bool
}

var _ device.Journal = (*simJournal)(nil)

// write runs fn on the journal under the device lock, then the hook.
func (j *simJournal) write(fn func(s *journalState)) error {
	j.wmu.Lock()
	defer j.wmu.Unlock()
	d := j.d
	d.mu.Lock()
	if err := d.alive(); err != nil {
		d.mu.Unlock()
		return err
	}
	fn(d.journal)
	j.writes++
	n := j.writes
	d.mu.Unlock()
	if j.afterWrite != nil {
		j.afterWrite(n)
	}
	return nil
}

func (j *simJournal) read(fn func(s *journalState)) error {
	j.d.mu.Lock()
	defer j.d.mu.Unlock()
	if err := j.d.alive(); err != nil {
		return err
	}
	fn(j.d.journal)
	return nil
}

func (j *simJournal) Begin(in journal.Intent) error {
	return j.write(func(s *journalState) { s.intents[in.RemodelID] = in })
}

func (j *simJournal) Finish(in journal.Intent, outcome journal.Outcome, errText string, at time.Time) error {
	d := j.d
	return j.write(func(s *journalState) {
		delete(s.intents, in.RemodelID)
		s.history = append(s.history, journal.Record{Intent: in, Outcome: outcome, Error: errText, FinishedAt: at})
		if over := len(s.history) - d.historyLimit; over > 0 {
			// Drop the oldest in place: no new slice per finish.
			n := copy(s.history, s.history[over:])
			clear(s.history[n:])
			s.history = s.history[:n]
		}
	})
}

func (j *simJournal) Intents() ([]journal.Intent, error) {
	var out []journal.Intent
	err := j.read(func(s *journalState) { out = s.sortedIntents() })
	return out, err
}

func (s *journalState) sortedIntents() []journal.Intent {
	var out []journal.Intent
	for _, in := range s.intents {
		out = append(out, in)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].RemodelID < out[b].RemodelID })
	return out
}

// DropIntents writes only when there is something to drop, as the real
// journal does (the fault hook counts writes).
func (j *simJournal) DropIntents(keepApply string) (int, error) {
	var drop []string
	if err := j.read(func(s *journalState) {
		for id, in := range s.intents {
			if in.ApplyID != keepApply {
				drop = append(drop, id)
			}
		}
	}); err != nil || len(drop) == 0 {
		return 0, err
	}
	return len(drop), j.write(func(s *journalState) {
		for _, id := range drop {
			delete(s.intents, id)
		}
	})
}

func (j *simJournal) History() ([]journal.Record, error) {
	var out []journal.Record
	err := j.read(func(s *journalState) { out = append(out, s.history...) })
	return out, err
}

// UpdateUnreferenced: the earliest Since wins; writes only on a change.
func (j *simJournal) UpdateUnreferenced(add []materials.Unreferenced, clear []materials.MaterialRef) error {
	changed := false
	if err := j.read(func(s *journalState) {
		for _, u := range add {
			if old, ok := s.unreferenced[u.Target]; !ok || u.Since.Before(old) {
				changed = true
			}
		}
		for _, r := range clear {
			if _, ok := s.unreferenced[r]; ok {
				changed = true
			}
		}
	}); err != nil || !changed {
		return err
	}
	return j.write(func(s *journalState) {
		for _, r := range clear {
			delete(s.unreferenced, r)
		}
		for _, u := range add {
			if old, ok := s.unreferenced[u.Target]; !ok || u.Since.Before(old) {
				s.unreferenced[u.Target] = u.Since
			}
		}
	})
}

// ReplaceUnreferenced makes the clocks list, each keeping its earlier
// Since; writes only on a change.
func (j *simJournal) ReplaceUnreferenced(list []materials.Unreferenced) error {
	var want map[materials.MaterialRef]time.Time
	changed := false
	if err := j.read(func(s *journalState) {
		want = make(map[materials.MaterialRef]time.Time, len(list))
		for _, u := range list {
			since := u.Since
			if old, ok := s.unreferenced[u.Target]; ok && old.Before(since) {
				since = old
			}
			if prev, ok := want[u.Target]; ok && prev.Before(since) {
				since = prev
			}
			want[u.Target] = since
		}
		changed = len(want) != len(s.unreferenced)
		for r, t := range want {
			if old, ok := s.unreferenced[r]; !ok || !old.Equal(t) {
				changed = true
			}
		}
	}); err != nil || !changed {
		return err
	}
	return j.write(func(s *journalState) { s.unreferenced = want })
}

func (j *simJournal) Unreferenced() ([]materials.Unreferenced, error) {
	var out []materials.Unreferenced
	err := j.read(func(s *journalState) { out = s.sortedUnreferenced() })
	return out, err
}

func (s *journalState) sortedUnreferenced() []materials.Unreferenced {
	var out []materials.Unreferenced
	for r, t := range s.unreferenced {
		out = append(out, materials.Unreferenced{Target: r, Since: t})
	}
	sort.Slice(out, func(a, b int) bool { return refLess(out[a].Target, out[b].Target) })
	return out
}

// refLess orders refs as the journal's bucket keys (kind, NUL, id) sort:
// by kind, then id.
func refLess(a, b materials.MaterialRef) bool {
	if a.Kind != b.Kind {
		return a.Kind < b.Kind
	}
	return a.ID < b.ID
}

func (j *simJournal) PutLatch(l materials.TagLatch) error {
	return j.write(func(s *journalState) { s.latches[latchKey(l.ContentTree, l.Generation)] = l })
}

func latchKey(ct string, gen int64) string { return ct + "#" + itoa(gen) }

func (j *simJournal) Latches() ([]materials.TagLatch, error) {
	var out []materials.TagLatch
	err := j.read(func(s *journalState) { out = s.sortedLatches() })
	return out, err
}

func (s *journalState) sortedLatches() []materials.TagLatch {
	keys := make([]string, 0, len(s.latches))
	for k := range s.latches {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []materials.TagLatch
	for _, k := range keys {
		out = append(out, s.latches[k])
	}
	return out
}

// Checkpoint records bp (which the caller must not change afterwards:
// the sim keeps it, where bbolt keeps its JSON) and the usage it implies;
// the same Blueprint again writes nothing.
func (j *simJournal) Checkpoint(bp *materials.Blueprint, now time.Time) error {
	same := false
	if err := j.read(func(s *journalState) { same = s.lastApplied != nil && sameBlueprint(s.lastApplied, bp) }); err != nil || same {
		return err
	}
	refs := journal.RefCounts(bp)
	return j.write(func(s *journalState) {
		s.lastApplied = bp
		if len(s.usage) == 0 {
			s.usage = make(map[materials.MaterialRef]materials.Usage, len(refs)) // sized once, not grown
		}
		_, stale := journal.LiveLatches(bp, s.sortedLatches())
		for _, l := range stale {
			delete(s.latches, latchKey(l.ContentTree, l.Generation))
		}
		if len(s.dense) > 0 {
			_, gone := journal.LiveDense(bp, slices.Collect(maps.Values(s.dense)))
			for _, d := range gone {
				delete(s.dense, d.Path)
			}
		}
		for r := range s.usage {
			if _, ok := refs[r]; !ok {
				delete(s.usage, r)
			}
		}
		for r, n := range refs {
			var prev *materials.Usage
			if o, ok := s.usage[r]; ok {
				prev = &o
			}
			if u, changed := journal.NextUsage(prev, r, n, now); changed {
				s.usage[r] = u
			}
		}
	})
}

func (j *simJournal) LastApplied() (*materials.Blueprint, error) {
	var bp *materials.Blueprint
	err := j.read(func(s *journalState) { bp = s.lastApplied })
	return bp, err
}

func (j *simJournal) JournalState(ctx context.Context) (*materials.JournalState, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var st *materials.JournalState
	err := j.read(func(s *journalState) { st = s.state() })
	return st, err
}

// state is what a survey reads, shaped as package journal shapes it.
func (s *journalState) state() *materials.JournalState {
	st := &materials.JournalState{Unreferenced: s.sortedUnreferenced(), Latches: s.sortedLatches(), LastApplied: s.lastApplied}
	for _, in := range s.sortedIntents() {
		st.InFlight = append(st.InFlight, materials.InFlight{RemodelID: in.RemodelID, Action: in.Action, Target: in.Target, StartedAt: in.StartedAt})
	}
	if len(s.usage) > 0 {
		st.Usage = make([]materials.Usage, 0, len(s.usage))
	}
	for _, u := range s.usage {
		st.Usage = append(st.Usage, u)
	}
	sort.Slice(st.Usage, func(a, b int) bool { return refLess(st.Usage[a].Target, st.Usage[b].Target) })
	for _, l := range s.lineage {
		st.Lineage = append(st.Lineage, l)
	}
	journal.SortLineage(st.Lineage)
	for _, f := range s.dense {
		st.Dense = append(st.Dense, f)
	}
	sort.Slice(st.Dense, func(a, b int) bool { return st.Dense[a].Path < st.Dense[b].Path })
	return st
}

func (j *simJournal) PutDense(f materials.DenseFile) error {
	return j.write(func(s *journalState) { s.dense[f.Path] = f })
}

func (j *simJournal) PutLineage(list []materials.SnapshotLineage) error {
	return j.write(func(s *journalState) {
		for _, l := range list {
			s.lineage[lineageKey{l.App, l.Snapshot, l.Volume}] = l
		}
	})
}

func (j *simJournal) DropLineage(app, snap string, vols []materials.VolumeKey) error {
	return j.write(func(s *journalState) {
		for _, k := range vols {
			delete(s.lineage, lineageKey{app, snap, k})
		}
	})
}

func (j *simJournal) Quarantined() *journal.Quarantine { return nil }

func (j *simJournal) Close() error {
	j.closed = true
	return nil
}
