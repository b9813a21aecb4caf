// Command genversions writes the two versions of issue 17's benchmark
// image: v1 of SIZE MiB pseudo-random bytes, and v2 with 5% of v1's bytes
// rewritten as scattered 64 KiB blocks plus 10 MiB inserted in the middle
// (the same recipe as examples/wright's acceptance test).
//
//	genversions -size-mib 1024 V1 V2
package main

import (
	"bufio"
	"flag"
	"log"
	"math/rand/v2"
	"os"
)

func fill(r *rand.Rand, b []byte) {
	for i := 0; i+8 <= len(b); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
}

func main() {
	sizeMiB := flag.Int64("size-mib", 1024, "v1's size in MiB")
	flag.Parse()
	if flag.NArg() != 2 {
		log.Fatal("usage: genversions [-size-mib N] V1 V2")
	}
	size := *sizeMiB << 20
	v1 := make([]byte, size)
	fill(rand.New(rand.NewPCG(1, ^uint64(1))), v1)
	if err := os.WriteFile(flag.Arg(0), v1, 0o644); err != nil {
		log.Fatal(err)
	}
	const block = 64 << 10
	blocks := int(size / block)
	r := rand.New(rand.NewPCG(17, 17))
	for _, b := range r.Perm(blocks)[:blocks*5/100] {
		fill(rand.New(rand.NewPCG(uint64(b)+1000, ^uint64(b)+1000)), v1[int64(b)*block:int64(b+1)*block])
	}
	f, err := os.Create(flag.Arg(1))
	if err != nil {
		log.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.Write(v1[:size/2])
	ins := make([]byte, 10<<20)
	fill(rand.New(rand.NewPCG(99, ^uint64(99))), ins)
	w.Write(ins)
	w.Write(v1[size/2:])
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}
