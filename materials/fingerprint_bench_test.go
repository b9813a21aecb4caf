package materials

import (
	"fmt"
	"testing"
	"time"
)

func BenchmarkFingerprint(b *testing.B) {
	fp := &Floorplan{}
	for i := range 10000 {
		fp.Volumes = append(fp.Volumes, VolumeFile{
			ID: fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i), Generation: 1, Format: FormatQcow2,
			Path:  fmt.Sprintf("persist/vault/volumes/%08x-0000-4000-8000-%012x#1.qcow2", i, i),
			State: StateComplete, VirtualSize: 8 << 30, ApparentSize: 196608, ModTime: time.Unix(1700000000, int64(i)),
		})
	}
	b.ReportAllocs()
	for b.Loop() {
		Fingerprint(fp)
	}
}
