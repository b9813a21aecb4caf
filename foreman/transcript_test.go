package foreman_test

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/edgewright/edgewright/foreman"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// Transcript tests (cockroachdb/datadriven, as etcd-io/raft uses it): each
// case in testdata/*.txt is one `plan` directive with its options, the
// Blueprint and Floorplan in the line language (lang_test.go), `----`, and
// the rendered plan. Multi-step cases (apply, crash, advance the clock)
// are sessions on the in-memory device: testdata/sessions, session_test.go.
// Regenerate the expected output with
//
//	go test ./foreman -run 'TestTranscripts|TestSessions' -rewrite
func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	total, ran := 0, 0
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			ran++
			datadriven.RunTest(t, file, func(t *testing.T, d *datadriven.TestData) string {
				if d.Cmd != "plan" {
					d.Fatalf(t, "unknown command %q (a transcript is plan directives; sessions live in testdata/sessions)", d.Cmd)
				}
				total++
				return runPlan(t, d)
			})
		})
	}
	if ran < len(files) || t.Failed() {
		return // -run picked some files, or the count would only repeat a failure
	}
	// 99 before the multi-step cases became sessions.
	if total < 91 {
		t.Errorf("only %d transcript cases; want at least 91", total)
	}
	t.Logf("%d plan cases", total)
}

// cmdWords is a directive's arguments as the line language's words.
func cmdWords(d *datadriven.TestData) []string {
	var w []string
	for _, a := range d.CmdArgs {
		if len(a.Vals) == 0 {
			w = append(w, a.Key)
		} else {
			w = append(w, a.Key+"="+strings.Join(a.Vals, ","))
		}
	}
	return w
}

func inputLines(d *datadriven.TestData) []string {
	if d.Input == "" {
		return nil
	}
	return strings.Split(d.Input, "\n")
}

// runPlan builds the inputs, plans twice (purity), checks the inputs were
// not modified, and renders the plan.
func runPlan(t *testing.T, d *datadriven.TestData) string {
	t.Helper()
	opts := foreman.Options{Now: testEpoch, GracePeriod: 24 * time.Hour}
	asJSON, summary, err := planOptions(cmdWords(d), &opts)
	if err != nil {
		d.Fatalf(t, "%v", err)
	}
	bp := &materials.Blueprint{Complete: true}
	fp := &materials.Floorplan{Root: "/root", Fingerprint: "sha256:test"}
	if err := parseLines(inputLines(d), bp, fp, &opts); err != nil {
		d.Fatalf(t, "%v", err)
	}
	return shortSnapIDs(renderPlan(t, d, bp, fp, opts, asJSON, summary))
}

// renderPlan plans twice (purity), checks the plan and that the inputs
// were not modified, and renders it.
func renderPlan(t *testing.T, d *datadriven.TestData, bp *materials.Blueprint, fp *materials.Floorplan, opts foreman.Options, asJSON, summary bool) string {
	t.Helper()
	plan := planChecked(t, d, bp, fp, opts)
	var out bytes.Buffer
	if asJSON {
		b, _ := json.MarshalIndent(plan, "", "  ")
		out.Write(b)
		out.WriteByte('\n')
	} else if err := remodel.RenderText(&out, plan); err != nil {
		t.Fatal(err)
	}
	if summary {
		out.WriteString(summaryLine(plan.Summary))
	}
	return out.String()
}

// planChecked is foreman.Plan, checked: pure (the same JSON twice, the
// inputs untouched: an empty slice and nil are alike, as the deep copy
// does not keep the difference), held codes known, the summary consistent.
func planChecked(t *testing.T, d *datadriven.TestData, bp *materials.Blueprint, fp *materials.Floorplan, opts foreman.Options) *remodel.Plan {
	t.Helper()
	bp0, fp0 := foreman.CopyBlueprint(bp), foreman.CopyFloorplan(fp)
	plan := foreman.Plan(bp, fp, opts)
	j1, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range plan.Held {
		if !h.Code.Valid() {
			t.Errorf("%s: held %s has code %q, not one of remodel.HoldCodes", d.Pos, h.RemodelID, h.Code)
		}
	}
	checkSummary(t, d, plan, opts)
	j2, _ := json.Marshal(foreman.Plan(bp, fp, opts))
	if !bytes.Equal(j1, j2) {
		t.Errorf("%s: two plans of the same inputs differ", d.Pos)
	}
	if diff := cmp.Diff(bp0, bp, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("%s: Plan modified the blueprint: %s", d.Pos, diff)
	}
	if diff := cmp.Diff(fp0, fp, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("%s: Plan modified the floorplan: %s", d.Pos, diff)
	}
	return plan
}

// summaryLine renders the figures of a plan's summary the text leaves out.
func summaryLine(s remodel.Summary) string {
	line := "Disk: " + remodel.Bytes(s.BytesToDownload) + " to download, " + remodel.Bytes(s.BytesToWrite) +
		" to write, peak " + remodel.Bytes(s.PeakExtraDiskBytes) + " extra"
	var codes []string
	for c, n := range s.HeldByCode {
		codes = append(codes, string(c)+" "+strconv.Itoa(n))
	}
	sort.Strings(codes)
	if len(codes) > 0 {
		line += "; held: " + strings.Join(codes, ", ")
	}
	return line + "\n"
}

// checkSummary: the plan's summary is what Summarize makes of it, its
// held counts add up, and with the free space known its peak fits in it.
func checkSummary(t *testing.T, d *datadriven.TestData, p *remodel.Plan, opts foreman.Options) {
	t.Helper()
	if diff := cmp.Diff(remodel.Summarize(p), p.Summary); diff != "" {
		t.Errorf("%s: summary is not Summarize's (-want +got):\n%s", d.Pos, diff)
	}
	n := 0
	for _, c := range p.Summary.HeldByCode {
		n += c
	}
	if n != len(p.Held) {
		t.Errorf("%s: held by code adds up to %d, %d held", d.Pos, n, len(p.Held))
	}
	if free, known := foreman.Budget(opts.Space); known && p.Summary.PeakExtraDiskBytes > free {
		t.Errorf("%s: peak extra disk %d is more than the %d free that admission had", d.Pos, p.Summary.PeakExtraDiskBytes, free)
	}
	if p.Summary.BytesToDownload > p.Summary.BytesToWrite || p.Summary.PeakExtraDiskBytes > p.Summary.BytesToWrite {
		t.Errorf("%s: bytes: %d to download, %d to write, peak %d", d.Pos, p.Summary.BytesToDownload, p.Summary.BytesToWrite, p.Summary.PeakExtraDiskBytes)
	}
}
