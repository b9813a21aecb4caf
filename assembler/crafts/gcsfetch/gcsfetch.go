package gcsfetch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/auth/credentials"
	"cloud.google.com/go/auth/httptransport"
	"cloud.google.com/go/storage"
	"go.uber.org/zap"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/edgewright/edgewright/assembler/crafts/internal/dsconn"
	"github.com/edgewright/edgewright/assembler/crafts/internal/fetchbody"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/materials"
)

// Fetcher is a device.Fetcher for Google Cloud Storage datastores.
type Fetcher struct {
	Logger *zap.Logger
	// Transport is cloned per fetch (to add the datastore's CA
	// certificates); http.DefaultTransport when nil.
	Transport *http.Transport
}

var _ device.Fetcher = (*Fetcher)(nil)

// ErrAuth: Google refused the datastore's service account key, or the
// token it gave.
var ErrAuth = errors.New("google storage credentials refused")

// AuthError names the datastore whose key was refused and what refused
// it, and nothing of the key.
type AuthError struct {
	Datastore string
	Bucket    string
	// Code is the token endpoint's OAuth error ("token: 400
	// invalid_grant") or the storage status ("storage: 403").
	Code string
	// Anonymous: the datastore has no key, and the bucket is not public.
	Anonymous bool
}

func (e *AuthError) Error() string {
	if e.Anonymous {
		return fmt.Sprintf("%v: google-storage datastore %s (bucket %s) refused an anonymous read (the datastore's password holds no service account key): %s", ErrAuth, e.Datastore, e.Bucket, e.Code)
	}
	return fmt.Sprintf("%v: google-storage datastore %s (bucket %s) refused its service account key (the datastore's password): %s", ErrAuth, e.Datastore, e.Bucket, e.Code)
}
func (e *AuthError) Unwrap() error { return ErrAuth }

// Object is where a content tree's blob is in Cloud Storage.
type Object struct {
	// Endpoint is the JSON API's root, "" for Google's own
	// (https://storage.googleapis.com/storage/v1/).
	Endpoint string
	Bucket   string
	Name     string
}

// String is the object as a person reads it (no credentials are in it).
func (o Object) String() string {
	if o.Endpoint == "" {
		return "gs://" + o.Bucket + "/" + o.Name
	}
	return strings.TrimSuffix(o.Endpoint, "/storage/v1/") + "/" + o.Bucket + "/" + o.Name
}

// Locate reads a datastore and a content tree URL into an Object.
func Locate(ds materials.Datastore, rel string) (Object, error) {
	var o Object
	fqdn := strings.TrimSpace(ds.FQDN)
	switch strings.TrimSuffix(fqdn, "/") {
	case "", "storage.googleapis.com", "https://storage.googleapis.com":
	default:
		raw := fqdn
		if !strings.Contains(raw, "://") {
			raw = "https://" + raw
		}
		u, err := url.Parse(raw)
		if err != nil {
			return o, fmt.Errorf("datastore %s: fqdn %q: %w", ds.ID, ds.FQDN, err)
		}
		if u.Scheme != "https" && u.Scheme != "http" {
			return o, fmt.Errorf("datastore %s: fqdn %q: scheme %q is not http or https", ds.ID, ds.FQDN, u.Scheme)
		}
		if u.User != nil {
			return o, fmt.Errorf("datastore %s: fqdn carries credentials: the service account key goes in password", ds.ID)
		}
		if strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
			return o, fmt.Errorf("datastore %s: fqdn %q has a path: the bucket goes in dpath", ds.ID, u.Scheme+"://"+u.Host+u.Path)
		}
		if u.Host == "" {
			return o, fmt.Errorf("datastore %s: fqdn %q: no host", ds.ID, ds.FQDN)
		}
		o.Endpoint = u.Scheme + "://" + u.Host + "/storage/v1/"
	}
	bucket, key, err := dsconn.BucketKey(ds, rel, "bucket")
	if err != nil {
		return o, err
	}
	o.Bucket, o.Name = bucket, key
	return o, nil
}

