package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/edgewright/edgewright/internal/testenv"
)

// deadURL is an http URL on a loopback port nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// TestApplyDeadHostIsQuiet: a download from a dead host prints at most one
// plain line per retry and the final error once, without zap's JSON
// fields or Go stack traces; -v asks for the stack traces.
func TestApplyDeadHostIsQuiet(t *testing.T) {
	testenv.QemuImg(t)
	sum := sha256.Sum256([]byte("never served"))
	cfg := applyConfig(t, deadURL(t), hex.EncodeToString(sum[:]), 12, volFromDisk)
	var out, errb bytes.Buffer
	code := run([]string{"apply", "--config", cfg, "--root", t.TempDir(), "--max-rounds", "1"}, &out, &errb)
	if code != exitFailed {
		t.Errorf("exit %d, want %d", code, exitFailed)
	}
	stderr := errb.String()
	t.Logf("stdout:\n%s\nstderr:\n%s", out.String(), stderr)
	stack := regexp.MustCompile(`goroutine |\.go:\d+|\{"|\t[a-z]+=`)
	retries := 0
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if stack.MatchString(line) {
			t.Errorf("stderr has a stack trace or JSON field: %q", line)
		}
		if strings.Contains(line, "retrying") {
			retries++
		}
	}
	// Five attempts: four retries.
	if retries == 0 || retries > 4 {
		t.Errorf("%d retry lines, want 1 to 4", retries)
	}
	if n := strings.Count(stderr, "connection refused"); n > retries+1 {
		t.Errorf("the error is printed %d times on stderr for %d retries; want each retry and the final error once", n, retries)
	}
}
