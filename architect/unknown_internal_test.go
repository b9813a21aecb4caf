package architect

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/edgewright/edgewright/materials/eve"
)

// TestUpstreamNamesCoverOurSchema: every message reachable from our
// EdgeDevConfig has its upstream names, sorted for the binary search, and
// they include all of ours (our schema is a subset of EVE's). A message
// missing here would warn on every field only EVE has.
func TestUpstreamNamesCoverOurSchema(t *testing.T) {
	seen := map[protoreflect.FullName]bool{}
	var walk func(md protoreflect.MessageDescriptor)
	walk = func(md protoreflect.MessageDescriptor) {
		if seen[md.FullName()] {
			return
		}
		seen[md.FullName()] = true
		names, ok := upstreamNames[string(md.FullName())]
		if !ok {
			t.Errorf("%s: not in upstreamNames; regenerate upstreamnames.go", md.FullName())
		}
		if !slices.IsSorted(names) {
			t.Errorf("%s: names not sorted", md.FullName())
		}
		for i := 0; i < md.Fields().Len(); i++ {
			fd := md.Fields().Get(i)
			for _, n := range []string{string(fd.Name()), fd.JSONName()} {
				if !upstreamHas(md.FullName(), n) {
					t.Errorf("%s: our field %s not among upstream's names", md.FullName(), n)
				}
			}
			if fd.Message() != nil {
				walk(fd.Message())
			}
		}
	}
	walk((&eve.EdgeDevConfig{}).ProtoReflect().Descriptor())
	for k := range upstreamNames {
		if !seen[protoreflect.FullName(k)] {
			t.Errorf("upstreamNames has %s, which our config does not reach", k)
		}
	}
}
