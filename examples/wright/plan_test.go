package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgewright/edgewright/remodel"
)

func TestPlanCommand(t *testing.T) {
	empty := t.TempDir()
	if err := os.MkdirAll(filepath.Join(empty, "persist", "vault", "volumes"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A root with a file no config named: reported, never deleted.
	stray := t.TempDir()
	vols := filepath.Join(stray, "persist", "vault", "volumes")
	if err := os.MkdirAll(vols, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vols, "0c0c0c0c-0000-4000-8000-000000000001#1.raw"), make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(t.TempDir(), "garbage.json")
	if err := os.WriteFile(garbage, []byte(`{"volumes":[`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     []string
		stderr     []string
		json       bool
		notStdout  []string
		wantCreate int
	}{
		{name: "sample on an empty root", args: []string{"--config", "../configs/sample.json", "--root", empty}, code: 0,
			stdout: []string{"Stage 1", "+ create volume", "↓ download blob", "Plan: 1 to resolve, 3 to download, 6 to create."}},
		{name: "json", args: []string{"--config", "../configs/sample.json", "--root", empty, "--json"}, code: 0, json: true, wantCreate: 6},
		{name: "stray file only reported", args: []string{"--config", "../configs/sample.json", "--root", stray}, code: 0,
			stdout: []string{"no config we know of named volume 0c0c0c0c-0000-4000-8000-000000000001#1; left alone"}, notStdout: []string{"- delete"}},
		{name: "config with errors", args: []string{"--config", "../configs/errors.json", "--root", stray}, code: 1,
			stdout: []string{"Plan: "}, stderr: []string{"error: volumes[7].uuid: not a UUID", "the config has errors; no destructive remodel is planned"}},
		{name: "undecodable config", args: []string{"--config", garbage, "--root", stray}, code: 1,
			stdout: []string{"Plan: "}, stderr: []string{"the Blueprint is incomplete"}},
		{name: "missing root plans an empty device", args: []string{"--config", "../configs/sample.json", "--root", filepath.Join(empty, "nope", "root")}, code: 0,
			stdout: []string{"Plan: 1 to resolve, 3 to download, 6 to create."}, stderr: []string{"does not exist yet; planning for an empty device"}},
		{name: "unreadable root", args: []string{"--config", "../configs/sample.json", "--root", garbage}, code: 1,
			stderr: []string{"wright plan: survey root"}},
		{name: "missing config", args: []string{"--config", filepath.Join(empty, "nope.json"), "--root", empty}, code: 1,
			stderr: []string{"wright plan: read config"}},
		{name: "usage", args: []string{"--root", empty}, code: 2, stderr: []string{"usage: wright plan --config FILE --root DIR"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append([]string{"plan"}, tc.args...), &out, &errb)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out.String(), errb.String())
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, out.String())
				}
			}
			for _, s := range tc.notStdout {
				if strings.Contains(out.String(), s) {
					t.Errorf("stdout has %q:\n%s", s, out.String())
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(errb.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, errb.String())
				}
			}
			if tc.json {
				var raw map[string]json.RawMessage
				if err := json.Unmarshal(out.Bytes(), &raw); err != nil {
					t.Fatalf("not JSON: %v\n%s", err, out.String())
				}
				for _, k := range []string{"remodels", "held", "summary", "diagnostics"} {
					if _, ok := raw[k]; !ok {
						t.Errorf("JSON lacks key %q", k)
					}
				}
				var p remodel.Plan
				if err := json.Unmarshal(out.Bytes(), &p); err != nil {
					t.Fatal(err)
				}
				if p.Summary.Counts[remodel.ActionCreate] != tc.wantCreate {
					t.Errorf("%d creates, want %d", p.Summary.Counts[remodel.ActionCreate], tc.wantCreate)
				}
				var summary map[string]json.RawMessage
				if err := json.Unmarshal(raw["summary"], &summary); err != nil {
					t.Fatal(err)
				}
				for _, k := range []string{"counts", "held", "heldByCode", "bytesToDownload", "bytesToWrite", "peakExtraDiskBytes", "text"} {
					if _, ok := summary[k]; !ok {
						t.Errorf("JSON summary lacks key %q", k)
					}
				}
				// The sample writes its downloads and six volumes onto the
				// temporary root's file system, whose free space was said.
				if s := p.Summary; s.BytesToDownload <= 0 || s.BytesToWrite <= s.BytesToDownload || s.PeakExtraDiskBytes <= 0 || s.PeakExtraDiskBytes > s.BytesToWrite {
					t.Errorf("summary bytes: %d to download, %d to write, peak %d", s.BytesToDownload, s.BytesToWrite, s.PeakExtraDiskBytes)
				}
				if !bytes.Contains(out.Bytes(), []byte(`"dependsOn": []`)) {
					t.Error("an empty dependsOn is not rendered as []")
				}
			}
		})
	}
}
