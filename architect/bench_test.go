package architect_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/edgewright/edgewright/architect"
)

// BenchmarkLoad measures decode + Draw of the sample config in both
// encodings; the fuzz target's speed follows from it.
func BenchmarkLoad(b *testing.B) {
	js := mustRead(b, samplePath)
	bin, err := proto.Marshal(mustDecode(b, samplePath))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		data []byte
	}{{"json", js}, {"binary", bin}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if bp := architect.Load(c.data); !bp.Valid() {
					b.Fatal(bp.Diagnostics)
				}
			}
		})
	}
}
