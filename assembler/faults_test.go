package assembler

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/edgewright/edgewright/internal/testenv"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// fullDiskFetcher writes part of a blob, then fails as a full disk does,
// wrapped as retryable the way a fetcher wraps its write errors.
type fullDiskFetcher struct{ calls int }

func (f *fullDiskFetcher) Fetch(ctx context.Context, req FetchRequest, dst Ingest, progress func(done, known int64)) error {
	f.calls++
	if _, err := dst.Write(make([]byte, 64<<10)); err != nil {
		return err
	}
	return Retryable(&fs.PathError{Op: "write", Path: "persist/blobs/ingest/x", Err: syscall.ENOSPC})
}

// TestNoSpaceDownloadFailsAtOnce: a full disk is not retried, the error
// names it and the remodel, and the partial it wrote is removed.
func TestNoSpaceDownloadFailsAtOnce(t *testing.T) {
	root := t.TempDir()
	f := &fullDiskFetcher{}
	a := newTestAssembler(t, root, func(o *Options) {
		o.Crafts.Fetchers = map[materials.DatastoreType]Fetcher{materials.DatastoreHTTP: f, materials.DatastoreHTTPS: f}
	})
	data := rawImage(7, 1<<20)
	ct := ctFor("ct", "disk.raw", data, materials.FormatRaw, "ds")
	rep := apply(t, a, plan(downloadRemodel(ct, int64(len(data)))), materials.Datastore{ID: "ds", Type: materials.DatastoreHTTP, FQDN: "127.0.0.1:1"})
	r := rep.Results[0]
	if r.Status != StatusFailed || !errors.Is(r.Err, syscall.ENOSPC) || !strings.Contains(r.Error, "no space left on device") || !strings.Contains(r.Error, "download ct") {
		t.Fatalf("result %s %q, want failed naming no space left on device and the remodel", r.Status, r.Error)
	}
	if r.Attempts != 1 || f.calls != 1 {
		t.Errorf("attempts %d, fetches %d: want 1 and 1 (a full disk is not retried)", r.Attempts, f.calls)
	}
	ents, _ := os.ReadDir(filepath.Join(root, "persist/blobs/ingest"))
	if len(ents) != 0 {
		t.Errorf("the partial of a download that failed on a full disk is kept (%d entries)", len(ents))
	}
}

// fullDiskVolumes leaves its work in progress behind and fails as a full
// disk does (a craft that does not clean up after itself).
type fullDiskVolumes struct{ QemuVolumes }

func (q *fullDiskVolumes) CreateBlank(ctx context.Context, final string, format materials.Format, size int64) error {
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(final+".tmp", make([]byte, 4096), 0o600); err != nil {
		return err
	}
	return &fs.PathError{Op: "write", Path: final + ".tmp", Err: syscall.EDQUOT}
}

// TestNoSpaceCreateRemovesTmp: the caller removes a failed create's .tmp
// whatever the craft did, and does not retry.
func TestNoSpaceCreateRemovesTmp(t *testing.T) {
	root := t.TempDir()
	a := newTestAssembler(t, root, func(o *Options) { o.Crafts.Volumes = &fullDiskVolumes{} })
	v := materials.Volume{ID: "44444444-0000-0000-0000-000000000001", Generation: 1, Origin: materials.OriginBlank, Format: materials.FormatRaw, MaxSizeBytes: 1 << 20}
	rep := apply(t, a, plan(createRemodel(v, nil)))
	r := rep.Results[0]
	if r.Status != StatusFailed || !errors.Is(r.Err, syscall.EDQUOT) || r.Attempts != 1 {
		t.Fatalf("result %s %q after %d attempts, want failed with EDQUOT after 1", r.Status, r.Error, r.Attempts)
	}
	p, _ := VolumePath(root, v)
	if _, err := os.Lstat(p + ".tmp"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s.tmp is left after a create failed on a full disk (%v)", p, err)
	}
}

// smallDisk mounts a tmpfs of size MiB on a fresh directory (root only;
// under CI a missing root is a failure) and returns it and a remount.
func smallDisk(t *testing.T, mib int) (string, func(mib int)) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Need(t, "mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	mount := func(opts ...string) {
		t.Helper()
		if out, err := exec.Command("mount", opts...).CombinedOutput(); err != nil {
			testenv.Need(t, fmt.Sprintf("mount %v: %v: %s", opts, err, out))
		}
	}
	mount("-t", "tmpfs", "-o", fmt.Sprintf("size=%dm", mib), "tmpfs", dir)
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir, func(mib int) { mount("-o", fmt.Sprintf("remount,size=%dm", mib), dir) }
}

