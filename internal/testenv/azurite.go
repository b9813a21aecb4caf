package testenv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
)

// Azurite is Microsoft's Azure Storage emulator (the npm package azurite,
// its blob service) on a loopback port, with one storage account whose
// shared key is made for the run, persisting under a temporary directory.
// Clients reach it through a reverse proxy on another loopback port that
// records every request (method, path, Range, status) and can inject a
// fault; Azurite itself checks every request's shared-key signature, so
// a wrong key is refused as Azure refuses it.
type Azurite struct {
	// URL is the proxy's root, http://127.0.0.1:port; the account's
	// endpoint is URL + "/" + Account (path-style, as Azurite serves it).
	URL     string
	Account string
	Key     string // base64, as the portal shows a key

	direct  string // Azurite's own endpoint, for the test's uploads
	cmd     *exec.Cmd
	done    chan struct{}
	proxy   *httptest.Server
	mu      sync.Mutex
	out     bytes.Buffer
	reqs    []AzureRequest
	inject  func(next http.Handler) http.Handler
	stopped bool
}

// AzureRequest is what the proxy saw of one request.
type AzureRequest struct {
	Method, Path, Range string
	// Status is what was answered (0 until it was).
	Status int
}

// AzuriteVersion is the release scripts/setup installs: 3.33 is the last
// that runs on Debian's Node 20 (later ones want Node 22).
const AzuriteVersion = "3.33.0"

// StartAzurite starts Azurite for a test with the containers made, and
// stops it when the test ends, or skips (fails under CI) when azurite is
// not installed.
func StartAzurite(t testing.TB, containers ...string) *Azurite {
	t.Helper()
	bin, err := exec.LookPath("azurite-blob")
	if err != nil {
		Need(t, "azurite is not installed (run ./scripts/setup: npm install -g azurite@"+AzuriteVersion+")")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := StartAzuriteAt(ctx, bin, t.TempDir())
	if err != nil {
		t.Fatalf("start azurite: %v", err)
	}
	t.Cleanup(a.Stop)
	for _, c := range containers {
		if err := a.CreateContainer(ctx, c); err != nil {
			t.Fatalf("azurite: create container %s: %v", c, err)
		}
	}
	return a
}

var azuriteListening = regexp.MustCompile(`successfully listens on (http://127\.0\.0\.1:[0-9]+)`)

// StartAzuriteAt starts the azurite-blob binary with its data under dir
// and waits until it listens; the caller stops it.
func StartAzuriteAt(ctx context.Context, bin, dir string) (*Azurite, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	a := &Azurite{Account: "edgewrighttest", Key: base64.StdEncoding.EncodeToString(key), done: make(chan struct{})}
	// Port 0: Azurite takes a free port and prints it. The API version
	// check is off because the SDK may be newer than this Azurite.
	a.cmd = exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", "0", "--location", dir,
		"--skipApiVersionCheck", "--disableProductStyleUrl", "--silent")
	a.cmd.Env = append(os.Environ(), "AZURITE_ACCOUNTS="+a.Account+":"+a.Key)
	a.cmd.Dir = dir
	// Its own process group, so Stop ends node and all it started; and
	// killed with the test binary should that die first (a timeout).
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	pr, pw := io.Pipe()
	a.cmd.Stdout = pw
	a.cmd.Stderr = pw
	if err := a.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		_ = a.cmd.Wait()
		pw.Close()
		close(a.done)
	}()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			a.mu.Lock()
			if a.out.Len() < 64<<10 {
				a.out.WriteString(line + "\n")
			}
			a.mu.Unlock()
			if m := azuriteListening.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case a.direct = <-found:
	case <-a.done:
		return nil, fmt.Errorf("azurite exited before it listened:\n%s", a.output())
	case <-ctx.Done():
		a.Stop()
		return nil, fmt.Errorf("azurite did not listen: %w:\n%s", ctx.Err(), a.output())
	}
	target, err := url.Parse(a.direct)
	if err != nil {
		a.Stop()
		return nil, err
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	a.proxy = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &answerRecorder{ResponseWriter: w}
		rng := r.Header.Get("Range")
		if rng == "" {
			rng = r.Header.Get("x-ms-range")
		}
		i := a.record(AzureRequest{Method: r.Method, Path: r.URL.Path, Range: rng})
		defer func() { a.setStatus(i, rec.status) }()
		a.mu.Lock()
		inject := a.inject
		a.mu.Unlock()
		var h http.Handler = rp
		if inject != nil {
			h = inject(rp)
		}
		h.ServeHTTP(rec, r)
	}))
	a.URL = a.proxy.URL
	// Wait until the service answers a request, not only listens.
	for {
		if err := a.CreateContainer(ctx, "ready-probe"); err == nil {
			break
		} else if ctx.Err() != nil {
			a.Stop()
			return nil, fmt.Errorf("azurite does not answer: %v:\n%s", err, a.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return a, nil
}

func (a *Azurite) output() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.out.String()
}

// Stop ends Azurite and the proxy.
func (a *Azurite) Stop() {
	a.mu.Lock()
	stopped := a.stopped
	a.stopped = true
	a.mu.Unlock()
	if stopped {
		return
	}
	if a.proxy != nil {
		a.proxy.Close()
	}
	if a.cmd.Process != nil {
		// Its own process group: node and anything it started.
		_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-a.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
			<-a.done
		}
	}
}

