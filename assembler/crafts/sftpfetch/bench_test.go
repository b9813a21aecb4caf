package sftpfetch_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/assembler/crafts/blobdir"
	"github.com/edgewright/edgewright/assembler/crafts/sftpfetch"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/device/devicetest"
	"github.com/edgewright/edgewright/materials"
)

// BenchmarkFetch fetches a 64 MiB file from a loopback sshd: sftpfetch
// into a blob directory ingest with the digest verified at commit, and
// OpenSSH's own sftp client into a plain file, for a ratio.
//
//	go test -run XXX -bench Fetch -benchtime 5x ./assembler/crafts/sftpfetch
func BenchmarkFetch(b *testing.B) {
	data := devicetest.Body(64 << 20)
	srv := startServerB(b, data)
	want := materials.Blob{Digest: digest.FromBytes(data), Size: int64(len(data))}
	req := device.FetchRequest{Datastore: srv.datastore(), ContentTree: tree(len(data), want.Digest), Blob: want}
	ctx := context.Background()
	b.Run("sftpfetch", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			store := blobdir.New(b.TempDir())
			in, err := store.Ingest(ctx, want)
			if err != nil {
				b.Fatal(err)
			}
			if err := (&sftpfetch.Fetcher{}).Fetch(ctx, req, in, func(int64, int64) {}); err != nil {
				b.Fatal(err)
			}
			if err := in.Commit(ctx, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("openssh-sftp", func(b *testing.B) {
		bin, err := exec.LookPath("sftp")
		if err != nil {
			b.Skip("no OpenSSH sftp client")
		}
		dir := b.TempDir()
		key, kh := filepath.Join(dir, "key"), filepath.Join(dir, "known_hosts")
		host, port := splitAddr(b, srv.Addr)
		if err := os.WriteFile(key, []byte(srv.ClientKeyPEM), 0o600); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(kh, []byte(fmt.Sprintf("[%s]:%s %s\n", host, port, srv.HostKey)), 0o600); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			out := filepath.Join(b.TempDir(), "disk.raw")
			cmd := exec.Command(bin, "-q", "-P", port, "-i", key, "-o", "UserKnownHostsFile="+kh, "-o", "StrictHostKeyChecking=yes",
				"-o", "BatchMode=yes", srv.User+"@"+host+":"+srv.file, out)
			if b, err := cmd.CombinedOutput(); err != nil {
				panic(fmt.Sprintf("sftp: %v: %s", err, b))
			}
		}
	})
}
