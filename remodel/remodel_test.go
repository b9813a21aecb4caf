package remodel

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/edgewright/edgewright/materials"
)

func TestSummarize(t *testing.T) {
	tests := []struct {
		name    string
		actions []Action
		held    int
		want    string
	}{
		{"empty", nil, 0, "Plan: no changes."},
		{"held only", nil, 2, "Plan: no changes, 2 held."},
		{"issue example", []Action{ActionDownload, ActionCreate, ActionDownload, ActionCreate, ActionPurge, ActionCreate, ActionDelete}, 2,
			"Plan: 2 to download, 3 to create, 1 to purge, 1 to delete, 2 held."},
		{"every action in precedence order", []Action{ActionDelete, ActionResize, ActionPurge, ActionCreate, ActionAdopt, ActionVerify, ActionDownload, ActionResolve}, 0,
			"Plan: 1 to resolve, 1 to download, 1 to verify, 1 to adopt, 1 to create, 1 to purge, 1 to resize, 1 to delete."},
		{"unknown action last", []Action{"frobnicate", ActionCreate}, 0, "Plan: 1 to create, 1 to frobnicate."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &Plan{Held: make([]Held, tc.held)}
			for _, a := range tc.actions {
				p.Remodels = append(p.Remodels, Remodel{Action: a})
			}
			s := Summarize(p)
			if s.Text != tc.want {
				t.Errorf("got %q, want %q", s.Text, tc.want)
			}
			if s.Held != tc.held || len(tc.actions) > 0 && s.Counts[tc.actions[0]] == 0 {
				t.Errorf("counts %v held %d", s.Counts, s.Held)
			}
		})
	}
}