// Service is the account's endpoint through the proxy.
func (a *Azurite) Service() string { return a.URL + "/" + a.Account }

func (a *Azurite) client() (*azblob.Client, error) {
	cred, err := azblob.NewSharedKeyCredential(a.Account, a.Key)
	if err != nil {
		return nil, err
	}
	// Straight to Azurite: the test's own uploads are not the requests
	// the proxy records.
	return azblob.NewClientWithSharedKeyCredential(a.direct+"/"+a.Account+"/", cred, nil)
}

// CreateContainer makes a container (one that exists already is fine).
func (a *Azurite) CreateContainer(ctx context.Context, name string) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	_, err = c.CreateContainer(ctx, name, nil)
	if err != nil && strings.Contains(err.Error(), "ContainerAlreadyExists") {
		return nil
	}
	return err
}

// Put uploads a block blob.
func (a *Azurite) Put(ctx context.Context, container, name string, data []byte) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	_, err = c.UploadBuffer(ctx, container, name, data, nil)
	return err
}

// Requests is what the proxy has seen, in order.
func (a *Azurite) Requests() []AzureRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]AzureRequest(nil), a.reqs...)
}

// Inject sets (or with nil clears) a fault: f wraps the proxy's handler
// for every request until cleared.
func (a *Azurite) Inject(f func(next http.Handler) http.Handler) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.inject = f
}

func (a *Azurite) record(r AzureRequest) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reqs = append(a.reqs, r)
	return len(a.reqs) - 1
}

func (a *Azurite) setStatus(i, status int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if status == 0 {
		status = http.StatusOK
	}
	a.reqs[i].Status = status
}

// CutAfter is a fault that lets n bytes of each GET body through and
// then drops the link.
func CutAfter(n int64) func(next http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet {
				next.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(&cutWriter{ResponseWriter: w, left: n}, r)
		})
	}
}

// CutWriter lets n bytes of a body through w and then drops the link
// mid-body: the fault of a link that breaks off.
func CutWriter(w http.ResponseWriter, n int64) http.ResponseWriter {
	return &cutWriter{ResponseWriter: w, left: n}
}

type cutWriter struct {
	http.ResponseWriter
	left int64
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if int64(len(p)) <= c.left {
		c.left -= int64(len(p))
		return c.ResponseWriter.Write(p)
	}
	_, _ = c.ResponseWriter.Write(p[:c.left])
	c.left = 0
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
	// net/http drops the connection mid-body on this panic.
	panic(http.ErrAbortHandler)
}

// answerRecorder notes the status a request was answered with (the
// Azurite proxy's and the GCS server's).
type answerRecorder struct {
	http.ResponseWriter
	status int
}

func (r *answerRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *answerRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(p)
}

// Flush lets a fault send part of a body before it drops the link.
func (r *answerRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
