package main

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgewright/edgewright/internal/testenv"
)

// chunkLog counts the chunk requests a datastore answers, by chunk.
type chunkLog struct {
	mu  sync.Mutex
	got map[string]int
	n   int
}

func (c *chunkLog) take() (map[string]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, n := c.got, c.n
	c.got, c.n = map[string]int{}, 0
	return g, n
}

// TestKillChunkedDownload SIGKILLs `wright apply` in the middle of a
// chunked download of v2 (v1 applied before, its blob the seed), re-runs
// it and checks that the re-run converges, the blob and the volume are
// v2's, and the re-run resumed from the chunks already written: across
// both runs no more chunk requests than a clean download's plus the
// fetches that were in flight at the kill (Ahead, 64).
func TestKillChunkedDownload(t *testing.T) {
	qemu := testenv.QemuImg(t)
	bin := buildWright(t)
	pub := t.TempDir()
	const size = 32 << 20
	makeVersions(t, filepath.Join(pub, "v1.raw"), filepath.Join(pub, "v2.raw"), size, 1<<20)
	for _, img := range []string{"v1.raw", "v2.raw"} {
		var out, errb bytes.Buffer
		if code := run([]string{"chunk", filepath.Join(pub, img), "--out", pub}, &out, &errb); code != 0 {
			t.Fatalf("wright chunk: %s", errb.String())
		}
	}
	cl := &chunkLog{got: map[string]int{}}
	files := http.StripPrefix("/images/", http.FileServer(http.Dir(pub)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/images/chunks/") {
			cl.mu.Lock()
			cl.got[r.URL.Path]++
			cl.n++
			cl.mu.Unlock()
			// A slow link: the kill lands mid-download.
			time.Sleep(20 * time.Millisecond)
		}
		files.ServeHTTP(w, r)
	}))
	defer srv.Close()
	v1cfg := chunkConfig(t, srv.URL, "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e01", "v1.raw", "RAW", fileSum(t, filepath.Join(pub, "v1.raw")), size, 1)
	st, _ := os.Stat(filepath.Join(pub, "v2.raw"))
	sum2 := fileSum(t, filepath.Join(pub, "v2.raw"))
	v2cfg := chunkConfig(t, srv.URL, "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e02", "v2.raw", "RAW", sum2, st.Size(), 2)

	apply := func(root, cfg string) {
		t.Helper()
		out, err := exec.Command(bin, "apply", "--config", cfg, "--root", root).CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 3) {
			t.Fatalf("apply %s: %v\n%s", cfg, err, out)
		}
	}
	// A clean download of v2, for the count.
	clean := t.TempDir()
	apply(clean, v1cfg)
	cl.take()
	apply(clean, v2cfg)
	_, cleanN := cl.take()
	if cleanN == 0 {
		t.Fatal("the clean v2 download fetched no chunk: not chunked")
	}

	root := t.TempDir()
	apply(root, v1cfg)
	cl.take()
	cmd := exec.Command(bin, "apply", "--config", v2cfg, "--root", root)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	partial := filepath.Join(root, "persist", "blobs", "ingest", sum2)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if fi, err := os.Stat(partial); err == nil && fi.Size() >= st.Size()/2 {
			break
		}
		if time.Now().After(deadline) {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
			t.Fatalf("the partial never reached half of v2:\n%s", out.String())
		}
		time.Sleep(time.Millisecond)
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
	fi, err := os.Stat(partial)
	if err != nil {
		t.Fatalf("no partial after the kill: %v", err)
	}
	firstGot, firstN := cl.take()
	apply(root, v2cfg)
	secondGot, secondN := cl.take()
	again := 0
	for k := range secondGot {
		if firstGot[k] > 0 {
			again++
		}
	}
	t.Logf("killed with %d of %d bytes written after %d chunk requests; the re-run asked for %d (%d asked before); a clean download %d",
		fi.Size(), st.Size(), firstN, secondN, again, cleanN)
	if firstN+secondN > cleanN+64 || again > 64 {
		t.Errorf("%d+%d chunk requests (%d asked twice), a clean download makes %d: the re-run did not resume", firstN, secondN, again, cleanN)
	}
	if got := fileSum(t, filepath.Join(root, "persist", "blobs", "sha256", sum2)); got != sum2 {
		t.Errorf("blob hashes to %s", got)
	}
	vols, _ := filepath.Glob(filepath.Join(root, "persist/vault/volumes/7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f10#2.*"))
	if len(vols) != 1 {
		t.Fatalf("volume generation 2: %v", vols)
	}
	if b, err := exec.Command(qemu, "compare", filepath.Join(pub, "v2.raw"), vols[0]).CombinedOutput(); err != nil {
		t.Errorf("qemu-img compare: %v: %s", err, b)
	}
}
