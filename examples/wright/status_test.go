package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials/eve"
)

// TestStatusCommand applies a config, then reads the root back with
// `wright status` in its three forms.
func TestStatusCommand(t *testing.T) {
	testenv.QemuImg(t)
	disk := bytes.Repeat([]byte("edgewright\n"), 100_000)
	sum := sha256.Sum256(disk)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "disk.raw", timeZero, bytes.NewReader(disk))
	}))
	defer srv.Close()
	root := t.TempDir()
	cfg := applyConfig(t, srv.URL, hex.EncodeToString(sum[:]), len(disk), volFromDisk+","+volBlank)
	var out, errb bytes.Buffer
	if code := run([]string{"apply", "--config", cfg, "--root", root}, &out, &errb); code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out.String(), errb.String())
	}

	t.Run("table", func(t *testing.T) {
		var out, errb bytes.Buffer
		if code := run([]string{"status", "--root", root}, &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		for _, want := range []string{"KIND", "root (7d1f0c2a)", "scratch (7d1f0c2a)", "CREATED_VOLUME", "100%", "content-tree", "LOADED"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("table lacks %q:\n%s", want, out.String())
			}
		}
	})
	t.Run("json", func(t *testing.T) {
		var out, errb bytes.Buffer
		if code := run([]string{"status", "--root", root, "--json", "--device", "dev-9",
			"--io", "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f10=1:2:3:4"}, &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		sc := bufio.NewScanner(&out)
		sc.Buffer(nil, 1<<20)
		var volumes, trees, blobLists, metrics int
		for sc.Scan() {
			line := sc.Bytes()
			if bytes.Contains(line, []byte(`"vm"`)) || bytes.HasPrefix(line, []byte(`{"devID"`)) {
				var m eve.ZMetricMsg
				if err := protojson.Unmarshal(line, &m); err != nil {
					t.Fatalf("metric line %s: %v", line, err)
				}
				for _, v := range m.Vm {
					if v.Uuid == "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f10" && (v.ReadBytes != 1 || v.WriteCount != 4) {
						t.Errorf("io counters not carried: %v", v)
					}
				}
				metrics++
				continue
			}
			var m eve.ZInfoMsg
			if err := protojson.Unmarshal(line, &m); err != nil {
				t.Fatalf("info line %s: %v", line, err)
			}
			if m.DevId != "dev-9" || m.AtTimeStamp == nil {
				t.Errorf("envelope %v lacks device or time", &m)
			}
			switch m.Ztype {
			case eve.ZInfoTypes_ZiVolume:
				volumes++
				if v := m.GetVinfo(); v.State != eve.ZSwState_CREATED_VOLUME || v.GetUsage().GetRefCount() != 1 {
					t.Errorf("volume %v: want CREATED_VOLUME with refCount 1", v)
				}
			case eve.ZInfoTypes_ZiContentTree:
				trees++
			case eve.ZInfoTypes_ZiBlobList:
				blobLists++
			}
		}
		if volumes != 2 || trees != 1 || blobLists != 1 || metrics != 1 {
			t.Errorf("got %d volumes, %d trees, %d blob lists, %d metric messages; want 2, 1, 1, 1", volumes, trees, blobLists, metrics)
		}
	})
	t.Run("binary", func(t *testing.T) {
		var out, errb bytes.Buffer
		if code := run([]string{"status", "--root", root, "--binary"}, &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		r := bufio.NewReader(&out)
		n := 0
		for ; n < 4; n++ { // 2 volumes, 1 tree, 1 blob list
			var m eve.ZInfoMsg
			if err := protodelim.UnmarshalFrom(r, &m); err != nil {
				t.Fatalf("record %d: %v", n, err)
			}
		}
		var mm eve.ZMetricMsg
		if err := protodelim.UnmarshalFrom(r, &mm); err != nil || len(mm.Vm) != 2 {
			t.Fatalf("metric record: %v (%d volumes)", err, len(mm.Vm))
		}
	})
	t.Run("usage errors", func(t *testing.T) {
		for _, args := range [][]string{{"status"}, {"status", "--root", root, "--json", "--binary"}, {"status", "--root", root, "--io", "x=1:2"}} {
			var out, errb bytes.Buffer
			if code := run(args, &out, &errb); code != 2 {
				t.Errorf("%v: exit %d, want 2", args, code)
			}
		}
		var out, errb bytes.Buffer
		if code := run([]string{"status", "--root", filepath.Join(root, "missing")}, &out, &errb); code != 1 {
			t.Errorf("missing root: exit %d, want 1", code)
		}
	})
}
