package eve_test

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"

	_ "github.com/edgewright/edgewright/materials/eve"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// TestUpstreamFields holds our schema to eve-api's: a wrong number, type or
// label silently misdecodes a controller's config.
func TestUpstreamFields(t *testing.T) {
	f, err := os.Open("testdata/upstream-fields.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		w := strings.Fields(line)
		msg, name, _ := strings.Cut(w[1], ".")
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName("edgewright.eve." + msg))
		if err != nil {
			t.Errorf("%s: %v", w[1], err)
			continue
		}
		seen[w[1]] = true
		switch w[0] {
		case "field":
			fd := d.(protoreflect.MessageDescriptor).Fields().ByName(protoreflect.Name(name))
			if fd == nil {
				t.Errorf("%s: missing", w[1])
				continue
			}
			typ := fd.Kind().String()
			if fd.Enum() != nil {
				typ = "enum:" + string(fd.Enum().Name())
			}
			if fd.Message() != nil {
				typ = "message:" + string(fd.Message().Name())
			}
			lab := "single"
			if fd.IsList() {
				lab = "repeated"
			}
			if got, want := fmt.Sprintf("%d %s %s", fd.Number(), typ, lab), strings.Join(w[2:5], " "); got != want {
				t.Errorf("%s = %s, upstream %s", w[1], got, want)
			}
		case "value":
			v := d.(protoreflect.EnumDescriptor).Values().ByName(protoreflect.Name(name))
			if v == nil {
				t.Errorf("%s: missing", w[1])
			} else if got := fmt.Sprint(v.Number()); got != w[2] {
				t.Errorf("%s = %s, upstream %s", w[1], got, w[2])
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	// Every field and value we carry must be in the table.
	protoregistry.GlobalFiles.RangeFilesByPackage("edgewright.eve", func(fd protoreflect.FileDescriptor) bool {
		for i := 0; i < fd.Messages().Len(); i++ {
			m := fd.Messages().Get(i)
			for j := 0; j < m.Fields().Len(); j++ {
				if k := string(m.Name()) + "." + string(m.Fields().Get(j).Name()); !seen[k] {
					t.Errorf("%s: not in upstream-fields.txt", k)
				}
			}
		}
		for i := 0; i < fd.Enums().Len(); i++ {
			e := fd.Enums().Get(i)
			for j := 0; j < e.Values().Len(); j++ {
				if k := string(e.Name()) + "." + string(e.Values().Get(j).Name()); !seen[k] {
					t.Errorf("%s: not in upstream-fields.txt", k)
				}
			}
		}
		return true
	})
}
