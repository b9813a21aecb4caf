package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Containerd is a confined containerd daemon started for a test: its root,
// state, sockets and opt directory all live in a temporary directory, and
// it is stopped by its PID when the test ends.
type Containerd struct {
	Address string // the grpc socket
	Dir     string // root of everything the daemon writes
	Root    string // its root (content store under io.containerd.content.v1.content)
	cmd     *exec.Cmd
	log     *bytes.Buffer
}

// StartContainerd starts a confined containerd, or skips (fails under CI)
// when containerd is not installed or the test does not run as root.
func StartContainerd(t testing.TB) *Containerd {
	t.Helper()
	bin := LookPath(t, "containerd")
	if os.Geteuid() != 0 {
		Need(t, "containerd tests need root")
	}
	// Unix socket paths are limited to 108 bytes; t.TempDir can be longer.
	dir, err := os.MkdirTemp("", "ewctrd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	c, err := startContainerd(bin, dir)
	if err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Logf("stop containerd: %v", err)
		}
	})
	return c
}

func startContainerd(bin, dir string) (*Containerd, error) {
	c := &Containerd{
		Dir:     dir,
		Root:    filepath.Join(dir, "root"),
		Address: filepath.Join(dir, "c.sock"),
		log:     &bytes.Buffer{},
	}
	cfg := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
]

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  address = %q

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, c.Root, filepath.Join(dir, "state"), c.Address, filepath.Join(dir, "t.sock"),
		filepath.Join(dir, "d.sock"), filepath.Join(dir, "opt"))
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	c.cmd = exec.Command(bin, "--config", cfgPath)
	c.cmd.Stdout = c.log
	c.cmd.Stderr = c.log
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		conn, err := net.Dial("unix", c.Address)
		if err == nil {
			conn.Close()
			return c, nil
		}
		select {
		case <-ctx.Done():
			c.Stop()
			return nil, fmt.Errorf("containerd did not listen on %s: %w\n%s", c.Address, err, c.log.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// ContentDir is the daemon's content store directory (blobs/sha256/…,
// ingest/…), for tests that look under the hood.
func (c *Containerd) ContentDir() string {
	return filepath.Join(c.Root, "io.containerd.content.v1.content")
}

// Stop stops the daemon by its PID and waits for it.
func (c *Containerd) Stop() error {
	if c.cmd == nil || c.cmd.Process == nil {
		return nil
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	c.cmd = nil
	return nil
}
