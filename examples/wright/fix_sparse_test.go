package main

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestFixSparsifyConverges: a raw volume of random data is fully
// allocated, so check lists its sparsify; the fix finds no zeros to
// punch and leaves it so, and a second check lists nothing (the journal
// knows what the fix left). Zeros written into it make it listed again,
// and that fix frees them.
func TestFixSparsifyConverges(t *testing.T) {
	root := t.TempDir()
	vols := filepath.Join(root, "persist/vault/volumes")
	if err := os.MkdirAll(vols, 0o755); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 1<<20)
	rand.Read(data)
	vol := filepath.Join(vols, fxFlat+"#1.raw")
	if err := os.WriteFile(vol, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// No journal yet: the first fix makes it, after the check surveyed
	// the root without one, and still runs.
	id := "optimize:volume/" + fxFlat + "#1"
	wantFixes := func(step string, want ...string) {
		t.Helper()
		code, fixes, _, stderr := checkJSON(t, root)
		var got []string
		for _, f := range fixes {
			got = append(got, f["id"].(string))
		}
		if len(got) != len(want) || (len(want) == 1 && got[0] != want[0]) || code != map[bool]int{true: exitFixes, false: exitOK}[len(want) > 0] {
			t.Fatalf("%s: check exits %d listing %v, want %v\n%s", step, code, got, want, stderr)
		}
	}
	fix := func(step string) {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run([]string{"fix", "--root", root, "--all"}, &out, &errb); code != exitOK {
			t.Fatalf("%s: fix --all: exit %d\n%s%s", step, code, out.String(), errb.String())
		}
	}
	allocated := func() int64 {
		fi, err := os.Stat(vol)
		if err != nil {
			t.Fatal(err)
		}
		return blocksOf(fi) * 512
	}
	wantFixes("random data", id)
	fix("random data")
	if got, _ := os.ReadFile(vol); !bytes.Equal(got, data) {
		t.Fatal("the sparsify changed the volume's bytes")
	}
	if a := allocated(); a < int64(len(data)) {
		t.Fatalf("random data sparsified to %d bytes allocated", a)
	}
	wantFixes("after the fix")
	wantFixes("after the fix, again")

	// Zeros written into it: listed again, and the fix punches them.
	f, err := os.OpenFile(vol, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 256<<10), 256<<10); err != nil {
		t.Fatal(err)
	}
	f.Close()
	wantFixes("zeros written", id)
	fix("zeros written")
	if a := allocated(); a > int64(len(data))-128<<10 {
		t.Errorf("after zeros were written and sparsified, %d bytes allocated of %d", a, len(data))
	}
	wantFixes("zeros punched")
}

func blocksOf(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks
	}
	return 0
}