// quiet is the library's logger: the environment (GOOGLE_SDK_GO_LOGGING_LEVEL)
// must not turn on a log of requests beside ours.
var quiet = slog.New(slog.DiscardHandler)

func noRedirect(*http.Request, []*http.Request) error {
	// Cloud Storage never redirects a read; a redirect would carry the
	// token elsewhere. The 3xx is the answer.
	return http.ErrUseLastResponse
}

// client makes a storage client for one fetch. It fetches the token
// first, so that a refused key is told apart from a dead link.
func (f *Fetcher) client(ctx context.Context, ds materials.Datastore, o Object) (*storage.Client, *http.Transport, error) {
	tr, err := dsconn.Transport(f.Transport, ds)
	if err != nil {
		return nil, nil, err
	}
	hc := &http.Client{Transport: tr, CheckRedirect: noRedirect}
	if ds.Password != "" {
		creds, err := credentials.NewCredentialsFromJSON(credentials.ServiceAccount, []byte(ds.Password), &credentials.DetectOptions{
			Scopes:              []string{storage.ScopeReadOnly},
			Client:              &http.Client{Transport: tr, CheckRedirect: noRedirect},
			Logger:              quiet,
			DisableAsyncRefresh: true,
		})
		if err != nil {
			// The parser names the type it found or a JSON syntax error's
			// offset, never the key.
			return nil, nil, device.Terminal("datastore %s: password is not a service account key (JSON of type service_account): %w", ds.ID, err)
		}
		if _, err := creds.Token(ctx); err != nil {
			return nil, nil, tokenError(ctx, ds, o, err)
		}
		if hc, err = httptransport.NewClient(&httptransport.Options{
			Credentials:      creds,
			BaseRoundTripper: tr,
			DisableTelemetry: true,
			Logger:           quiet,
		}); err != nil {
			return nil, nil, fmt.Errorf("datastore %s: %w", ds.ID, err)
		}
		hc.CheckRedirect = noRedirect
	}
	opts := []option.ClientOption{
		option.WithHTTPClient(hc),
		// hc carries the datastore's token (or none). Without this the
		// library looks for ambient credentials too: the environment, a
		// gcloud file, and a probe of the GCE metadata server
		// (169.254.169.254) on every fetch.
		option.WithoutAuthentication(),
		option.WithLogger(quiet),
		storage.WithDisabledClientMetrics(),
	}
	if o.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(o.Endpoint))
	}
	c, err := storage.NewClient(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("datastore %s: %w", ds.ID, err)
	}
	// One attempt: the executor retries with its own backoff and budget,
	// and a dead endpoint must fail fast to the next datastore.
	c.SetRetry(storage.WithPolicy(storage.RetryNever))
	return c, tr, nil
}

// tokenError classifies a failed token request: refused (terminal,
// naming the OAuth error), unanswered or 5xx (retryable), or a key the
// library could not use (terminal).
func tokenError(ctx context.Context, ds materials.Datastore, o Object, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ae *auth.Error
	if errors.As(err, &ae) && ae.Response != nil {
		s := ae.Response.StatusCode
		if s >= 500 || s == http.StatusTooManyRequests {
			return device.Retryable(fmt.Errorf("datastore %s: token request: %d", ds.ID, s))
		}
		var body struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(ae.Body, &body)
		code := "token: " + strconv.Itoa(s)
		if body.Error != "" && len(body.Error) < 64 {
			code += " " + body.Error
		}
		return &AuthError{Datastore: ds.ID, Bucket: o.Bucket, Code: code}
	}
	var ne net.Error
	var ue *url.Error
	if errors.As(err, &ne) || errors.As(err, &ue) || errors.Is(err, io.ErrUnexpectedEOF) {
		return device.Retryable(fmt.Errorf("datastore %s: token request: %w", ds.ID, err))
	}
	return device.Terminal("datastore %s: the service account key in password is unusable: %v", ds.ID, err)
}

