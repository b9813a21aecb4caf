package assembler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// crashJob is what the re-executed test binary converges.
type crashJob struct {
	Root      string               `json:"root"`
	Blueprint *materials.Blueprint `json:"blueprint"`
	// Plan, when set, is applied as it is instead (a fix run's plan).
	Plan *remodel.Plan `json:"plan,omitempty"`
}

// TestMain lets the test binary double as the applying process of the
// crash test: with EDGEWRIGHT_CRASH_JOB set it converges that job, and
// with EDGEWRIGHT_CRASH_AT=N it SIGKILLs itself right after the Nth
// durable journal write.
func TestMain(m *testing.M) {
	if job := os.Getenv("EDGEWRIGHT_CRASH_JOB"); job != "" {
		os.Exit(crashChild(job))
	}
	os.Exit(m.Run())
}

func crashChild(jobFile string) int {
	raw, err := os.ReadFile(jobFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var job crashJob
	if err := json.Unmarshal(raw, &job); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	crashAt, _ := strconv.Atoi(os.Getenv("EDGEWRIGHT_CRASH_AT"))
	writes := 0
	a, err := New(Options{
		Root: job.Root, Logger: zap.NewNop(), WaitForLock: true,
		AfterJournalWrite: func(n int) {
			writes = n
			if n == crashAt {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {} // the signal is on its way
			}
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if job.Plan != nil {
		rep, err := a.Apply(context.Background(), job.Plan)
		if err != nil || !rep.OK() {
			fmt.Fprintln(os.Stderr, "apply:", err, rep)
			return 1
		}
		fmt.Println("journal-writes", writes)
		return 0
	}
	res, err := a.Converge(context.Background(), job.Blueprint, ConvergeOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if !res.Converged {
		fmt.Fprintln(os.Stderr, "not converged")
		return 2
	}
	fmt.Println("journal-writes", writes)
	return 0
}

func runChild(t *testing.T, jobFile string, crashAt int) (killed bool, out string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "EDGEWRIGHT_CRASH_JOB="+jobFile, "EDGEWRIGHT_CRASH_AT="+strconv.Itoa(crashAt))
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true, string(b)
		}
	}
	if err != nil {
		t.Fatalf("child (crash at %d): %v\n%s", crashAt, err, b)
	}
	return false, string(b)
}

// completeBlobs lists the blobs in the blob directory, checking each
// hashes to its name.
func completeBlobs(t *testing.T, root string) map[string]bool {
	t.Helper()
	dir := filepath.Join(root, "persist/blobs/sha256")
	ents, _ := os.ReadDir(dir)
	out := map[string]bool{}
	for _, e := range ents {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		io.Copy(h, f)
		f.Close()
		if got := hex.EncodeToString(h.Sum(nil)); got != e.Name() {
			t.Errorf("blob %s hashes to %s: a partial file at a final path", e.Name(), got)
		}
		out[e.Name()] = true
	}
	return out
}

func writeJob(t *testing.T, root string, bp *materials.Blueprint) string {
	t.Helper()
	jobFile := filepath.Join(t.TempDir(), "job.json")
	raw, err := json.Marshal(crashJob{Root: root, Blueprint: bp})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(jobFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return jobFile
}

// TestCrashAtEveryJournalStep kills the applying process right after each
// durable journal write in turn, restarts it, and checks the converged
// disk: whole volumes, no partial file at a final path, no blob that was
// complete at the crash fetched again, no old generation or dropped volume
// left. Two applies are crashed this way: the first one on an empty root
// (downloads and creates), and one that purges a generation and drops a
// volume on a converged root.
func TestCrashAtEveryJournalStep(t *testing.T) {
	if testing.Short() {
		t.Skip("runs dozens of processes")
	}
	f := newFixture(t)
	pathOf := map[string]string{} // blob hex → datastore path
	for _, ct := range f.bp.ContentTrees {
		pathOf[ct.SHA256] = "/images/" + ct.URL
	}
	first := f.bp
	second := *f.bp
	second.Volumes = append([]materials.Volume(nil), first.Volumes...)
	second.Volumes[0].Generation++                                     // purge
	second.Volumes = append(second.Volumes[:1], second.Volumes[2:]...) // drop
	phases := []struct {
		name       string
		from, to   *materials.Blueprint
		gone       []materials.Volume
		minCrashes int
	}{
		{"initial apply", nil, first, nil, 10},
		{"purge and drop", first, &second, []materials.Volume{first.Volumes[0], first.Volumes[1]}, 4},
	}
	total := 0
	for _, ph := range phases {
		t.Run(ph.name, func(t *testing.T) {
			crashes, resumes := 0, 0
			for n := 1; ; n++ {
				root := t.TempDir()
				if ph.from != nil {
					if killed, out := runChild(t, writeJob(t, root, ph.from), 0); killed {
						t.Fatalf("setup apply killed: %s", out)
					}
				}
				jobFile := writeJob(t, root, ph.to)
				killed, out := runChild(t, jobFile, n)
				if !killed {
					t.Logf("crash point %d not reached: the apply finished (%s)", n, strings.TrimSpace(out))
					break
				}
				crashes++
				before := completeBlobs(t, root)
				mark := len(f.ds.requests())

				if killed, out := runChild(t, jobFile, 0); killed {
					t.Fatalf("restart after crash %d was killed: %s", n, out)
				}
				f.checkVolumesOf(t, root, ph.to)
				completeBlobs(t, root)
				for _, v := range ph.gone {
					p, _ := VolumePath(root, v)
					if _, err := os.Stat(p); err == nil {
						t.Errorf("crash %d: %s still there", n, p)
					}
				}
				for _, r := range f.ds.requests()[mark:] {
					if r.Range != "" {
						resumes++
					}
					for h := range before {
						if r.Path == pathOf[h] {
							t.Errorf("crash %d: blob %s was complete at the crash but fetched again (Range %q)", n, h[:12], r.Range)
						}
					}
				}
				if t.Failed() {
					t.Fatalf("crash point %d failed", n)
				}
			}
			if crashes < ph.minCrashes {
				t.Errorf("only %d crash points, want at least %d: a journal step per intent and completion", crashes, ph.minCrashes)
			}
			total += crashes
			t.Logf("crash points enumerated: %d; downloads resumed with Range after a crash: %d", crashes, resumes)
		})
	}
	t.Logf("crash points in all: %d", total)
}
