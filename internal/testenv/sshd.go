package testenv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// SSHD is Debian's OpenSSH server on a loopback port, serving SFTP
// (Debian's sftp-server) to one user, with a throwaway host key and client key
// under a temporary directory.
//
// Password authentication would need a real account with a password in
// /etc/shadow, which a test must not make; the user logs in with a
// throwaway ed25519 key instead, from an AuthorizedKeysFile in the
// temporary directory. The user is the one the tests run as (root in CI):
// sshd can only log a non-root caller in as itself.
type SSHD struct {
	Addr string // 127.0.0.1:port
	User string
	// Root is a directory for the test's files; its absolute path is what
	// an SFTP client names them by.
	Root string
	// HostKey is the server's public host key in authorized_keys form
	// ("ssh-ed25519 AAAA...").
	HostKey string
	// ClientKeyPEM is the user's private key (OpenSSH PEM); the matching
	// public key is the only one sshd accepts.
	ClientKeyPEM string

	dir     string
	sftpLog string
	cmd     *exec.Cmd
	mu      sync.Mutex
	log     bytes.Buffer
}

// StartSSHD starts sshd for a test and stops it when the test ends, or
// skips (fails under CI) when openssh-server is not installed.
func StartSSHD(t testing.TB) *SSHD {
	t.Helper()
	bin := "/usr/sbin/sshd"
	if _, err := os.Stat(bin); err != nil {
		Need(t, "openssh-server is not installed (run ./scripts/setup): "+err.Error())
	}
	s, err := StartSSHDAt(bin, t.TempDir())
	if err != nil {
		t.Fatalf("start sshd: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartSSHDAt starts the binary with its keys, config and files under dir;
// the caller stops it.
func StartSSHDAt(bin, dir string) (*SSHD, error) {
	u, err := user.Current()
	if err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		// sshd's privilege separation chroots into this directory; Debian
		// makes it at boot, a container may not have.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return nil, err
		}
	}
	s := &SSHD{User: u.Username, Root: filepath.Join(dir, "files"), dir: dir}
	if err := os.MkdirAll(s.Root, 0o755); err != nil {
		return nil, err
	}
	hostPub, hostPath, err := writeKey(dir, "host_ed25519")
	if err != nil {
		return nil, err
	}
	s.HostKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostPub)))
	clientPub, clientPath, err := writeKey(dir, "client_ed25519")
	if err != nil {
		return nil, err
	}
	pemBytes, err := os.ReadFile(clientPath)
	if err != nil {
		return nil, err
	}
	s.ClientKeyPEM = string(pemBytes)
	authKeys := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authKeys, ssh.MarshalAuthorizedKey(clientPub), 0o600); err != nil {
		return nil, err
	}
	// Debian's sftp-server is internal-sftp's code as a program: run by the
	// user's shell, its log (every close with the bytes it read) goes to a
	// file the test reads. internal-sftp would log to syslog, or with -e
	// into the session's stderr channel, back to the client.
	if _, err := os.Stat(sftpServer); err != nil {
		return nil, fmt.Errorf("openssh-server's sftp-server: %w", err)
	}
	s.sftpLog = filepath.Join(dir, "sftp-server.log")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.Addr = l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(s.Addr)
	// StrictModes is off because the temporary directory's parents (/tmp)
	// are world-writable; the files themselves are 0600.
	cfg := fmt.Sprintf(`Port %s
ListenAddress 127.0.0.1
HostKey %s
PidFile %s
AuthorizedKeysFile %s
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AllowUsers %s
MaxAuthTries 3
LogLevel INFO
Subsystem sftp %s -e -l INFO 2>>%s
`, port, hostPath, filepath.Join(dir, "sshd.pid"), authKeys, s.User, sftpServer, s.sftpLog)
	cfgPath := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	s.cmd = exec.Command(bin, "-D", "-e", "-f", cfgPath)
	s.cmd.Stdout = &lockedWriter{s}
	s.cmd.Stderr = &lockedWriter{s}
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		// Up once it greets with its SSH banner.
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, rerr := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if rerr == nil && strings.HasPrefix(line, "SSH-2.0-") {
				return s, nil
			}
		}
		select {
		case <-ctx.Done():
			s.Stop()
			return nil, fmt.Errorf("sshd did not answer on %s: %v\n%s", s.Addr, err, s.Log())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

type lockedWriter struct{ s *SSHD }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.log.Write(p)
}

// Log is what sshd and sftp-server have written so far.
func (s *SSHD) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sftpLog, _ := os.ReadFile(s.sftpLog)
	return s.log.String() + string(sftpLog)
}

const sftpServer = "/usr/lib/openssh/sftp-server"

var closeLine = regexp.MustCompile(`close "([^"]*)" bytes read (\d+) written (\d+)`)

// BytesRead is what sftp-server logged as read from the file at path
// (absolute, as the client named it), one entry per close in order.
func (s *SSHD) BytesRead(path string) []int64 {
	var out []int64
	for _, m := range closeLine.FindAllStringSubmatch(s.Log(), -1) {
		if m[1] == path {
			n, _ := strconv.ParseInt(m[2], 10, 64)
			out = append(out, n)
		}
	}
	return out
}

// WriteFile puts a file under Root and returns its absolute path.
func (s *SSHD) WriteFile(rel string, data []byte) (string, error) {
	p := filepath.Join(s.Root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	return p, os.WriteFile(p, data, 0o644)
}

// Stop stops the listening sshd by its PID and waits for it; a session
// still open (its own session and process group) ends when its client
// closes the connection.
func (s *SSHD) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	pid := s.cmd.Process.Pid
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-done
	}
	s.cmd = nil
}

// writeKey makes an ed25519 key pair and writes the private key as
// OpenSSH PEM, 0600, under dir.
func writeKey(dir, name string) (ssh.PublicKey, string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", err
	}
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, "", err
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(blk), 0o600); err != nil {
		return nil, "", err
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, "", err
	}
	return sp, p, nil
}