// Fetch copies the blob into dst from dst.Offset() on.
func (f *Fetcher) Fetch(ctx context.Context, req device.FetchRequest, dst device.Ingest, progress func(done, known int64)) error {
	log := f.Logger
	if log == nil {
		log = zap.NewNop()
	}
	ds := req.Datastore
	o, err := Locate(ds, req.ContentTree.URL)
	if err != nil {
		return err
	}
	where := o.String()
	offset, err := fetchbody.Resume(req, dst)
	if err != nil {
		return err
	}
	log.Debug("google storage fetch", zap.String("datastore", ds.ID), zap.String("object", where),
		zap.Bool("serviceAccount", ds.Password != ""), zap.Int64("offset", offset), zap.String("digest", string(req.Blob.Digest)))
	c, tr, err := f.client(ctx, ds, o)
	if err != nil {
		return err
	}
	defer tr.CloseIdleConnections()
	defer c.Close()
	r, err := c.Bucket(o.Bucket).Object(o.Name).ReadCompressed(true).NewRangeReader(ctx, offset, -1)
	if err != nil {
		var ge *googleapi.Error
		if errors.As(err, &ge) && offset > 0 && ge.Code == http.StatusRequestedRangeNotSatisfiable {
			// The partial already holds everything; Commit checks it.
			progress(offset, offset)
			return nil
		}
		if offset > 0 && strings.Contains(err.Error(), "partial request not satisfied") {
			// The server ignored the Range: start again from zero.
			log.Info("server ignored Range, restarting from 0", zap.String("object", where), zap.Int64("offset", offset))
			_ = dst.Truncate()
			return device.Retryable(fmt.Errorf("fetch %s: the server ignored Range bytes=%d-", where, offset))
		}
		return f.classify(ctx, ds, o, err)
	}
	defer r.Close()
	if r.Attrs.StartOffset != offset {
		// Not the range asked for: start again from zero next time.
		_ = dst.Truncate()
		return device.Retryable(fmt.Errorf("fetch %s: the body starts at byte %d, not %d", where, r.Attrs.StartOffset, offset))
	}
	known := max(r.Attrs.Size, 0)
	done, err := fetchbody.LimitFor(req, offset).Copy(ctx, req, dst, r, where, offset, known, progress)
	if err != nil {
		if strings.Contains(err.Error(), "bad CRC on read") {
			// The whole body arrived and does not match the CRC32C the
			// server holds: none of it is worth keeping.
			_ = dst.Truncate()
		}
		return err
	}
	log.Debug("google storage fetched", zap.String("datastore", ds.ID), zap.String("object", where), zap.Int64("bytes", done-offset))
	return nil
}

// classify turns the library's error into the executor's vocabulary. It
// keeps only a *googleapi.Error's status and reason, not its body.
func (f *Fetcher) classify(ctx context.Context, ds materials.Datastore, o Object, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, storage.ErrObjectNotExist) {
		return fmt.Errorf("fetch %s: 404 no such object", o)
	}
	if errors.Is(err, storage.ErrBucketNotExist) {
		return fmt.Errorf("fetch %s: 404 no such bucket", o)
	}
	var ae *auth.Error
	if errors.As(err, &ae) {
		// The token expired mid-fetch and its refresh failed.
		return tokenError(ctx, ds, o, err)
	}
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		// No answer at all: a refused or dropped connection, a timeout.
		return device.Retryable(fmt.Errorf("fetch %s: %w", o, err))
	}
	s := ge.Code
	reason := http.StatusText(s)
	if len(ge.Errors) > 0 && ge.Errors[0].Reason != "" {
		reason = ge.Errors[0].Reason
	}
	switch {
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		return &AuthError{Datastore: ds.ID, Bucket: o.Bucket, Code: "storage: " + strconv.Itoa(s) + " " + reason, Anonymous: ds.Password == ""}
	case s >= 500 || s == http.StatusTooManyRequests || s == http.StatusRequestTimeout:
		return device.Retryable(fmt.Errorf("fetch %s: %d %s", o, s, reason))
	}
	return fmt.Errorf("fetch %s: %d %s", o, s, reason)
}
