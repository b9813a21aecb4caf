package inspector

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
)

func TestSurveyRoot(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	writeFile(t, file, []byte("x"))
	link := filepath.Join(dir, "link")
	real := filepath.Join(dir, "real")
	mkdirs(t, real, vault)
	writeFile(t, filepath.Join(real, vault, uuidA+"#1.raw"), []byte("data"))
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		root    string
		errno   error // wanted inside the RootError; nil for success
		wantErr string
	}{
		{name: "missing", root: filepath.Join(dir, "nope"), errno: syscall.ENOENT},
		{name: "a file", root: file, errno: syscall.ENOTDIR},
		{name: "empty", root: "", wantErr: "root is empty"},
		{name: "empty dir", root: t.TempDir()},
		// The root is the caller's choice; a symlink to it is fine.
		{name: "symlink to a root", root: link},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fp, err := Survey(context.Background(), Options{Root: tc.root})
			if tc.errno == nil && tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Survey: %v", err)
				}
				if len(fp.Diagnostics) != 0 || fp.Fingerprint == "" || fp.Space.TotalBytes == 0 {
					t.Fatalf("floorplan %+v", fp)
				}
				return
			}
			var re *RootError
			if !errors.As(err, &re) || fp != nil {
				t.Fatalf("got %v, %v; want a *RootError", fp, err)
			}
			if tc.errno != nil && !errors.Is(err, tc.errno) {
				t.Fatalf("error %v, want %v", err, tc.errno)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
	t.Run("through a symlink finds the volume", func(t *testing.T) {
		fp := survey(t, Options{Root: link})
		if len(fp.Volumes) != 1 || fp.Volumes[0].ID != uuidA {
			t.Fatalf("volumes %+v", fp.Volumes)
		}
	})
}

