package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgewright/edgewright/internal/testenv"
)

const sftpDS = "9c2b7e41-0d3f-4a6b-8e5c-1f2a3b4c5d61"

// sftpConfig is a controller config with one SFTP datastore and a qcow2
// content tree at url made into a volume.
func sftpConfig(t *testing.T, fqdn, dpath, user, password string, pins []string, url, sha string, size int) string {
	t.Helper()
	var pinB64 []string
	for _, p := range pins {
		pinB64 = append(pinB64, base64.StdEncoding.EncodeToString([]byte(p)))
	}
	ds := map[string]any{"id": sftpDS, "dType": "DsSFTP", "fqdn": fqdn, "dpath": dpath, "apiKey": user, "password": password}
	if len(pinB64) > 0 {
		ds["dsCertPEM"] = pinB64
	}
	cfg := map[string]any{
		"datastores": []any{ds},
		"contentInfo": []any{map[string]any{"uuid": "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e02", "dsId": sftpDS,
			"URL": url, "iformat": "QCOW2", "sha256": sha, "maxSizeBytes": json.Number(itoa(size)), "displayName": "vm"}},
		"volumes": []any{map[string]any{"uuid": "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f20",
			"origin":          map[string]any{"type": "VCOT_DOWNLOAD", "downloadContentTreeID": "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e02"},
			"generationCount": "1", "maxsizebytes": "8388608", "displayName": "vm-root"}},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// qcow2Image is a qcow2 image with data in it, made by qemu-img from a raw
// one: the raw file (to compare a volume with) and the image's bytes.
func qcow2Image(t *testing.T, qemu string) (raw string, data []byte) {
	t.Helper()
	work := t.TempDir()
	raw = filepath.Join(work, "vm.raw")
	rawData := make([]byte, 4<<20)
	for i := range rawData {
		if i%65536 < 1024 {
			rawData[i] = byte(i / 65536)
		}
	}
	if err := os.WriteFile(raw, rawData, 0o600); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(work, "vm.qcow2")
	if b, err := exec.Command(qemu, "convert", "-f", "raw", "-O", "qcow2", raw, img).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v: %s", err, b)
	}
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	return raw, data
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestApplySFTP applies a qcow2 VM image from Debian's sshd into a volume
// through wright apply, and shows the host-key policy and a refused login
// as a person sees them.
func TestApplySFTP(t *testing.T) {
	qemu := testenv.QemuImg(t)
	srv := testenv.StartSSHD(t)
	raw, data := qcow2Image(t, qemu)
	remote, err := srv.WriteFile("images/vm.qcow2", data)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	dpath := filepath.Join(srv.Root, "images")
	pinned := sftpConfig(t, srv.Addr, dpath, srv.User, srv.ClientKeyPEM, []string{srv.HostKey}, "vm.qcow2", sha, len(data))
	unpinned := sftpConfig(t, srv.Addr, dpath, srv.User, srv.ClientKeyPEM, nil, "vm.qcow2", sha, len(data))
	wrongUser := sftpConfig(t, srv.Addr, dpath, "no-such-user-here", srv.ClientKeyPEM, []string{srv.HostKey}, "vm.qcow2", sha, len(data))
	bad := bytes.Clone(data)
	bad[len(bad)/2] ^= 0xff
	badRemote, err := srv.WriteFile("images/bad.qcow2", bad)
	if err != nil {
		t.Fatal(err)
	}
	corrupted := sftpConfig(t, srv.Addr, dpath, srv.User, srv.ClientKeyPEM, []string{srv.HostKey}, "bad.qcow2", sha, len(data))

	tests := []struct {
		name     string
		config   string
		extra    []string
		code     int
		stdout   []string
		stderr   []string
		absent   []string // in neither stream
		reads    int      // sftp-server closes of the image this run adds
		badReads int      // and of the corrupted one
		fetched  bool
	}{
		{name: "no pin is refused before any dial", config: unpinned, code: exitFailed,
			stdout: []string{"FAILED", "pins no host key", sftpDS}},
		{name: "a refused login names the datastore only", config: wrongUser, code: exitFailed,
			stdout: []string{"FAILED", "sftp credentials refused", sftpDS}, absent: []string{"no-such-user-here"}},
		{name: "a corrupted body is fetched again, three times at most", config: corrupted, code: exitFailed, badReads: 3,
			stdout: []string{"FAILED", "digest mismatch", "want sha256:" + sha, `(url "bad.qcow2")`, sftpDS}},
		{name: "pinned host key: the image becomes a volume", config: pinned, code: exitOK, extra: []string{"-v"}, reads: 1, fetched: true,
			stdout: []string{"round 1: Plan: 1 to download, 1 to create.", "converged"}, stderr: []string{"(100%)"},
			absent: []string{strings.Split(srv.ClientKeyPEM, "\n")[1]}},
		{name: "unpinned with --sftp-insecure-host-key", config: unpinned, code: exitOK, extra: []string{"--sftp-insecure-host-key"}, reads: 1, fetched: true,
			stdout: []string{"converged"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			before, badBefore := len(srv.BytesRead(remote)), len(srv.BytesRead(badRemote))
			var out, errb bytes.Buffer
			code := run(append([]string{"apply", "--config", tc.config, "--root", root, "--max-rounds", "3"}, tc.extra...), &out, &errb)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out.String(), errb.String())
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, out.String())
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(errb.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, errb.String())
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(out.String()+errb.String(), s) {
					t.Errorf("output shows %q:\nstdout:\n%s\nstderr:\n%s", s, out.String(), errb.String())
				}
			}
			if n := len(srv.BytesRead(remote)) - before; n != tc.reads {
				t.Errorf("sftp-server closed the image %d times, want %d", n, tc.reads)
			}
			if n := len(srv.BytesRead(badRemote)) - badBefore; n != tc.badReads {
				t.Errorf("sftp-server closed the corrupted image %d times, want %d", n, tc.badReads)
			}
			if !tc.fetched {
				return
			}
			vol := filepath.Join(root, "persist/vault/volumes/7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f20#1.qcow2")
			if b, err := exec.Command(qemu, "compare", raw, vol).CombinedOutput(); err != nil {
				t.Errorf("qemu-img compare: %v: %s", err, b)
			}
			reads := srv.BytesRead(remote)
			if got := reads[len(reads)-1]; got != int64(len(data)) {
				t.Errorf("the server sent %d bytes, want %d", got, len(data))
			}
		})
	}
}
