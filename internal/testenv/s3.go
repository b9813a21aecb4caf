package testenv

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// S3 is an in-process S3 server (github.com/johannesboyne/gofakes3 over
// its memory backend) on a loopback port, behind a check of AWS Signature
// Version 4 against one access key and secret, so a wrong credential is
// refused as S3 refuses it. It serves path-style requests on any host and
// virtual-host requests on <bucket>.<VirtualHostBase>.
type S3 struct {
	URL       string // http://127.0.0.1:port
	Host      string // 127.0.0.1:port
	AccessKey string
	SecretKey string
	Region    string

	backend *s3mem.Backend
	srv     *httptest.Server
	mu      sync.Mutex
	reqs    []S3Request
	// inject, when set, may answer a request itself (fault injection);
	// it returns true when it did.
	inject func(w http.ResponseWriter, r *http.Request) bool
}

// VirtualHostBase is the domain under which the server takes the first
// label of the Host as the bucket. Nothing resolves it: a client dials
// S3.Host for it (a test's own DialContext).
const VirtualHostBase = "s3.test"

// S3Request is what the server saw of one request.
type S3Request struct {
	Method, Host, Path, Range string
	// Status is what it answered (0 until it did).
	Status int
}

// StartS3 starts the server for a test, with the buckets made, and stops
// it when the test ends.
func StartS3(t testing.TB, buckets ...string) *S3 {
	t.Helper()
	s := &S3{AccessKey: "AKEDGEWRIGHTTEST0001", SecretKey: "edgewright-test-secret-0001", Region: "us-east-1", backend: s3mem.New()}
	for _, b := range buckets {
		if err := s.backend.CreateBucket(b); err != nil {
			t.Fatalf("s3: create bucket %s: %v", b, err)
		}
	}
	fake := gofakes3.New(s.backend, gofakes3.WithHostBucketBase(VirtualHostBase), gofakes3.WithLogger(gofakes3.DiscardLog()))
	inner := fake.Server()
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		i := s.record(S3Request{Method: r.Method, Host: r.Host, Path: r.URL.Path, Range: r.Header.Get("Range")})
		defer func() { s.setStatus(i, rec.status) }()
		s.mu.Lock()
		inject := s.inject
		s.mu.Unlock()
		if inject != nil && inject(rec, r) {
			return
		}
		if code, msg := s.verify(r); code != "" {
			rec.Header().Set("Content-Type", "application/xml")
			rec.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(rec, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, msg)
			return
		}
		// gofakes3 matches the virtual-host base without a port.
		if h, _, err := net.SplitHostPort(r.Host); err == nil {
			r.Host = h
		}
		inner.ServeHTTP(rec, r)
	}))
	s.URL = s.srv.URL
	s.Host = strings.TrimPrefix(s.srv.URL, "http://")
	t.Cleanup(s.srv.Close)
	return s
}

// Put stores an object.
func (s *S3) Put(bucket, key string, data []byte) error {
	// The metadata gofakes3's own PUT handler records (a GET without a
	// Last-Modified is malformed to a client).
	meta := map[string]string{"Last-Modified": time.Now().UTC().Format(http.TimeFormat), "Content-Type": "application/octet-stream"}
	_, err := s.backend.PutObject(bucket, key, meta, bytes.NewReader(data), int64(len(data)), nil)
	return err
}

// Requests is what the server has seen, in order.
func (s *S3) Requests() []S3Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]S3Request(nil), s.reqs...)
}

// Inject sets (or with nil clears) a fault: f may answer a request itself
// and then returns true.
func (s *S3) Inject(f func(w http.ResponseWriter, r *http.Request) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inject = f
}

func (s *S3) record(r S3Request) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, r)
	return len(s.reqs) - 1
}

func (s *S3) setStatus(i, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if status == 0 {
		status = http.StatusOK
	}
	s.reqs[i].Status = status
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

// WriteHeader passes the first status on; gofakes3 sometimes writes a
// second after a body has started, which net/http would only complain of.
func (r *statusRecorder) WriteHeader(code int) {
	if r.status != 0 {
		return
	}
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Flush lets a fault send part of a body before it drops the link.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(p)
}

// verify checks a request's Signature Version 4 header and returns S3's
// error code when it fails ("" when it holds).
func (s *S3) verify(r *http.Request) (code, msg string) {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return "AccessDenied", "only AWS4-HMAC-SHA256 header signatures are accepted"
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	cred := strings.Split(fields["Credential"], "/")
	if len(cred) != 5 || cred[3] != "s3" || cred[4] != "aws4_request" {
		return "AuthorizationHeaderMalformed", "bad Credential"
	}
	if cred[0] != s.AccessKey {
		return "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."
	}
	date, region := cred[1], cred[2]
	amzDate := r.Header.Get("X-Amz-Date")
	if !strings.HasPrefix(amzDate, date) {
		return "AuthorizationHeaderMalformed", "X-Amz-Date does not match the credential's date"
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	var canonHeaders strings.Builder
	for _, h := range signed {
		v := strings.Join(r.Header.Values(h), ",")
		if h == "host" {
			v = r.Host
		}
		canonHeaders.WriteString(h + ":" + strings.Join(strings.Fields(v), " ") + "\n")
	}
	// Encode sorts by key, as the canonical query wants.
	canonQuery := strings.ReplaceAll(r.URL.Query().Encode(), "+", "%20")
	canonical := strings.Join([]string{
		r.Method, r.URL.EscapedPath(), canonQuery, canonHeaders.String(),
		strings.Join(signed, ";"), r.Header.Get("X-Amz-Content-Sha256"),
	}, "\n")
	sum := sha256.Sum256([]byte(canonical))
	scope := strings.Join([]string{date, region, "s3", "aws4_request"}, "/")
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	key := []byte("AWS4" + s.SecretKey)
	for _, p := range []string{date, region, "s3", "aws4_request"} {
		key = hmacSHA256(key, p)
	}
	want := hex.EncodeToString(hmacSHA256(key, toSign))
	if !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided."
	}
	return "", ""
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
