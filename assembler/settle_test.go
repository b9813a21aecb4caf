package assembler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"

	"github.com/edgewright/edgewright/check"
	"github.com/edgewright/edgewright/inspector"
	"github.com/edgewright/edgewright/journal"
	"github.com/edgewright/edgewright/materials"
)

// settleRoot is a root whose raw volume a sparsify fix rewrites, with
// a journal that knows a config and runs a grace clock.
func settleRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	vols := filepath.Join(root, "persist/vault/volumes")
	if err := os.MkdirAll(vols, 0o755); err != nil {
		t.Fatal(err)
	}
	const id = "6c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f"
	if err := os.WriteFile(filepath.Join(vols, id+"#1.raw"), rawImage(7, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	j, err := journal.OpenRoot(root, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	long := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	bp := &materials.Blueprint{Complete: true, Volumes: []materials.Volume{{ID: id, Generation: 1, Origin: materials.OriginBlank,
		Format: materials.FormatRaw, MaxSizeBytes: 1 << 20, RefCount: 1}}}
	if err := j.Checkpoint(bp, long); err != nil {
		t.Fatal(err)
	}
	clock := materials.Unreferenced{Target: materials.MaterialRef{Kind: materials.KindBlob, ID: "sha256:" + sha([]byte("gone"))}, Since: long}
	if err := j.UpdateUnreferenced([]materials.Unreferenced{clock}, nil); err != nil {
		t.Fatal(err)
	}
	return root
}

// surveyRoot surveys root with its journal (made when there is none).
func surveyRoot(t *testing.T, root string) *materials.Floorplan {
	t.Helper()
	j, err := journal.OpenRoot(root, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	fp, err := inspector.Survey(context.Background(), inspector.Options{Root: root, Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	return fp
}

// rootFiles is every file under root but the journal, by path: its
// size, mtime and content hash.
func rootFiles(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == journal.Path(root) {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		s := sha256.Sum256(data)
		out[p] = st.ModTime().String() + " " + hex.EncodeToString(s[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// journalBesidesIntents is what the journal says but its intents.
func journalBesidesIntents(t *testing.T, root string) string {
	t.Helper()
	j, err := journal.OpenRoot(root, journal.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	st, err := j.JournalState(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h, err := j.History()
	if err != nil {
		t.Fatal(err)
	}
	st.InFlight = nil
	b, _ := json.Marshal(struct {
		State   *materials.JournalState
		History []journal.Record
	}{st, h})
	return string(b)
}

// TestSettleKilledFix kills a fix run (its plan applied by a child
// process, SIGKILLed right after each journal write in turn) and wants
// Settle to drop exactly the intents it left in flight and change
// nothing else; and, when the root changed since the survey, to refuse
// and drop none.
func TestSettleKilledFix(t *testing.T) {
	settled := 0
	for n := 1; n <= 10; n++ {
		root := settleRoot(t)
		fp := surveyRoot(t, root)
		rep := check.Check(fp, check.Options{Now: time.Now()})
		fplan, err := check.PlanFixes(fp, rep, check.Selection{All: true, Type: check.TypeOptimize}, time.Now())
		if err != nil || len(fplan.Fixes) != 1 {
			t.Fatalf("plan the sparsify: %v %+v", err, fplan)
		}
		jobFile := filepath.Join(t.TempDir(), "job.json")
		raw, _ := json.Marshal(crashJob{Root: root, Plan: fplan.Plan})
		if err := os.WriteFile(jobFile, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		if killed, out := runChild(t, jobFile, n); !killed {
			t.Logf("the fix run writes %d journal entries (%s)", n-1, out)
			break
		}
		fp = surveyRoot(t, root)
		if fp.Journal == nil || len(fp.Journal.InFlight) == 0 {
			continue // killed after a write that leaves no intent
		}
		a, err := New(Options{Root: root, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		// A root changed since the survey: refused, nothing dropped.
		stray := filepath.Join(root, "persist/vault/volumes/stray")
		os.WriteFile(stray, []byte("x"), 0o644)
		var stale *StalePlanError
		if _, err := a.Settle(context.Background(), fp); !errors.As(err, &stale) {
			t.Errorf("kill at %d: Settle of a changed root: %v, want a *StalePlanError", n, err)
		}
		if again := surveyRoot(t, root); len(again.Journal.InFlight) != len(fp.Journal.InFlight) {
			t.Errorf("kill at %d: a refused Settle dropped intents: %d of %d left", n, len(again.Journal.InFlight), len(fp.Journal.InFlight))
		}
		os.Remove(stray)
		fp = surveyRoot(t, root)
		files, journalBefore := rootFiles(t, root), journalBesidesIntents(t, root)
		got, err := a.Settle(context.Background(), fp)
		if err != nil || got != len(fp.Journal.InFlight) {
			t.Fatalf("kill at %d: Settle: %d, %v; want %d intents dropped", n, got, err, len(fp.Journal.InFlight))
		}
		after := surveyRoot(t, root)
		if len(after.Journal.InFlight) != 0 {
			t.Errorf("kill at %d: intents still in flight: %+v", n, after.Journal.InFlight)
		}
		if diff := cmp.Diff(files, rootFiles(t, root)); diff != "" {
			t.Errorf("kill at %d: Settle changed files (-before +after):\n%s", n, diff)
		}
		if diff := cmp.Diff(journalBefore, journalBesidesIntents(t, root)); diff != "" {
			t.Errorf("kill at %d: Settle changed the journal besides its intents (-before +after):\n%s", n, diff)
		}
		settled++
	}
	if settled == 0 {
		t.Fatal("no kill left an intent in flight")
	}
}