func TestShortenDigests(t *testing.T) {
	full := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct{ in, want string }{
		{"no digest here", "no digest here"},
		{"blob " + full + " gone", "blob sha256:abababababab… gone"},
		{full + "," + full, "sha256:abababababab…,sha256:abababababab…"},
		{"sha256:abc", "sha256:abc"},
		{full + "a", full + "a"}, // 65 hex digits: not a digest, left alone
		{"sha256:" + strings.Repeat("g", 64), "sha256:" + strings.Repeat("g", 64)},
	}
	for _, tc := range tests {
		if got := ShortenDigests(tc.in); got != tc.want {
			t.Errorf("ShortenDigests(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1024, "1 KiB"}, {1536, "1.5 KiB"}, {1 << 30, "1 GiB"}, {5 << 40, "5 TiB"}}
	for _, tc := range tests {
		if got := Bytes(tc.n); got != tc.want {
			t.Errorf("Bytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// Empty lists render as [] so programs need no null checks.
func TestJSONEmptyLists(t *testing.T) {
	p := &Plan{Remodels: []Remodel{{ID: "create:volume/v#1", Action: ActionCreate}}}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"dependsOn":[]`, `"held":[]`, `"diagnostics":[]`, `"counts":{}`, `"heldByCode":{}`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("JSON lacks %s: %s", want, b)
		}
	}
	var back Plan
	if err := json.Unmarshal(b, &back); err != nil || back.Remodels[0].ID != "create:volume/v#1" {
		t.Fatalf("round trip: %v %+v", err, back)
	}
	b2, _ := json.Marshal(*p) // a value marshals the same
	if !bytes.Equal(b, b2) {
		t.Errorf("value and pointer JSON differ:\n%s\n%s", b, b2)
	}
}

func TestRenderText(t *testing.T) {
	old := materials.VolumeKey{ID: "v1", Generation: 1}
	p := &Plan{
		Fingerprint: "sha256:" + strings.Repeat("0", 64),
		MadeAt:      time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC),
		Remodels: []Remodel{
			{ID: "download:blob/x", Action: ActionDownload, Target: materials.MaterialRef{Kind: materials.KindBlob, ID: "sha256:" + strings.Repeat("1", 64)},
				Reason: "content tree c1 not present", Stage: 1, Payload: &DownloadPayload{Offset: 10}, Bytes: 2048},
			{ID: "purge-generation:volume/v1#2", Action: ActionPurge, Target: materials.MaterialRef{Kind: materials.KindVolume, ID: "v1#2"},
				Reason: "generation 1 → 2", Stage: 2, DependsOn: []ID{"download:blob/x"}, Payload: &PurgePayload{Replaces: old, Strategy: BreakBeforeMake}},
		},
		Held:         []Held{{RemodelID: "delete:volume/v9#1", Action: ActionDelete, Target: materials.MaterialRef{Kind: materials.KindVolume, ID: "v9#1"}, Code: HoldAddition, Reason: "protected"}},
		Unreferenced: []materials.Unreferenced{{Target: materials.MaterialRef{Kind: materials.KindBlob, ID: "b"}, Since: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)}},
		Diagnostics:  materials.Diagnostics{{Severity: materials.SeverityWarning, Path: "p", Value: "v", Message: "m"}},
	}
	var b bytes.Buffer
	if err := RenderText(&b, p); err != nil {
		t.Fatal(err)
	}
	want := `Plan made at 2026-11-22T03:00:00Z from floorplan sha256:000000000000…

Stage 1
  ↓ download blob sha256:111111111111… (resume from offset 10 B) [2 KiB]
      content tree c1 not present

Stage 2
  ~ purge-generation volume v1#2 (replaces v1#1, break-before-make)
      generation 1 → 2
      after download:blob/x

Held
  ! [hold-addition] delete volume v9#1: protected

Unreferenced (grace clocks to record)
  blob b since 2026-11-21T00:00:00Z

Diagnostics
  warning: p: m (value "v")

Plan: 1 to download, 1 to purge, 1 held.
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestSummarizeDisk: bytes and the peak of extra disk follow the plan's
// order and charge what disk admission charges (Bytes - Reclaims; a
// break-before-make purge can give back more than it takes), and held
// remodels are counted by code.
func TestSummarizeDisk(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name                  string
		remodels              []Remodel
		held                  []HoldCode
		download, write, peak int64
		wantHeld              map[HoldCode]int
	}{
		{name: "empty", wantHeld: map[HoldCode]int{}},
		{name: "downloads and creates add up",
			remodels: []Remodel{{Action: ActionDownload, Bytes: 100 * mib}, {Action: ActionCreate, Bytes: 50 * mib}, {Action: ActionDelete}},
			download: 100 * mib, write: 150 * mib, peak: 150 * mib, wantHeld: map[HoldCode]int{}},
		{name: "a create is charged net of its own leftover",
			remodels: []Remodel{{Action: ActionCreate, Bytes: 50 * mib, Reclaims: 20 * mib}},
			write:    50 * mib, peak: 30 * mib, wantHeld: map[HoldCode]int{}},
		{name: "break-before-make gives back first: the peak is before it",
			remodels: []Remodel{{Action: ActionDownload, Bytes: 100 * mib}, {Action: ActionPurge, Payload: &PurgePayload{Strategy: BreakBeforeMake}, Bytes: 200 * mib, Reclaims: 300 * mib}, {Action: ActionCreate, Bytes: 50 * mib}},
			download: 100 * mib, write: 350 * mib, peak: 100 * mib, wantHeld: map[HoldCode]int{}},
		{name: "after the give-back the plan climbs again",
			remodels: []Remodel{{Action: ActionDownload, Bytes: 100 * mib}, {Action: ActionPurge, Payload: &PurgePayload{Strategy: BreakBeforeMake}, Bytes: 200 * mib, Reclaims: 150 * mib}, {Action: ActionCreate, Bytes: 50 * mib}},
			download: 100 * mib, write: 350 * mib, peak: 200 * mib, wantHeld: map[HoldCode]int{}},
		{name: "make-before-break holds both",
			remodels: []Remodel{{Action: ActionPurge, Payload: &PurgePayload{Strategy: MakeBeforeBreak}, Bytes: 200 * mib}},
			write:    200 * mib, peak: 200 * mib, wantHeld: map[HoldCode]int{}},
		{name: "held by code",
			held:     []HoldCode{HoldNoSpace, HoldGracePeriod, HoldNoSpace},
			wantHeld: map[HoldCode]int{HoldNoSpace: 2, HoldGracePeriod: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &Plan{Remodels: tc.remodels}
			for _, c := range tc.held {
				p.Held = append(p.Held, Held{Code: c})
			}
			s := Summarize(p)
			if s.BytesToDownload != tc.download || s.BytesToWrite != tc.write || s.PeakExtraDiskBytes != tc.peak {
				t.Errorf("download %d write %d peak %d, want %d %d %d", s.BytesToDownload, s.BytesToWrite, s.PeakExtraDiskBytes, tc.download, tc.write, tc.peak)
			}
			if len(s.HeldByCode) != len(tc.wantHeld) || s.Held != len(tc.held) {
				t.Errorf("held %d by code %v, want %v", s.Held, s.HeldByCode, tc.wantHeld)
			}
			for c, n := range tc.wantHeld {
				if s.HeldByCode[c] != n {
					t.Errorf("held %s: %d, want %d", c, s.HeldByCode[c], n)
				}
			}
		})
	}
}
