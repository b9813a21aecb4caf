package reporter

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials/eve"
)

// wireField is what a real controller expects at one field number.
type wireField struct {
	name string
	typ  protowire.Type
	msg  string // the nested message, for BytesType fields that hold one
}

// wireTable is ARCHITECTURE.md's table of EVE field numbers for the
// messages edgewright emits, with the wire type each field's proto type
// gives. TestWireTableMatchesArchitecture keeps it honest against the
// document; TestEmittedMessagesWalkTheWireTable holds every emitted byte
// to it.
var wireTable = map[string]map[protowire.Number]wireField{
	"ZInfoMsg": {1: {"ztype", protowire.VarintType, ""}, 2: {"devId", protowire.BytesType, ""},
		13: {"vinfo", protowire.BytesType, "ZInfoVolume"}, 14: {"cinfo", protowire.BytesType, "ZInfoContentTree"},
		15: {"binfo", protowire.BytesType, "ZInfoBlobList"}, 6: {"atTimeStamp", protowire.BytesType, "Timestamp"}},
	"ZInfoBlobList": {1: {"blob", protowire.BytesType, "ZInfoBlob"}},
	"ZMetricMsg": {1: {"devID", protowire.BytesType, ""}, 3: {"atTimeStamp", protowire.BytesType, "Timestamp"},
		8: {"vm", protowire.BytesType, "ZMetricVolume"}},
	"ZInfoVolume": {1: {"uuid", protowire.BytesType, ""}, 2: {"displayName", protowire.BytesType, ""},
		3: {"usage", protowire.BytesType, "UsageInfo"}, 4: {"resources", protowire.BytesType, "VolumeResources"},
		5: {"state", protowire.VarintType, ""}, 6: {"progressPercentage", protowire.VarintType, ""},
		7: {"volumeErr", protowire.BytesType, "ErrorInfo"}, 8: {"generation_count", protowire.VarintType, ""}},
	"ZInfoContentTree": {1: {"uuid", protowire.BytesType, ""}, 2: {"displayName", protowire.BytesType, ""},
		3: {"sha256", protowire.BytesType, ""}, 4: {"resources", protowire.BytesType, "ContentResources"},
		5: {"usage", protowire.BytesType, "UsageInfo"}, 6: {"state", protowire.VarintType, ""},
		7: {"progressPercentage", protowire.VarintType, ""}, 8: {"err", protowire.BytesType, "ErrorInfo"},
		9: {"componentShaList", protowire.BytesType, ""}, 10: {"generation_count", protowire.VarintType, ""}},
	"ZInfoBlob": {1: {"sha256", protowire.BytesType, ""}, 2: {"resources", protowire.BytesType, "ContentResources"},
		3: {"usage", protowire.BytesType, "UsageInfo"}, 4: {"state", protowire.VarintType, ""},
		5: {"progressPercentage", protowire.VarintType, ""}, 6: {"err", protowire.BytesType, "ErrorInfo"}},
	"UsageInfo": {1: {"createTime", protowire.BytesType, "Timestamp"}, 2: {"refCount", protowire.VarintType, ""},
		3: {"lastRefcountChangeTime", protowire.BytesType, "Timestamp"}},
	"VolumeResources":  {1: {"maxSizeBytes", protowire.VarintType, ""}, 2: {"curSizeBytes", protowire.VarintType, ""}},
	"ContentResources": {1: {"curSizeBytes", protowire.VarintType, ""}},
	"ErrorInfo": {1: {"description", protowire.BytesType, ""}, 2: {"timestamp", protowire.BytesType, "Timestamp"},
		3: {"severity", protowire.VarintType, ""}, 5: {"retry_condition", protowire.BytesType, ""}},
	"ZMetricVolume": {1: {"uuid", protowire.BytesType, ""}, 2: {"displayName", protowire.BytesType, ""},
		3: {"readBytes", protowire.VarintType, ""}, 4: {"writeBytes", protowire.VarintType, ""},
		5: {"readCount", protowire.VarintType, ""}, 6: {"writeCount", protowire.VarintType, ""},
		7: {"totalBytes", protowire.VarintType, ""}, 8: {"usedBytes", protowire.VarintType, ""},
		9: {"freeBytes", protowire.VarintType, ""}},
	"Timestamp": {1: {"seconds", protowire.VarintType, ""}, 2: {"nanos", protowire.VarintType, ""}},
}

