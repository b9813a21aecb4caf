package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/edgewright/edgewright/internal/testenv"
)

const (
	killCount = 20
	// killRate is each GET's pace: slow enough that a kill lands inside
	// a download, fast enough that 20 kills fit in CI.
	killRate = 32 << 20 // bytes per second
)

// meter counts the body bytes served per blob (by sha256 hex) and paces
// every GET body at killRate.
type meter struct {
	mu     sync.Mutex
	served map[string]int64
	starts map[string][]int64 // the offset each GET of a blob started at
	// epoch counts takes: a request counts only while the take it began
	// under is the current one, so what a handler still writes to a
	// killed apply's connection after the take is nobody's.
	epoch int
	// active counts GETs being served and begun all GETs ever begun, so
	// quiet can tell when a killed apply's last request has been served.
	active, begun int
}

// quiet waits (at most 5 s) until no GET is being served and none began
// for 100 ms. A request the killed apply sent just before its kill may
// reach a handler only after the kill's take, under the new epoch (the
// kernel queued it); its bytes go to a dead socket and are no re-run's.
func (m *meter) quiet() {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		m.mu.Lock()
		active, begun := m.active, m.begun
		m.mu.Unlock()
		time.Sleep(100 * time.Millisecond)
		m.mu.Lock()
		still := m.active == 0 && active == 0 && m.begun == begun
		m.mu.Unlock()
		if still {
			return
		}
	}
}

func (m *meter) add(k string, n int, epoch int) {
	m.mu.Lock()
	if epoch == m.epoch {
		m.served[k] += int64(n)
	}
	m.mu.Unlock()
}

// take returns the counts and GET offsets since the last take and starts
// again from zero.
func (m *meter) take() (map[string]int64, map[string][]int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out, starts := m.served, m.starts
	m.served, m.starts = map[string]int64{}, map[string][]int64{}
	m.epoch++
	return out, starts
}

func (m *meter) wrap(h http.Handler, blobOf func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := blobOf(r)
		if r.Method != http.MethodGet || k == "" {
			h.ServeHTTP(w, r)
			return
		}
		var from int64
		fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-", &from)
		m.mu.Lock()
		m.starts[k] = append(m.starts[k], from)
		epoch := m.epoch
		m.active++
		m.begun++
		m.mu.Unlock()
		defer func() { m.mu.Lock(); m.active--; m.mu.Unlock() }()
		h.ServeHTTP(&pacedWriter{ResponseWriter: w, m: m, key: k, epoch: epoch}, r)
	})
}

// pacedWriter hides the ResponseWriter's ReaderFrom so every body byte
// goes through Write, 64 KiB at a time. Only a 200's or a 206's body is
// the blob's bytes: a 416's text (the answer to a partial that already
// holds the whole blob, when a kill fell between its last write and its
// commit) is not counted as served.
type pacedWriter struct {
	http.ResponseWriter
	m      *meter
	key    string
	epoch  int
	status int
}

func (p *pacedWriter) WriteHeader(code int) {
	p.status = code
	p.ResponseWriter.WriteHeader(code)
}

func (p *pacedWriter) Write(b []byte) (int, error) {
	const chunk = 64 << 10
	if p.status == 0 {
		p.status = http.StatusOK
	}
	blob := p.status == http.StatusOK || p.status == http.StatusPartialContent
	n := 0
	for len(b) > 0 {
		c := min(len(b), chunk)
		k, err := p.ResponseWriter.Write(b[:c])
		n += k
		if blob {
			p.m.add(p.key, k, p.epoch)
		}
		if err != nil {
			return n, err
		}
		b = b[c:]
		time.Sleep(time.Second * chunk / killRate)
	}
	return n, nil
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// noisy is n bytes from r where every other 64 KiB block is zero, so the
// qcow2 made of it has holes and data.
func noisy(r *rand.ChaCha8, n int, holes bool) []byte {
	b := make([]byte, n)
	r.Read(b)
	if holes {
		for off := 0; off < n; off += 128 << 10 {
			clear(b[off:min(n, off+64<<10)])
		}
	}
	return b
}

// smallSendBuffer keeps each accepted connection's send buffer at what a
// real link holds in flight: on loopback the kernel grows it to 4 MiB,
// which a kill would count as re-fetched although the assembler never
// read it.
type smallSendBuffer struct{ net.Listener }

func (l smallSendBuffer) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(128 << 10)
	}
	return c, err
}

