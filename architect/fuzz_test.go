package architect_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/edgewright/edgewright/architect"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/materials/eve"
)

// FuzzLoad feeds arbitrary bytes to decode + Draw. It must never panic, and
// its Blueprint must be deterministic, sorted and self-consistent (nothing
// that stands refers to something that does not).
func FuzzLoad(f *testing.F) {
	for _, s := range seedInputs(f) {
		f.Add(s.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		bp := architect.Load(data)
		if bp == nil {
			t.Fatal("Load returned nil")
		}
		again := architect.Load(append([]byte(nil), data...))
		if !reflect.DeepEqual(bp, again) {
			t.Fatal("Load is not deterministic")
		}
		if msg := checkSorted(bp); msg != "" {
			t.Fatal(msg)
		}
		if msg := checkConsistent(bp); msg != "" {
			t.Fatal(msg)
		}
		if _, err := json.Marshal(bp); err != nil {
			t.Fatalf("Blueprint does not render as JSON: %v", err)
		}
		// A config that decodes must draw the same from its re-encoding.
		if cfg, err := architect.Decode(data); err == nil {
			if !bp.Complete {
				t.Fatal("decoded config drew an incomplete Blueprint")
			}
			bin, err := proto.Marshal(cfg)
			if err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			if len(bin) > 0 {
				// JSON warns on fields EVE does not know; protojson dropped
				// them, so the binary has nothing to warn on.
				other := architect.Load(bin)
				if n := countUnknown(other); n != 0 {
					t.Fatalf("binary config has %d unknown-field warnings", n)
				}
				if !reflect.DeepEqual(withoutUnknown(bp), withoutUnknown(other)) {
					t.Fatal("binary re-encoding draws a different Blueprint")
				}
			}
		} else if bp.Complete {
			t.Fatal("undecodable config drew a complete Blueprint")
		}
	})
}

// withoutUnknown is bp without its unknown-field warnings, the count of the
// rest included (with a non-nil
// Diagnostics either way, so that two results compare).
func withoutUnknown(bp *materials.Blueprint) *materials.Blueprint {
	c := *bp
	c.Diagnostics = materials.Diagnostics{}
	for _, d := range bp.Diagnostics {
		if !strings.HasSuffix(d.Message, "(not in EVE's schema): ignored") {
			c.Diagnostics = append(c.Diagnostics, d)
		}
	}
	return &c
}

func countUnknown(bp *materials.Blueprint) int {
	return len(bp.Diagnostics) - len(withoutUnknown(bp).Diagnostics)
}

type seed struct {
	name string
	data []byte
}