// TestNoSpaceMidDownloadOnTmpfs fills a real small disk mid-download:
// the body fits the free space measured when the download starts (so the
// size bound lets it through), then another writer takes the rest of the
// disk. The remodel fails at once naming the full disk, the partial is
// removed, and once the disk is bigger the same plan succeeds.
func TestNoSpaceMidDownloadOnTmpfs(t *testing.T) {
	root, remount := smallDisk(t, 16)
	data := rawImage(9, 8<<20)
	var mu sync.Mutex
	gets := 0
	filled := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gets++
		fill := !filled
		filled = true
		mu.Unlock()
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data[:1<<20])
		w.(http.Flusher).Flush()
		if fill {
			// Another writer takes all but a little of what is left.
			var st syscall.Statfs_t
			if err := syscall.Statfs(root, &st); err != nil {
				t.Error(err)
				return
			}
			free := int64(st.Bavail) * int64(st.Bsize)
			if err := os.WriteFile(filepath.Join(root, "filler"), make([]byte, max(free-(2<<20), 0)), 0o600); err != nil {
				t.Errorf("filler: %v", err)
			}
		}
		w.Write(data[1<<20:])
	}))
	defer srv.Close()
	ds := materials.Datastore{ID: "ds", Type: materials.DatastoreHTTP, FQDN: srv.URL}
	a := newTestAssembler(t, root, nil)
	ct := ctFor("ct", "big.raw", data, materials.FormatRaw, "ds")
	p := plan(downloadRemodel(ct, int64(len(data))))
	rep := apply(t, a, p, ds)
	r := rep.Results[0]
	if r.Status != StatusFailed || !errors.Is(r.Err, syscall.ENOSPC) || !strings.Contains(r.Error, "no space left on device") || r.Attempts != 1 {
		t.Fatalf("result %s %q after %d attempts, want failed with no space left on device after 1", r.Status, r.Error, r.Attempts)
	}
	mu.Lock()
	n := gets
	mu.Unlock()
	if n != 1 {
		t.Errorf("%d requests, want 1 (no retry on a full disk)", n)
	}
	ents, _ := os.ReadDir(filepath.Join(root, "persist/blobs/ingest"))
	if len(ents) != 0 {
		t.Errorf("the partial is kept after a full disk (%d entries)", len(ents))
	}
	remount(48)
	rep = apply(t, a, p, ds)
	wantStatus(t, rep, "download ct", StatusDone, "")
}

// TestNoSpaceMidCreateOnTmpfs fills a real small disk mid-create (a copy
// of dense content that does not fit): one attempt, the full disk named,
// no .tmp left, the blob kept, and once the disk is bigger it converges.
func TestNoSpaceMidCreateOnTmpfs(t *testing.T) {
	testenv.QemuImg(t)
	root, remount := smallDisk(t, 5)
	ds := newDatastore(t, false)
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(i*7 + i>>9 | 1)
	}
	ds.put("/images/dense.raw", data)
	a := newTestAssembler(t, root, nil)
	ct := ctFor("ct", "dense.raw", data, materials.FormatRaw, "ds")
	v := materials.Volume{ID: "44444444-0000-0000-0000-000000000002", Generation: 1, Origin: materials.OriginDownload, ContentTree: "ct", Format: materials.FormatRaw, MaxSizeBytes: 3 << 20}
	p := plan(downloadRemodel(ct, int64(len(data))), createRemodel(v, &ct, "download ct"))
	rep := apply(t, a, p, ds.materials("ds"))
	wantStatus(t, rep, "download ct", StatusDone, "")
	r, _ := rep.Result(remodel.ID("create " + v.Key().String()))
	if r.Status != StatusFailed || !errors.Is(r.Err, syscall.ENOSPC) && !strings.Contains(r.Error, "no space left on device") || r.Attempts != 1 {
		t.Fatalf("create %s %q after %d attempts, want failed with no space left on device after 1", r.Status, r.Error, r.Attempts)
	}
	final, _ := VolumePath(root, v)
	for _, q := range []string{final, final + ".tmp"} {
		if _, err := os.Lstat(q); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s is there after a create failed on a full disk (%v)", q, err)
		}
	}
	if got, err := os.ReadFile(filepath.Join(root, "persist/blobs/sha256", sha(data))); err != nil || sha(got) != sha(data) {
		t.Errorf("the downloaded blob is not intact after the failed create: %v", err)
	}
	remount(16)
	rep = apply(t, a, p, ds.materials("ds"))
	wantStatus(t, rep, remodel.ID("create "+v.Key().String()), StatusDone, "")
	if got, err := os.ReadFile(final); err != nil || sha(got) != sha(data) {
		t.Errorf("volume after the retry does not hold the content: %v", err)
	}
}