func pacedServer(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = smallSendBuffer{srv.Listener}
	srv.Start()
	return srv
}

// whenCreating fires after when once volume id's .tmp is under root.
func whenCreating(root, id string, after time.Duration, quit <-chan struct{}) <-chan time.Time {
	fire := make(chan time.Time, 1)
	go func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
			}
			m, _ := filepath.Glob(filepath.Join(root, "persist/vault/volumes", id+"#*.tmp"))
			if len(m) > 0 {
				time.Sleep(after)
				fire <- time.Now()
				return
			}
		}
	}()
	return fire
}

// buildWright builds the CLI once, not race-built: the kills measure the
// apply, not the race detector.
func buildWright(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "wright")
	cmd := exec.Command(goBin, "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "GOFLAGS=", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build wright: %v\n%s", err, out)
	}
	return bin
}

// TestRandomKills SIGKILLs `wright apply` 20 times at random moments of
// an apply on a fresh root (downloads over paced loopback servers, raw,
// qcow2, blank and container volumes being created), re-runs it, and
// checks after each kill: the re-run converges and a plan has nothing
// left to do, every volume equals its source, no .tmp or partial is left
// under persist/, and each blob was served at most its size plus one
// in-flight chunk (1 MiB) in all. EDGEWRIGHT_KILL_SEED replays a run.
func TestRandomKills(t *testing.T) {
	if testing.Short() {
		t.Skip("runs about 60 applies")
	}
	qemu := testenv.QemuImg(t)
	bin := buildWright(t)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("EDGEWRIGHT_KILL_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("EDGEWRIGHT_KILL_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (EDGEWRIGHT_KILL_SEED=%d replays it)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1|1))

	// Content is the same every run; only the kill moments vary.
	content := rand.NewChaCha8([32]byte{'e', 'w'})
	work := t.TempDir()
	rawImg := noisy(content, 32<<20, false)
	rawPath := filepath.Join(work, "disk.raw")
	qsrc := filepath.Join(work, "q.raw")
	qPath := filepath.Join(work, "disk.qcow2")
	os.WriteFile(rawPath, rawImg, 0o600)
	os.WriteFile(qsrc, noisy(content, 16<<20, true), 0o600)
	if out, err := exec.Command(qemu, "convert", "-f", "raw", "-O", "qcow2", qsrc, qPath).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v: %s", err, out)
	}
	qImg, err := os.ReadFile(qPath)
	if err != nil {
		t.Fatal(err)
	}

	m := &meter{served: map[string]int64{}, starts: map[string][]int64{}}
	size := map[string]int64{} // blob hex → bytes
	files := map[string][]byte{"/images/disk.raw": rawImg, "/images/disk.qcow2": qImg}
	for _, b := range files {
		size[hexSum(b)] = int64(len(b))
	}
	ds := pacedServer(t, m.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, filepath.Base(r.URL.Path), timeZero, bytes.NewReader(b))
	}), func(r *http.Request) string {
		if b, ok := files[r.URL.Path]; ok {
			return hexSum(b)
		}
		return ""
	}))
	defer ds.Close()

	// The container image: one 8 MiB layer of a few files.
	big := noisy(content, 8<<20, false)
	tree := map[string][]byte{"data/big.bin": big, "etc/hostname": []byte("edge\n"), "etc/motd": []byte("killed and back\n")}
	var lb bytes.Buffer
	tw := tar.NewWriter(&lb)
	for _, d := range []string{"data/", "etc/"} {
		tw.WriteHeader(&tar.Header{Name: d, Mode: 0o755, Typeflag: tar.TypeDir})
	}
	for _, n := range []string{"data/big.bin", "etc/hostname", "etc/motd"} {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(tree[n])), Typeflag: tar.TypeReg})
		tw.Write(tree[n])
	}
	tw.Close()
	img, err := mutate.AppendLayers(empty.Image, static.NewLayer(lb.Bytes(), types.OCIUncompressedLayer))
	if err != nil {
		t.Fatal(err)
	}
	img, _ = mutate.ConfigFile(img, &v1.ConfigFile{OS: "linux", Architecture: "amd64"})
	size[hexSum(lb.Bytes())] = int64(lb.Len())
	regH := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	reg := pacedServer(t, m.wrap(regH, func(r *http.Request) string {
		if i := strings.Index(r.URL.Path, "/blobs/sha256:"); i >= 0 {
			return r.URL.Path[i+len("/blobs/sha256:"):]
		}
		return ""
	}))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	ref, _ := name.ParseReference(host+"/app:1", name.Insecure)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	m.take() // the push's own reads

	const (
		volRaw   = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f31"
		volQcow  = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f32"
		volBlank = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f33"
		volCtr   = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f34"
		blankMax = 8 << 20
	)
	cfg := fmt.Sprintf(`{
  "datastores": [
    {"id": "5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d31", "dType": "DsHttp", "fqdn": %q, "dpath": "images"},
    {"id": "5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d32", "dType": "DsContainerRegistry", "fqdn": "docker://%s"}],
  "contentInfo": [
    {"uuid": "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e31", "dsId": "5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d31", "URL": "disk.raw", "iformat": "RAW", "sha256": %q, "maxSizeBytes": "%d", "displayName": "raw"},
    {"uuid": "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e32", "dsId": "5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d31", "URL": "disk.qcow2", "iformat": "QCOW2", "sha256": %q, "maxSizeBytes": "%d", "displayName": "qcow"},
    {"uuid": "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e33", "dsId": "5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d32", "URL": "app:1", "iformat": "CONTAINER", "displayName": "app"}],
  "volumes": [
    {"uuid": %q, "origin": {"type": "VCOT_DOWNLOAD", "downloadContentTreeID": "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e31"}, "generationCount": "1", "maxsizebytes": "%d", "displayName": "raw"},
    {"uuid": %q, "origin": {"type": "VCOT_DOWNLOAD", "downloadContentTreeID": "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e32"}, "generationCount": "1", "maxsizebytes": "%d", "displayName": "qcow"},
    {"uuid": %q, "origin": {"type": "VCOT_BLANK"}, "generationCount": "1", "maxsizebytes": "%d", "displayName": "scratch"},
    {"uuid": %q, "origin": {"type": "VCOT_DOWNLOAD", "downloadContentTreeID": "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e33"}, "generationCount": "1", "displayName": "app"}]
}`, ds.URL, host, hexSum(rawImg), len(rawImg), hexSum(qImg), len(qImg),
		volRaw, len(rawImg), volQcow, 16<<20, volBlank, blankMax, volCtr)
	cfgPath := filepath.Join(work, "config.json")
	os.WriteFile(cfgPath, []byte(cfg), 0o600)

	// wright runs the CLI in its own process group, so a kill takes its
	// qemu-img children with it.
	env := []string{}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "EDGEWRIGHT_CRASH_AT=") {
			env = append(env, e)
		}
	}
	start := func(args ...string) (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(bin, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr, cmd.Env = &out, &out, env
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &out
	}
	wright := func(args ...string) (int, string) {
		cmd, out := start(args...)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		stop := context.AfterFunc(ctx, func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
		defer stop()
		err := cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return 0, out.String()
		case errors.As(err, &ee) && ee.Exited():
			return ee.ExitCode(), out.String()
		}
		t.Fatalf("wright %v: %v\n%s", args, err, out)
		return -1, ""
	}

	volumePath := func(root, id string) string {
		m, _ := filepath.Glob(filepath.Join(root, "persist/vault/volumes", id+"#1.*"))
		if len(m) != 1 {
			t.Errorf("volume %s: %d files: %v", id, len(m), m)
			return ""
		}
		return m[0]
	}
	// phase guesses what the kill interrupted from what it left behind.
	phase := func(root string) string {
		downloading := false
		for k := range size {
			if _, err := os.Stat(filepath.Join(root, "persist/blobs/sha256", k)); err != nil {
				downloading = true
			}
		}
		vols, _ := os.ReadDir(filepath.Join(root, "persist/vault/volumes"))
		final, creating := 0, false
		for _, v := range vols {
			if strings.HasSuffix(v.Name(), ".tmp") {
				creating = true
			} else {
				final++
			}
		}
		switch {
		case creating && downloading:
			return "create+download"
		case creating:
			return "create"
		case downloading:
			return "download"
		case final < 4:
			return "between"
		}
		return "bookkeeping"
	}
	check := func(root string, kill int) {
		t.Helper()
		for _, v := range []struct{ id, src, fmt string }{{volRaw, rawPath, "raw"}, {volQcow, qPath, "qcow2"}} {
			p := volumePath(root, v.id)
			if p == "" {
				continue
			}
			if out, err := exec.Command(qemu, "compare", "-f", v.fmt, "-F", filepath.Ext(p)[1:], v.src, p).CombinedOutput(); err != nil {
				t.Errorf("kill %d: qemu-img compare %s %s: %v: %s", kill, v.src, p, err, out)
			}
		}
		if p := volumePath(root, volBlank); p != "" {
			out, err := exec.Command(qemu, "info", "--output=json", "-f", filepath.Ext(p)[1:], p).Output()
			var info struct {
				VirtualSize int64 `json:"virtual-size"`
			}
			if err != nil || json.Unmarshal(out, &info) != nil || info.VirtualSize != blankMax {
				t.Errorf("kill %d: blank volume %s: virtual size %d, want %d (%v)", kill, p, info.VirtualSize, blankMax, err)
			}
		}
		if p := volumePath(root, volCtr); p != "" {
			got := map[string][]byte{}
			filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() {
					rel, _ := filepath.Rel(p, path)
					got[rel], _ = os.ReadFile(path)
				}
				return err
			})
			for n, want := range tree {
				if !bytes.Equal(got[n], want) {
					t.Errorf("kill %d: container volume %s: %d bytes, want %d", kill, n, len(got[n]), len(want))
				}
			}
			for n := range got {
				if _, ok := tree[n]; !ok {
					t.Errorf("kill %d: container volume has %s, not in the image", kill, n)
				}
			}
		}
		filepath.WalkDir(filepath.Join(root, "persist"), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if strings.HasSuffix(d.Name(), ".tmp") {
				t.Errorf("kill %d: %s left behind", kill, path)
				return fs.SkipDir
			}
			if filepath.Base(filepath.Dir(path)) == "ingest" && d.Type().IsRegular() {
				t.Errorf("kill %d: partial %s left behind", kill, path)
			}
			return nil
		})
	}

	// One apply without a kill is the control, and its length is the
	// window the kills are drawn from.
	t0 := time.Now()
	base := t.TempDir()
	if code, out := wright("apply", "--config", cfgPath, "--root", base); code != exitOK {
		t.Fatalf("apply without a kill: exit %d\n%s", code, out)
	}
	window := time.Since(t0)
	check(base, 0)
	for k, n := range func() map[string]int64 { s, _ := m.take(); return s }() {
		if _, ok := size[k]; ok && n != size[k] {
			t.Errorf("apply without a kill: blob %s served %d bytes for its %d", k[:12], n, size[k])
		}
	}
	t.Logf("an apply without a kill takes %v", window.Round(time.Millisecond))

	began := time.Now()
	phases := map[string]int{}
	maxReruns, maxRounds, missed := 0, 0, 0
	maxRefetch := map[string]int64{}
	var maxLost int64 // served before the kill but not in the partial
	for kill := 1; kill <= killCount; {
		if missed > killCount/2 {
			t.Fatalf("%d applies finished before their kill: the apply is too fast for the kill window", missed)
		}
		root := t.TempDir()
		m.take()
		started := time.Now()
		cmd, out := start("apply", "--config", cfgPath, "--root", root)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// Odd kills land anywhere in the apply; downloads take most of it,
		// so even ones land 0-30ms after a downloaded volume's .tmp appears.
		fire := time.After(10*time.Millisecond + time.Duration(rng.Int64N(int64(window-10*time.Millisecond))))
		quit := make(chan struct{})
		if kill%2 == 0 {
			vol := []string{volRaw, volQcow, volCtr}[rng.IntN(3)]
			fire = whenCreating(root, vol, time.Duration(rng.Int64N(int64(30*time.Millisecond))), quit)
		}
		select {
		case err := <-done:
			close(quit)
			if err != nil {
				t.Fatalf("apply %d (not killed): %v\n%s", kill, err, out)
			}
			missed++
			continue
		case <-fire:
		}
		close(quit)
		delay := time.Since(started)
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		ph := phase(root)
		phases[ph]++
		// What the killed apply had received and kept of each blob,
		// including what requests it sent just before the kill were
		// served after it.
		m.quiet()
		atKill, _ := m.take()
		kept := map[string]int64{}
		for k := range size {
			if st, err := os.Stat(filepath.Join(root, "persist/blobs/sha256", k)); err == nil {
				kept[k] = -1 // complete
			} else if st, err = os.Stat(filepath.Join(root, "persist/blobs/ingest", k)); err == nil {
				kept[k] = st.Size()
			}
		}

		reruns, rounds := 0, 0
		for {
			reruns++
			code, out := wright("apply", "--config", cfgPath, "--root", root)
			if code == exitOK {
				if i := strings.LastIndex(out, "converged (rounds: "); i >= 0 {
					fmt.Sscanf(out[i:], "converged (rounds: %d)", &rounds)
				}
				break
			}
			if reruns == 3 {
				t.Fatalf("kill %d (after %v, %s): apply %d after the kill exits %d:\n%s", kill, delay, ph, reruns, code, out)
			}
			t.Logf("kill %d: apply %d after the kill exits %d:\n%s", kill, reruns, code, out)
		}
		if code, out := wright("plan", "--config", cfgPath, "--root", root); code != exitOK || !strings.Contains(out, "Plan: no changes.") {
			t.Errorf("kill %d: plan after convergence: exit %d\n%s", kill, code, out)
		}
		check(root, kill)
		served, starts := m.take()
		for k := range size {
			extra := atKill[k] + served[k] - size[k]
			// The re-run resumes where the partial ends: nothing the
			// killed apply wrote is fetched again.
			if p := kept[k]; p != 0 && (p < 0 && len(starts[k]) > 0 || p > 0 && (len(starts[k]) == 0 || starts[k][0] != p)) {
				t.Errorf("kill %d (after %v, %s): blob %s: partial of %d bytes at the kill (-1: complete), the re-run's GETs start at %v", kill, delay, ph, k[:12], p, starts[k])
			}
			if p := kept[k]; p >= 0 && atKill[k] > p {
				maxLost = max(maxLost, atKill[k]-p)
			}
			maxRefetch[k] = max(maxRefetch[k], extra)
			// Exactly the rest is fetched again: what the server sent
			// before the kill beyond the partial died in the socket
			// buffers with the process (the kernel's, which fill when a
			// loaded machine starves the reader), never a byte the
			// killed apply wrote.
			want := size[k] - kept[k]
			if kept[k] == -1 {
				want = 0 // complete at the kill: not fetched again
			}
			if served[k] != want {
				t.Errorf("kill %d (after %v, %s): blob %s: partial %d bytes (-1: complete) at the kill, the re-run was served %d, want %d (GETs from %v)", kill, delay, ph, k[:12], kept[k], served[k], want, starts[k])
			}
		}
		maxReruns, maxRounds = max(maxReruns, reruns), max(maxRounds, rounds)
		if t.Failed() {
			t.Fatalf("kill %d (after %v, %s) failed", kill, delay, ph)
		}
		kill++
	}
	var fig []string
	for k, n := range maxRefetch {
		fig = append(fig, fmt.Sprintf("%s (%d bytes) %d", k[:12], size[k], n))
	}
	t.Logf("kills: %d (mid-download %d, mid-create %d, mid-create and mid-download %d, between %d, bookkeeping %d); applies that finished before their kill: %d; re-runs to converge: max %d (rounds max %d); bytes served to a killed apply that died with it (in flight, not in its partial) per blob, max: %s (overall %d); wall time %v",
		killCount, phases["download"], phases["create"], phases["create+download"], phases["between"], phases["bookkeeping"], missed, maxReruns, maxRounds, strings.Join(fig, ", "), maxLost, time.Since(began).Round(time.Second))
}