// walk checks one message's bytes against the table, recursing into
// nested messages, and counts each field seen.
func walk(t *testing.T, msg string, b []byte, seen map[string]bool) {
	t.Helper()
	fields, ok := wireTable[msg]
	if !ok {
		t.Fatalf("no wire table for %s", msg)
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("%s: bad tag: %v", msg, protowire.ParseError(n))
		}
		b = b[n:]
		f, ok := fields[num]
		if !ok {
			t.Errorf("%s: field number %d is not in the table", msg, num)
		} else if f.typ != typ {
			t.Errorf("%s.%s (field %d): wire type %d, want %d", msg, f.name, num, typ, f.typ)
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			t.Fatalf("%s: bad value of field %d: %v", msg, num, protowire.ParseError(m))
		}
		if ok {
			seen[msg+"."+f.name] = true
			if f.msg != "" && typ == protowire.BytesType {
				inner, _ := protowire.ConsumeBytes(b)
				walk(t, f.msg, inner, seen)
			}
		}
		b = b[m:]
	}
}

func TestEmittedMessagesWalkTheWireTable(t *testing.T) {
	at := time.Date(2026, 11, 22, 3, 4, 5, 600, time.UTC)
	seen := map[string]bool{}
	for _, s := range scenarios {
		r := Build(s.in())
		var msgs []proto.Message
		for _, m := range r.InfoMessages("dev-1", at) {
			msgs = append(msgs, m)
		}
		msgs = append(msgs, r.MetricMessage("dev-1", at))
		for _, m := range msgs {
			b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			walk(t, string(m.ProtoReflect().Descriptor().Name()), b, seen)
		}
	}
	// Every field in the table must have been on the wire at least once,
	// or the walk proved nothing about it.
	for msg, fields := range wireTable {
		for _, f := range fields {
			if !seen[msg+"."+f.name] {
				t.Errorf("%s.%s never appeared in an emitted message", msg, f.name)
			}
		}
	}
}

// TestWireTableMatchesArchitecture reads the field numbers in
// ARCHITECTURE.md and checks them against the wire table and the generated
// schema, and the ZSwState values against the enum.
func TestWireTableMatchesArchitecture(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "shared", "ARCHITECTURE.md"))
	if err != nil {
		testenv.Need(t, "../shared/ARCHITECTURE.md is not beside the repository: "+err.Error())
	}
	text := string(doc)
	group := regexp.MustCompile(`\b(ZInfoVolume|ZInfoContentTree|ZInfoBlob|UsageInfo|VolumeResources|ContentResources|ErrorInfo|ZMetricVolume): ((?:[A-Za-z_][A-Za-z0-9_]*=\d+(?:, )?)+)`)
	pair := regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)=(\d+)`)
	checked := 0
	for _, g := range group.FindAllStringSubmatch(text, -1) {
		msg := g[1]
		desc := (&eve.ZInfoMsg{}).ProtoReflect().Descriptor().ParentFile().Messages().ByName(protoreflect.Name(msg))
		if desc == nil {
			desc = (&eve.ZMetricMsg{}).ProtoReflect().Descriptor().ParentFile().Messages().ByName(protoreflect.Name(msg))
		}
		if desc == nil {
			t.Errorf("%s is in ARCHITECTURE.md but not in the schema", msg)
			continue
		}
		for _, p := range pair.FindAllStringSubmatch(g[2], -1) {
			num, _ := strconv.Atoi(p[2])
			f, ok := wireTable[msg][protowire.Number(num)]
			if !ok || f.name != p[1] {
				t.Errorf("ARCHITECTURE.md says %s.%s=%d; the wire table has %+v", msg, p[1], num, f)
			}
			fd := desc.Fields().ByNumber(protowire.Number(num))
			if fd == nil || string(fd.Name()) != p[1] {
				t.Errorf("ARCHITECTURE.md says %s.%s=%d; the schema has %v", msg, p[1], num, fd)
			}
			checked++
		}
	}
	if checked < 40 {
		t.Fatalf("only %d field numbers found in ARCHITECTURE.md; its table has moved or changed shape", checked)
	}
	states := regexp.MustCompile(`ZSwState: ([^\n]+)`).FindStringSubmatch(text)
	if states == nil {
		t.Fatal("ZSwState line not found in ARCHITECTURE.md")
	}
	n := 0
	for _, p := range regexp.MustCompile(`([A-Z_]+)=(\d+)`).FindAllStringSubmatch(states[1], -1) {
		want, _ := strconv.Atoi(p[2])
		if got, ok := eve.ZSwState_value[p[1]]; !ok || int(got) != want {
			t.Errorf("ZSwState %s: ARCHITECTURE.md says %d, the schema %d (present %v)", p[1], want, got, ok)
		}
		n++
	}
	if n < 15 {
		t.Errorf("only %d ZSwState values checked", n)
	}
}