// TestSurveySymlinkedDirs: a volumes directory, or a directory on the way
// to it, that is a symlink is not followed, even to a tree full of valid
// volumes; the survey says so with an error diagnostic (the scope is
// missing, not empty).
func TestSurveySymlinkedDirs(t *testing.T) {
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "volumes", uuidA+"#1.raw"), []byte("secret"))
	writeFile(t, filepath.Join(outside, "volumes", uuidA+"#2.raw"), []byte("secret"))
	writeFile(t, filepath.Join(outside, "blob"), []byte("secret"))
	for _, tc := range []struct {
		name  string
		build func(t *testing.T, root string)
		diags map[string]string // path → message substring
	}{
		{
			name: "volumes dir is a symlink",
			build: func(t *testing.T, root string) {
				mkdirs(t, root, "persist/clear")
				symlink(t, filepath.Join(outside, "volumes"), filepath.Join(root, "persist/clear/volumes"))
			},
			diags: map[string]string{"persist/clear/volumes": "directory is a symlink, not followed"},
		},
		{
			name: "relative symlink climbing out",
			build: func(t *testing.T, root string) {
				mkdirs(t, root, "persist/vault")
				rel, err := filepath.Rel(filepath.Join(root, "persist/vault"), filepath.Join(outside, "volumes"))
				if err != nil {
					t.Fatal(err)
				}
				symlink(t, rel, filepath.Join(root, "persist/vault/volumes"))
			},
			diags: map[string]string{"persist/vault/volumes": "directory is a symlink, not followed"},
		},
		{
			name: "persist is a symlink",
			build: func(t *testing.T, root string) {
				mkdirs(t, outside, "p/vault/volumes", "p/img")
				writeFile(t, filepath.Join(outside, "p/vault/volumes", uuidB+"#1.raw"), []byte("secret"))
				symlink(t, filepath.Join(outside, "p"), filepath.Join(root, "persist"))
			},
			// Each scope that was asked for reports it.
			diags: map[string]string{"persist": "directory is a symlink, not followed"},
		},
		{
			name: "img is a file",
			build: func(t *testing.T, root string) {
				writeFile(t, filepath.Join(root, "persist/img"), []byte("x"))
			},
			diags: map[string]string{"persist/img": "not a directory"},
		},
		{
			name: "blob dir is a symlink",
			build: func(t *testing.T, root string) {
				mkdirs(t, root, "persist/blobs")
				symlink(t, outside, filepath.Join(root, "persist/blobs/sha256"))
			},
			diags: map[string]string{"persist/blobs/sha256": "directory is a symlink, not followed"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			tc.build(t, root)
			fp := survey(t, Options{Root: root})
			if len(fp.Volumes) != 0 || len(fp.Blobs) != 0 {
				t.Fatalf("followed a symlink: volumes %v blobs %v", fp.Volumes, fp.Blobs)
			}
			if len(fp.Diagnostics) == 0 {
				t.Fatal("no diagnostic")
			}
			for _, d := range fp.Diagnostics {
				msg, ok := tc.diags[d.Path]
				if !ok || !strings.Contains(d.Message, msg) || d.Severity != materials.SeverityError {
					t.Errorf("unexpected diagnostic %v; want %v", d, tc.diags)
				}
			}
		})
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func TestSurveyBlobDir(t *testing.T) {
	root := t.TempDir()
	sha := filepath.Join(root, BlobsSHA256Dir)
	ingest := filepath.Join(root, BlobsIngestDir)
	mkdirs(t, root, BlobsSHA256Dir, BlobsIngestDir)
	put := func(data []byte) digest.Digest {
		d := digest.FromBytes(data)
		writeFile(t, filepath.Join(sha, d.Encoded()), data)
		return d
	}
	layer1 := put([]byte("layer one, a tar in real life"))
	layer2 := put([]byte("layer two"))
	config := put([]byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}`))
	manifest := put([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + string(config) + `","size":70},` +
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` + string(layer2) + `","size":9},` +
		`{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` + string(layer1) + `","size":29}]}`))
	// No mediaType: inferred from the shape.
	bare := put([]byte(`{"schemaVersion":2,"config":{"digest":"` + string(config) + `","size":70},"layers":[]}`))
	index := put([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json",` +
		`"manifests":[{"digest":"` + string(manifest) + `","size":1},{"digest":"` + string(bare) + `","size":1},` +
		`{"digest":"not-a-digest","size":1}]}`))
	// A 4 MiB blob starting with '{' is not read.
	big := strings.Repeat("0", 64)
	writeFile(t, filepath.Join(sha, big), []byte(`{"schemaVersion":2,"config":{"digest":"`+string(config)+`"}}`))
	if err := os.Truncate(filepath.Join(sha, big), MaxManifestSize); err != nil {
		t.Fatal(err)
	}
	partial := digest.FromString("the whole download")
	writeFile(t, filepath.Join(ingest, partial.Encoded()), []byte("the whole"))
	writeFile(t, filepath.Join(sha, strings.ToUpper(layer1.Encoded())), []byte("x"))
	writeFile(t, filepath.Join(sha, "README"), []byte("x"))
	writeFile(t, filepath.Join(ingest, "ref..x"), []byte("x"))
	mkdirs(t, root, BlobsSHA256Dir+"/"+strings.Repeat("1", 64))
	symlink(t, "/etc/passwd", filepath.Join(sha, strings.Repeat("2", 64)))

	fp := survey(t, Options{Root: root})
	type want struct {
		state     materials.State
		size      int64
		offset    int64
		mediaType string
		children  []digest.Digest
		reason    string
	}
	byPath := map[string]materials.BlobRecord{}
	for _, b := range fp.Blobs {
		if b.Store != materials.BlobStoreDir {
			t.Errorf("store %q", b.Store)
		}
		byPath[b.Path] = b
	}
	p := func(d digest.Digest) string { return BlobsSHA256Dir + "/" + d.Encoded() }
	for _, tc := range []struct {
		path   string
		digest digest.Digest
		want   want
	}{
		{p(layer1), layer1, want{state: "complete", size: 29}},
		{p(layer2), layer2, want{state: "complete", size: 9}},
		{p(config), config, want{state: "complete", size: int64(len(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}`))}},
		{p(manifest), manifest, want{state: "complete", mediaType: "application/vnd.oci.image.manifest.v1+json",
			children: sortDigests(config, layer1, layer2)}},
		{p(bare), bare, want{state: "complete", mediaType: "application/vnd.oci.image.manifest.v1+json", children: []digest.Digest{config}}},
		{p(index), index, want{state: "complete", mediaType: mediaTypeDockerManifestList, children: sortDigests(manifest, bare)}},
		{BlobsSHA256Dir + "/" + big, digest.Digest("sha256:" + big), want{state: "complete", size: MaxManifestSize}},
		{BlobsIngestDir + "/" + partial.Encoded(), partial, want{state: "partial", offset: 9, reason: "partial download"}},
		{BlobsSHA256Dir + "/" + strings.ToUpper(layer1.Encoded()), "", want{state: "unknown", size: 1, reason: "not a lower-case sha256"}},
		{BlobsSHA256Dir + "/README", "", want{state: "unknown", size: 1, reason: "not a lower-case sha256"}},
		{BlobsIngestDir + "/ref..x", "", want{state: "unknown", size: 1, reason: "not trusted"}},
		{BlobsSHA256Dir + "/" + strings.Repeat("1", 64), "", want{state: "unknown", size: -1, reason: "a directory"}},
		{BlobsSHA256Dir + "/" + strings.Repeat("2", 64), "", want{state: "unknown", size: int64(len("/etc/passwd")), reason: "symlink, not followed"}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			b, ok := byPath[tc.path]
			if !ok {
				t.Fatalf("missing; have %v", byPath)
			}
			w := tc.want
			if b.Digest != tc.digest || b.State != w.state || b.Offset != w.offset || b.MediaType != w.mediaType {
				t.Errorf("got %+v, want digest %s %+v", b, tc.digest, w)
			}
			if w.size > 0 && b.Size != w.size || w.size == 0 && w.mediaType == "" && b.Size != 0 && w.state != "complete" {
				t.Errorf("size %d, want %d", b.Size, w.size)
			}
			if !strings.Contains(b.Reason, w.reason) || w.reason == "" && b.Reason != "" {
				t.Errorf("reason %q, want %q", b.Reason, w.reason)
			}
			if diff := cmp.Diff(w.children, b.Children); diff != "" {
				t.Errorf("children (-want +got):\n%s", diff)
			}
			if b.CreatedAt.IsZero() && tc.digest != "" {
				t.Errorf("no time")
			}
		})
	}
	if len(fp.Blobs) != 13 {
		t.Errorf("%d blobs, want 13", len(fp.Blobs))
	}
	// What the manifest says of each child travels with it, in Children's
	// order, so downloads of the children know their sizes.
	wantDescs := map[digest.Digest]materials.Blob{
		config: {Digest: config, Size: 70, MediaType: "application/vnd.oci.image.config.v1+json"},
		layer1: {Digest: layer1, Size: 29, MediaType: "application/vnd.oci.image.layer.v1.tar"},
		layer2: {Digest: layer2, Size: 9, MediaType: "application/vnd.oci.image.layer.v1.tar"},
	}
	m := byPath[p(manifest)]
	var wantBlobs []materials.Blob
	for _, c := range m.Children {
		wantBlobs = append(wantBlobs, wantDescs[c])
	}
	if diff := cmp.Diff(wantBlobs, m.ChildBlobs); diff != "" {
		t.Errorf("manifest child blobs (-want +got):\n%s", diff)
	}
	if d := diagAt(fp, p(index)); d == nil || !strings.Contains(d.Message, `invalid digest "not-a-digest"`) {
		t.Errorf("diagnostics %v, want the invalid child digest of the index", fp.Diagnostics)
	}
}

func sortDigests(ds ...digest.Digest) []digest.Digest {
	set := map[digest.Digest]bool{}
	for _, d := range ds {
		set[d] = true
	}
	return sortedDigests(set)
}

// journalSource is a JournalSource that returns a fixed state or error: a
// test fake standing in for the assembler's journal.
type journalSource struct {
	state *materials.JournalState
	err   error
}

func (j journalSource) JournalState(context.Context) (*materials.JournalState, error) {
	return j.state, j.err
}

func TestSurveyJournal(t *testing.T) {
	root := t.TempDir()
	mkdirs(t, root, vault, BlobsSHA256Dir)
	for _, n := range []string{uuidA + "#1.raw", uuidA + "#2.raw", uuidB + "#1.raw", uuidB + "#2.raw.tmp", "stray.raw"} {
		writeFile(t, filepath.Join(root, vault, n), []byte("x"))
	}
	blob := digest.FromString("blob")
	writeFile(t, filepath.Join(root, BlobsSHA256Dir, blob.Encoded()), []byte("blob"))
	other := digest.FromString("other")
	writeFile(t, filepath.Join(root, BlobsSHA256Dir, other.Encoded()), []byte("other"))

	js := &materials.JournalState{
		InFlight: []materials.InFlight{
			{RemodelID: "r1", Action: "create", Target: materials.MaterialRef{Kind: materials.KindVolume, ID: uuidA}},
			{RemodelID: "r2", Action: "create", Target: materials.MaterialRef{Kind: materials.KindVolume, ID: uuidB + "#2"}},
			{RemodelID: "r3", Action: "download", Target: materials.MaterialRef{Kind: materials.KindBlob, ID: string(blob)}},
			{RemodelID: "r4", Action: "delete", Target: materials.MaterialRef{Kind: materials.KindFile, ID: vault + "stray.raw"}},
		},
		Unreferenced: []materials.Unreferenced{{Target: materials.MaterialRef{Kind: materials.KindBlob, ID: string(other)}, Since: time.Unix(1, 0).UTC()}},
	}
	fp := survey(t, Options{Root: root, Journal: journalSource{state: js}})
	if fp.Journal != js {
		t.Fatalf("journal state not carried")
	}
	const why = "in flight when the last apply stopped"
	for _, tc := range []struct {
		path   string
		state  materials.State
		reason string
	}{
		{vault + uuidA + "#1.raw", "partial", why},
		{vault + uuidA + "#2.raw", "partial", why},
		{vault + uuidB + "#1.raw", "complete", ""},
		{vault + uuidB + "#2.raw.tmp", "partial", why + "; work in progress (.tmp)"},
		{vault + "stray.raw", "partial", why + "; name has no '#<generation>'"},
	} {
		v := volumeAt(fp, tc.path)
		if v == nil || v.State != tc.state || !strings.HasPrefix(v.Reason, tc.reason) || tc.reason == "" && v.Reason != "" {
			t.Errorf("%s: %+v, want %s %q", tc.path, v, tc.state, tc.reason)
		}
	}
	for _, b := range fp.Blobs {
		want := materials.StateComplete
		if b.Digest == blob {
			want = materials.StatePartial
		}
		if b.State != want {
			t.Errorf("blob %s: %s, want %s", b.Digest, b.State, want)
		}
	}
	plain := survey(t, Options{Root: root})
	if plain.Fingerprint == fp.Fingerprint {
		t.Errorf("in-flight items do not change the fingerprint")
	}

	t.Run("a journal that cannot be read is an error diagnostic", func(t *testing.T) {
		fp := survey(t, Options{Root: root, Journal: journalSource{err: errors.New("bolt: timeout")}})
		d := diagAt(fp, DiagJournal)
		if d == nil || d.Severity != materials.SeverityError || !strings.Contains(d.Message, "bolt: timeout") || fp.Journal != nil {
			t.Fatalf("diagnostics %v journal %v", fp.Diagnostics, fp.Journal)
		}
	})
}

// TestSurveyDeterministic: the same disk gives the same Floorplan and
// fingerprint, whatever the number of workers; any change to a volume
// changes the fingerprint.
func TestSurveyDeterministic(t *testing.T) {
	root := t.TempDir()
	mkdirs(t, root, vault, clear, legacy, BlobsSHA256Dir)
	for i := range 300 {
		id := fmt.Sprintf("%s%06d", uuidA[:30], i)
		writeFile(t, filepath.Join(root, vault, id+"#1.raw"), make([]byte, i))
		writeFile(t, filepath.Join(root, clear, id+"#2.raw.tmp"), []byte("x"))
	}
	qemuImg(t, "create", "-q", "-f", "qcow2", filepath.Join(root, vault, uuidB+"#1.qcow2"), "1G")
	writeFile(t, filepath.Join(root, BlobsSHA256Dir, digest.FromString("a").Encoded()), []byte("a"))

	ignoreSpace := cmpopts.IgnoreFields(materials.Floorplan{}, "Space")
	first := survey(t, Options{Root: root, Workers: 1})
	for _, w := range []int{1, 2, 7} {
		again := survey(t, Options{Root: root, Workers: w})
		if diff := cmp.Diff(first, again, ignoreSpace); diff != "" {
			t.Fatalf("workers=%d: surveys differ (-first +again):\n%s", w, diff)
		}
	}
	if first.Fingerprint != materials.Fingerprint(first) || !strings.HasPrefix(first.Fingerprint, "sha256:") {
		t.Fatalf("fingerprint %q", first.Fingerprint)
	}
	target := filepath.Join(root, vault, uuidA[:30]+"000007#1.raw")
	for _, tc := range []struct {
		name   string
		change func(t *testing.T)
	}{
		{"append to a raw file", func(t *testing.T) {
			f, err := os.OpenFile(target, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("more"))
			f.Close()
		}},
		{"touch a file", func(t *testing.T) {
			when := time.Now().Add(time.Hour)
			if err := os.Chtimes(target, when, when); err != nil {
				t.Fatal(err)
			}
		}},
		{"grow a qcow2", func(t *testing.T) {
			qemuImg(t, "resize", "-q", filepath.Join(root, vault, uuidB+"#1.qcow2"), "2G")
		}},
		{"finish a .tmp", func(t *testing.T) {
			p := filepath.Join(root, clear, uuidA[:30]+"000003#2.raw")
			if err := os.Rename(p+".tmp", p); err != nil {
				t.Fatal(err)
			}
		}},
		{"delete a blob", func(t *testing.T) {
			if err := os.Remove(filepath.Join(root, BlobsSHA256Dir, digest.FromString("a").Encoded())); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := survey(t, Options{Root: root})
			tc.change(t)
			after := survey(t, Options{Root: root})
			if before.Fingerprint == after.Fingerprint {
				t.Fatalf("fingerprint unchanged after %s", tc.name)
			}
		})
	}
}

func TestSurveyCancelled(t *testing.T) {
	root := t.TempDir()
	mkdirs(t, root, vault)
	for i := range 200 {
		writeFile(t, filepath.Join(root, vault, "x"+strconv.Itoa(i)), nil)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Survey(ctx, Options{Root: root}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Survey with a cancelled context: %v", err)
	}
}
