package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBlueprintCommand(t *testing.T) {
	tmp := t.TempDir()
	garbage := filepath.Join(tmp, "garbage.json")
	if err := os.WriteFile(garbage, []byte(`{"volumes":[`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantJSON   bool     // stdout is a Blueprint
		wantStderr []string // substrings
		complete   bool
		volumes    int
	}{
		{name: "sample", args: []string{"--config", "../configs/sample.json"}, wantCode: 0, wantJSON: true, complete: true, volumes: 7},
		{name: "sample, binary", args: []string{"--config", "../configs/sample.pb"}, wantCode: 0, wantJSON: true, complete: true, volumes: 7},
		{name: "eden fixture", args: []string{"--config", "../../architect/testdata/eden/app-routing_app-gateway.json"}, wantCode: 0, wantJSON: true, complete: true, volumes: 3},
		{name: "errors", args: []string{"--config", "../configs/errors.json"}, wantCode: 1, wantJSON: true, complete: true, volumes: 7,
			wantStderr: []string{
				`error: datastores[2].dType: unknown datastore type 44 (value "44")`,
				`error: contentInfo[4].URL: URL has a .. segment that could escape its datastore (value "../../etc/shadow")`,
				`error: volumes[7].uuid: not a UUID (value "not-a-uuid")`,
			}},
		{name: "undecodable", args: []string{"--config", garbage}, wantCode: 1, wantJSON: true, complete: false,
			wantStderr: []string{"decode proto-JSON config", "the Blueprint is incomplete"}},
		{name: "missing file", args: []string{"--config", filepath.Join(tmp, "nope.json")}, wantCode: 1,
			wantStderr: []string{"wright blueprint: read config: open " + filepath.Join(tmp, "nope.json") + ": no such file or directory"}},
		{name: "no flag", args: nil, wantCode: 2, wantStderr: []string{"usage: wright blueprint --config FILE"}},
		{name: "bad flag", args: []string{"--bogus"}, wantCode: 2, wantStderr: []string{"flag provided but not defined: -bogus"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append([]string{"blueprint"}, tc.args...), &out, &errb)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.wantCode, errb.String())
			}
			for _, s := range tc.wantStderr {
				if !strings.Contains(errb.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, errb.String())
				}
			}
			if !tc.wantJSON {
				if out.Len() != 0 {
					t.Errorf("stdout should be empty, got %q", out.String())
				}
				return
			}
			var bp map[string]json.RawMessage
			if err := json.Unmarshal(out.Bytes(), &bp); err != nil {
				t.Fatalf("stdout is not JSON: %v\n%s", err, out.String())
			}
			for _, key := range []string{"complete", "volumes", "contentTrees", "datastores", "diagnostics"} {
				if _, ok := bp[key]; !ok {
					t.Errorf("JSON lacks top-level key %q", key)
				}
			}
			var complete bool
			var vols []map[string]any
			if err := json.Unmarshal(bp["complete"], &complete); err != nil || complete != tc.complete {
				t.Errorf("complete = %v (%v), want %v", complete, err, tc.complete)
			}
			if err := json.Unmarshal(bp["volumes"], &vols); err != nil || len(vols) != tc.volumes {
				t.Fatalf("%d volumes (%v), want %d", len(vols), err, tc.volumes)
			}
			for _, v := range vols {
				for _, key := range []string{"id", "generation", "origin", "maxSizeBytes", "readOnly", "refCount", "implicit"} {
					if _, ok := v[key]; !ok {
						t.Errorf("volume %v lacks key %q", v["id"], key)
					}
				}
				if v["implicit"] == true && (v["app"] == nil || v["image"] == nil) {
					t.Errorf("implicit volume %v lacks app or image", v["id"])
				}
			}
			if tc.wantCode == 0 && strings.Contains(errb.String(), "error:") {
				t.Errorf("exit 0 with errors on stderr:\n%s", errb.String())
			}
		})
	}
}

func TestBlueprintSameForBothEncodings(t *testing.T) {
	var js, bin, errb bytes.Buffer
	if code := run([]string{"blueprint", "--config", "../configs/sample.json"}, &js, &errb); code != 0 {
		t.Fatalf("json: exit %d: %s", code, errb.String())
	}
	if code := run([]string{"blueprint", "--config", "../configs/sample.pb"}, &bin, &errb); code != 0 {
		t.Fatalf("binary: exit %d: %s", code, errb.String())
	}
	if js.String() != bin.String() {
		t.Errorf("sample.json and sample.pb print different Blueprints")
	}
}

func TestBlueprintHidesCredentials(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "creds.json")
	body := `{"datastores":[{"id":"5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d11","dType":"DsHttps","fqdn":"https://x.example","apiKey":"AKIA-SECRET","password":"hunter2"}]}`
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"blueprint", "--config", cfg}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, secret := range []string{"AKIA-SECRET", "hunter2"} {
		if strings.Contains(out.String()+errb.String(), secret) {
			t.Errorf("credential %q printed", secret)
		}
	}
	if !strings.Contains(out.String(), `"hasCredentials": true`) {
		t.Errorf("hasCredentials not shown:\n%s", out.String())
	}
}
