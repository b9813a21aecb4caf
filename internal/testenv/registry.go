package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// DockerRegistry is Debian's docker-registry (distribution 2.x) serving
// plain HTTP on a loopback port, with its storage in a temporary directory.
type DockerRegistry struct {
	Host string // 127.0.0.1:port
	Dir  string
	cmd  *exec.Cmd
	log  *bytes.Buffer
}

// StartDockerRegistry starts docker-registry for a test and stops it when
// the test ends, or skips (fails under CI) when it is not installed.
func StartDockerRegistry(t testing.TB) *DockerRegistry {
	t.Helper()
	bin := LookPath(t, "docker-registry")
	r, err := StartDockerRegistryAt(bin, t.TempDir())
	if err != nil {
		t.Fatalf("start docker-registry: %v", err)
	}
	t.Cleanup(func() { r.Stop() })
	return r
}

// StartDockerRegistryAt starts the binary with its storage under dir; for
// benchmarks that are not tests. The caller stops it.
func StartDockerRegistryAt(bin, dir string) (*DockerRegistry, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	host := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "storage"), host)
	cfgPath := filepath.Join(dir, "registry.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	r := &DockerRegistry{Host: host, Dir: dir, log: &bytes.Buffer{}}
	r.cmd = exec.Command(bin, "serve", cfgPath)
	r.cmd.Stdout = r.log
	r.cmd.Stderr = r.log
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		resp, err := http.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r, nil
			}
		}
		select {
		case <-ctx.Done():
			r.Stop()
			return nil, fmt.Errorf("docker-registry did not answer on %s: %v\n%s", host, err, r.log.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop stops the registry by its PID and waits for it.
func (r *DockerRegistry) Stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	r.cmd = nil
}