// seedInputs are the fixtures and example configs, in JSON and binary,
// plus a few broken shapes.
func seedInputs(tb testing.TB) []seed {
	var out []seed
	for _, p := range configFiles(tb) {
		data := mustRead(tb, p)
		base := strings.TrimSuffix(filepath.Base(p), ".json")
		out = append(out, seed{base + "-json", data})
		cfg := mustDecode(tb, p)
		bin, err := proto.MarshalOptions{Deterministic: true}.Marshal(cfg)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, seed{base + "-binary", bin})
		out = append(out, seed{base + "-binary-truncated", bin[:len(bin)/2]})
	}
	// Binary variants of the sample that walk the error and cross-check
	// paths, so mutation starts near them.
	variants := []struct {
		name   string
		mutate func(c *eve.EdgeDevConfig)
	}{
		{"unsupported-datastore", func(c *eve.EdgeDevConfig) { c.Datastores[1].DType = eve.DsType(44) }},
		{"duplicate-ids", func(c *eve.EdgeDevConfig) {
			c.Volumes[2].Uuid = c.Volumes[1].Uuid
			c.ContentInfo[2].Uuid = c.ContentInfo[0].Uuid
			c.Apps[1].Uuidandversion.Uuid = c.Apps[0].Uuidandversion.Uuid
		}},
		{"phase1-disagrees", func(c *eve.EdgeDevConfig) {
			c.Apps[2].Drives[0].Image.Name = "other:1"
			c.Apps[2].Drives[0].Readonly = true
			c.Apps[2].Drives = append(c.Apps[2].Drives, &eve.Drive{Drvtype: eve.DriveType_HDD_EMPTY})
		}},
		{"pinned-and-preferences", func(c *eve.EdgeDevConfig) {
			c.ContentInfo[2].URL = "library/nginx@sha256:" + sha64a
			c.ContentInfo[1].DsIdsList = []string{dsReg, unknown, dsHTTP, dsHTTP}
		}},
		{"bad-urls-and-sizes", func(c *eve.EdgeDevConfig) {
			c.ContentInfo[0].URL = `a\..\b`
			c.Volumes[4].Maxsizebytes = 0
			c.Apps[3].Drives[1].Maxsizebytes = -1
			c.Apps[0].VolumeRefList[0].GenerationCount = 9
		}},
	}
	for _, v := range variants {
		cfg := mustDecode(tb, samplePath)
		v.mutate(cfg)
		bin, err := proto.MarshalOptions{Deterministic: true}.Marshal(cfg)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, seed{"sample-" + v.name + "-binary", bin})
	}
	small, err := proto.Marshal(&eve.EdgeDevConfig{
		ControllerEpoch: 1,
		Datastores:      []*eve.DatastoreConfig{{Id: dsHTTP, DType: eve.DsType_DsHttp, Fqdn: "h"}},
		ContentInfo:     []*eve.ContentTree{{Uuid: ctRaw, DsId: dsHTTP, URL: "a/../b", Iformat: eve.Format_RAW, Sha256: "x"}},
		Volumes: []*eve.Volume{
			{Uuid: vRaw, Origin: &eve.VolumeContentOrigin{Type: eve.VolumeContentOriginType_VCOT_DOWNLOAD, DownloadContentTreeID: ctRaw}},
			{Uuid: vBlank, Origin: &eve.VolumeContentOrigin{Type: eve.VolumeContentOriginType_VCOT_BLANK}, Maxsizebytes: -1},
		},
		Apps: []*eve.AppInstanceConfig{{
			Uuidandversion: &eve.UUIDandVersion{Uuid: appOld},
			Drives:         []*eve.Drive{{Image: &eve.Image{Uuidandversion: &eve.UUIDandVersion{Uuid: imgOld}, Name: "i.qcow2", DsId: dsHTTP, Iformat: eve.Format_QCOW2}}, {Drvtype: eve.DriveType_HDD_EMPTY}},
		}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	out = append(out,
		seed{"small-binary", small},
		seed{"empty", []byte{}},
		seed{"empty-object", []byte("{}")},
		seed{"broken-json", []byte(`{"volumes":[{"uuid":`)},
		seed{"blank-then-binary", append([]byte("\n{"), make([]byte, 123)...)},
		seed{"unknown-fields-json", []byte("\xef\xbb\xbf" + `{"bogus": 1, "networks": [{"x": 1}], "contentInfo": [{"uuid": "` + ctRaw + `", "readOnlyy": true, "siginfo": {"sig": 1}}], "apps": [{"volumeRefList": [{"mountDirr": "/d"}]}]}`)},
	)
	return out
}

// TestSeedCorpus keeps testdata/fuzz/FuzzLoad in step with seedInputs, so
// `go test -fuzz` starts from the same committed corpus everywhere.
// EDGEWRIGHT_UPDATE_CORPUS=1 rewrites it.
func TestSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzLoad")
	update := os.Getenv("EDGEWRIGHT_UPDATE_CORPUS") == "1"
	for _, s := range seedInputs(t) {
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s.data)
		path := filepath.Join(dir, "seed-"+s.name)
		if update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with EDGEWRIGHT_UPDATE_CORPUS=1)", err)
		}
		if string(got) != want {
			t.Errorf("%s is stale (run with EDGEWRIGHT_UPDATE_CORPUS=1)", path)
		}
	}
}
