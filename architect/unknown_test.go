package architect_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/edgewright/edgewright/architect"
	"github.com/edgewright/edgewright/materials"
)

const msgUnknown = "unknown field (not in EVE's schema): ignored"

func unknownWarnings(bp *materials.Blueprint) []string {
	var out []string
	for _, d := range bp.Diagnostics {
		if d.Message == msgUnknown {
			if d.Severity != materials.SeverityWarning {
				out = append(out, "NOT A WARNING "+d.String())
				continue
			}
			out = append(out, d.Path+"="+d.Value)
		}
	}
	return out
}

// TestUnknownJSONField: a field neither edgewright's nor EVE's schema has is
// one warning at its path; a field only EVE has is ignored in silence, with
// nothing inside it walked. Keys may be proto or JSON names.
func TestUnknownJSONField(t *testing.T) {
	var (
		ct  = `"uuid": "2b3c4d5e-0000-4000-8000-000000000001", "dsId": "3c4d5e6f-0000-4000-8000-000000000001", "URL": "a.img", "iformat": "RAW", "sha256": "` + sha64a + `"`
		ds  = `"datastores": [{"id": "3c4d5e6f-0000-4000-8000-000000000001", "dType": "DsHttp", "fqdn": "http://127.0.0.1:1"}]`
		vol = `"uuid": "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f10", "origin": {"type": "VCOT_BLANK"}, "maxsizebytes": "1048576"`
		app = `"uuidandversion": {"uuid": "9a8b7c6d-0000-4000-8000-000000000001", "version": "1"}, "displayname": "a"`
	)
	for _, tc := range []struct {
		name, cfg string
		want      []string
	}{
		{"top level", `{"controllerEpochh": 1, ` + ds + `}`, []string{"controllerEpochh=controllerEpochh"}},
		{"content tree", `{` + ds + `, "contentInfo": [{` + ct + `, "readOnlyy": true}]}`,
			[]string{"contentInfo[0].readOnlyy=readOnlyy"}},
		{"content tree signature", `{` + ds + `, "contentInfo": [{` + ct + `}, {` + ct + `, "siginfo": {"signatur": "AA=="}}]}`,
			[]string{"contentInfo[1].siginfo.signatur=signatur"}},
		{"volume", `{"volumes": [{` + vol + `, "readOnlyy": true}]}`, []string{"volumes[0].readOnlyy=readOnlyy"}},
		{"volume origin", `{"volumes": [{"uuid": "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f10", "origin": {"type": "VCOT_BLANK", "kind": 1}, "maxsizebytes": "1048576"}]}`,
			[]string{"volumes[0].origin.kind=kind"}},
		{"app volumeRefList entry", `{"volumes": [{` + vol + `}], "apps": [{` + app + `, "volumeRefList": [{"uuid": "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f10", "mountDirr": "/data"}]}]}`,
			[]string{"apps[0].volumeRefList[0].mountDirr=mountDirr"}},
		{"app purge", `{"apps": [{` + app + `, "purge": {"countr": 1}}]}`, []string{"apps[0].purge.countr=countr"}},
		{"parent under its proto name", `{"volumes": [{` + vol + `}], "apps": [{"uuidandversion": {"uuid": "9a8b7c6d-0000-4000-8000-000000000001", "versoin": "1"}, "volumeRefList": [{"uuid": "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f10", "generationCount": 0, "mount_dir": "/d"}]}]}`,
			[]string{"apps[0].uuidandversion.versoin=versoin"}},
		{"one warning each", `{"bogus": 1, "volumes": [{` + vol + `, "x": 1}, {"uuid": "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f11", "origin": {"type": "VCOT_BLANK"}, "maxsizebytes": "1", "y": {"z": 1}}]}`,
			[]string{"bogus=bogus", "volumes[0].x=x", "volumes[1].y=y"}},
		// Fields EVE has and edgewright does not model, in either spelling,
		// with rubbish inside that must not be walked.
		{"upstream-only fields", `{"networks": [{"bogus": 1}], "config_timestamp": "2024-01-01T00:00:00Z", "configTimestamp": "x", "baseos": [{"nonsense": {"deep": 1}}],
			"contentInfo": [{` + ct + `, "designated_node_id": "n", "designatedNodeId": "n"}], ` + ds + `,
			"volumes": [{` + vol + `, "designatedNodeId": "n"}],
			"apps": [{` + app + `, "fixedresources": {"memory": 1, "nonsense": 2}, "cloud_init_version": 1}]}`, nil},
		// Our own fields under both names are known, of course.
		{"proto and JSON names", `{"controller_epoch": "1", "contentInfo": [{` + ct + `, "ds_ids_list": ["3c4d5e6f-0000-4000-8000-000000000001"], "generationCount": "1", "customMetaData": "m"}], ` + ds + `}`, nil},
		{"null values", `{"contentInfo": null, "volumes": [{"uuid": "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f10", "origin": null, "maxsizebytes": null}], "apps": [{"purge": null, "drives": null}]}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, bom := range []string{"", "\xef\xbb\xbf"} {
				bp := architect.Load([]byte(bom + tc.cfg))
				if !bp.Complete {
					t.Fatalf("bom %q: incomplete: %v", bom, bp.Diagnostics)
				}
				if got := unknownWarnings(bp); !slices.Equal(got, tc.want) {
					t.Errorf("bom %q: unknown-field warnings %q, want %q", bom, got, tc.want)
				}
			}
		})
	}
}

// TestRealConfigsHaveNoUnknownField: real EVE configs carry many fields
// outside edgewright's subset (networks, configItems, ...); none of them is
// unknown to EVE, so none may warn.
func TestRealConfigsHaveNoUnknownField(t *testing.T) {
	for _, p := range configFiles(t) {
		if got := unknownWarnings(architect.Load(mustRead(t, p))); len(got) > 0 {
			t.Errorf("%s: unknown-field warnings %q", p, got)
		}
	}
}

// TestBinaryUnknownFieldsKept: binary configs keep unknown fields as
// protobuf does, without a warning.
func TestBinaryUnknownFieldsKept(t *testing.T) {
	cfg := mustDecode(t, samplePath)
	bin, err := proto.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	bin = protowire.AppendVarint(protowire.AppendTag(bin, 999, protowire.VarintType), 7)
	got, err := architect.Decode(bin)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.ProtoReflect().GetUnknown()) == 0 {
		t.Error("unknown field 999 was dropped")
	}
	if w := unknownWarnings(architect.Load(bin)); len(w) > 0 {
		t.Errorf("binary config warned: %q", w)
	}
}

// TestUnknownJSONFieldsBounded: a config of a thousand unknown fields gives a
// hundred warnings and one that counts the rest.
func TestUnknownJSONFieldsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"volumes": [{"uuid": "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f10", "origin": {"type": "VCOT_BLANK"}, "maxsizebytes": "1048576"`)
	for i := range 1000 {
		fmt.Fprintf(&b, `, "x%d": 1`, i)
	}
	b.WriteString(`}]}`)
	bp := architect.Load([]byte(b.String()))
	if got := len(unknownWarnings(bp)); got != 100 {
		t.Errorf("%d unknown-field warnings, want 100", got)
	}
	var rest []string
	for _, d := range bp.Diagnostics {
		if strings.HasSuffix(d.Message, "more unknown fields (not in EVE's schema): ignored") {
			rest = append(rest, d.Path+"="+d.Value)
		}
	}
	if !slices.Equal(rest, []string{"config=900"}) {
		t.Errorf("summary warnings %q, want config=900", rest)
	}
}
