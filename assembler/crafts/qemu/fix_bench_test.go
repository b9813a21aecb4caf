package qemu

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials"
)

// BenchmarkFixes times the storage check's flatten and merge of a chain
// (raw blob <- middle overlay <- top overlay, EDGEWRIGHT_BENCH_BYTES of
// virtual size, 64 MiB by default; each layer writes a quarter of it)
// against plain qemu-img doing the same work in the same iteration:
// convert of the chain for flatten, rebase in place for merge, each
// followed by an fsync of what it wrote (sync FILE), as the fixer syncs
// before its rename. The fixer's extra is its header checks and, for a
// merge, the copy of the overlay it rebases (the original stays whole
// until the rename). Reported as ratios; which runs first alternates.
func BenchmarkFixes(b *testing.B) {
	qimg := testenv.QemuImg(b)
	qio := testenv.LookPath(b, "qemu-io")
	size := int64(64 << 20)
	if s := os.Getenv("EDGEWRIGHT_BENCH_BYTES"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		size = n
	}
	dir := b.TempDir()
	run := func(bin string, args ...string) {
		b.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s %v: %v\n%s", bin, args, err, out)
		}
	}
	q := strconv.FormatInt(size/4, 10)
	run(qimg, "create", "-q", "-f", "raw", "base", strconv.FormatInt(size, 10))
	run(qio, "-f", "raw", "-c", "write -P 1 0 "+q, "base")
	run(qimg, "create", "-q", "-f", "qcow2", "-b", "base", "-F", "raw", "mid.qcow2")
	run(qio, "-c", "write -P 2 "+q+" "+q, "mid.qcow2")
	run(qimg, "create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", "top.qcow2")
	run(qio, "-c", "write -P 3 "+strconv.FormatInt(size/2, 10)+" "+q, "top.qcow2")
	chain := []device.Link{
		{Name: "mid.qcow2", Path: filepath.Join(dir, "mid.qcow2"), Format: materials.FormatQcow2},
		{Name: "base", Path: filepath.Join(dir, "base"), Format: materials.FormatRaw},
	}
	v := &Volumes{}
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		fixer func(path string) error
		plain func(path string)
	}{
		{"flatten", func(p string) error { return v.Flatten(ctx, p, chain, nil) },
			func(p string) { run(qimg, "convert", "-O", "qcow2", p, p+".plain"); run("sync", p+".plain") }},
		{"merge", func(p string) error { return v.Merge(ctx, p, chain, nil) },
			func(p string) { run(qimg, "rebase", "-b", "base", "-F", "raw", p); run("sync", p) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var fixT, plainT time.Duration
			for i := 0; i < b.N; i++ {
				work := filepath.Join(dir, tc.name+".qcow2")
				for _, fixFirst := range []bool{i%2 == 0, i%2 != 0} {
					run("cp", "top.qcow2", work)
					run("sync")
					start := time.Now()
					if fixFirst {
						if err := tc.fixer(work); err != nil {
							b.Fatal(err)
						}
						fixT += time.Since(start)
					} else {
						tc.plain(work)
						plainT += time.Since(start)
					}
					os.Remove(work + ".plain")
				}
			}
			b.ReportMetric(float64(fixT.Milliseconds())/float64(b.N), "fix-ms/op")
			b.ReportMetric(float64(plainT.Milliseconds())/float64(b.N), "qemu-img-ms/op")
			b.ReportMetric(float64(fixT)/float64(plainT), "fix/qemu-img")
		})
	}
}
