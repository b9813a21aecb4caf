package inspector

import (
	"context"
	"os"
	"strconv"
	"testing"
)

// BenchmarkSurvey surveys the root named by EDGEWRIGHT_BENCH_ROOT (made by
// bench/cmd/gentree); bench/survey.sh compares whole runs against find.
func BenchmarkSurvey(b *testing.B) {
	root := os.Getenv("EDGEWRIGHT_BENCH_ROOT")
	if root == "" {
		b.Skip("EDGEWRIGHT_BENCH_ROOT is not set (see bench/survey.sh)")
	}
	for b.Loop() {
		if _, err := Survey(context.Background(), Options{Root: root, Workers: benchWorkers()}); err != nil {
			b.Fatal(err)
		}
	}
}

func benchWorkers() int {
	n, _ := strconv.Atoi(os.Getenv("EDGEWRIGHT_BENCH_WORKERS"))
	return n
}
