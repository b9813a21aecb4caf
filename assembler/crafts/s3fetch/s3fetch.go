package s3fetch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"go.uber.org/zap"

	"github.com/edgewright/edgewright/assembler/crafts/internal/dsconn"
	"github.com/edgewright/edgewright/assembler/crafts/internal/fetchbody"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/materials"
)

// Lookup is where requests name the bucket.
type Lookup int

const (
	// LookupAuto: in the host for AWS, Google and Aliyun endpoints, in the
	// path for every other (minio-go's rule).
	LookupAuto Lookup = iota
	// LookupPath: https://endpoint/bucket/key.
	LookupPath
	// LookupVirtualHost: https://bucket.endpoint/key.
	LookupVirtualHost
)

// Fetcher is a device.Fetcher for S3 datastores.
type Fetcher struct {
	Logger *zap.Logger
	// Transport is cloned per fetch (to add the datastore's CA
	// certificates); http.DefaultTransport when nil.
	Transport *http.Transport
	// BucketLookup is where requests name the bucket.
	BucketLookup Lookup
}

var _ device.Fetcher = (*Fetcher)(nil)

// ErrAuth: the server refused the datastore's access key or signature.
var ErrAuth = errors.New("s3 credentials refused")

// AuthError names the datastore whose credentials were refused and S3's
// error code, and nothing of the credentials.
type AuthError struct {
	Datastore string
	Endpoint  string
	Code      string // AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch, ...
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("%v: s3 datastore %s (%s) refused its access key and secret (the datastore's apiKey and password): %s", ErrAuth, e.Datastore, e.Endpoint, e.Code)
}
func (e *AuthError) Unwrap() error { return ErrAuth }

// Object is where a content tree's blob is in S3.
type Object struct {
	Endpoint string // host[:port]
	Secure   bool   // HTTPS
	Bucket   string
	Key      string
}

// String is the object as a person reads it (no credentials are in it).
func (o Object) String() string {
	return "s3://" + o.Endpoint + "/" + o.Bucket + "/" + o.Key
}

// Locate reads a datastore and a content tree URL into an Object.
func Locate(ds materials.Datastore, rel string) (Object, error) {
	o := Object{Secure: true}
	host := strings.TrimSpace(ds.FQDN)
	if i := strings.Index(host, "://"); i >= 0 {
		u, err := url.Parse(host)
		if err != nil {
			return o, fmt.Errorf("datastore %s: fqdn %q: %w", ds.ID, ds.FQDN, err)
		}
		switch u.Scheme {
		case "https", "s3":
		case "http":
			o.Secure = false
		default:
			return o, fmt.Errorf("datastore %s: fqdn %q: scheme %q is not http, https or s3", ds.ID, ds.FQDN, u.Scheme)
		}
		if u.User != nil {
			return o, fmt.Errorf("datastore %s: fqdn carries credentials: put them in apiKey and password", ds.ID)
		}
		if strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
			return o, fmt.Errorf("datastore %s: fqdn %q has a path: the bucket goes in dpath", ds.ID, u.Redacted())
		}
		host = u.Host
	} else if strings.Trim(host, "/") != host || strings.Contains(host, "/") {
		return o, fmt.Errorf("datastore %s: fqdn %q has a path: the bucket goes in dpath", ds.ID, ds.FQDN)
	}
	if host == "" {
		return o, fmt.Errorf("datastore %s: fqdn %q: no host", ds.ID, ds.FQDN)
	}
	o.Endpoint = host
	bucket, key, err := dsconn.BucketKey(ds, rel, "bucket")
	if err != nil {
		return o, err
	}
	o.Bucket, o.Key = bucket, key
	return o, nil
}

func (f *Fetcher) client(ds materials.Datastore, o Object) (*minio.Core, *http.Transport, error) {
	tr, err := dsconn.Transport(f.Transport, ds)
	if err != nil {
		return nil, nil, err
	}
	lookup := minio.BucketLookupAuto
	switch f.BucketLookup {
	case LookupPath:
		lookup = minio.BucketLookupPath
	case LookupVirtualHost:
		lookup = minio.BucketLookupDNS
	}
	c, err := minio.NewCore(o.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(ds.APIKey, ds.Password, ""),
		Secure:       o.Secure,
		Transport:    tr,
		Region:       ds.Region,
		BucketLookup: lookup,
		// One attempt: the executor retries with its own backoff and
		// budget, and a dead endpoint must fail fast to the next datastore.
		MaxRetries: 1,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("datastore %s: endpoint %q: %w", ds.ID, o.Endpoint, err)
	}
	return c, tr, nil
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
	log.Debug("s3 fetch", zap.String("datastore", ds.ID), zap.String("object", where), zap.String("region", ds.Region),
		zap.Int64("offset", offset), zap.String("digest", string(req.Blob.Digest)))
	c, tr, err := f.client(ds, o)
	if err != nil {
		return err
	}
	defer tr.CloseIdleConnections()
	var opts minio.GetObjectOptions
	if offset > 0 {
		if err := opts.SetRange(offset, 0); err != nil {
			return fmt.Errorf("fetch %s: %w", where, err)
		}
	}
	body, info, hdr, err := c.GetObject(ctx, o.Bucket, o.Key, opts)
	if err != nil {
		if er := minio.ToErrorResponse(err); offset > 0 && (er.StatusCode == http.StatusRequestedRangeNotSatisfiable || er.Code == "InvalidRange") {
			// The partial already holds everything; Commit checks it.
			progress(offset, offset)
			return nil
		}
		return f.classify(ctx, ds, o, err)
	}
	defer body.Close()
	known := int64(0)
	if cr := hdr.Get("Content-Range"); cr != "" {
		start, total, ok := fetchbody.ParseContentRange(cr)
		if !ok || start != offset {
			// Not the range asked for: start again from zero next time.
			_ = dst.Truncate()
			return device.Retryable(fmt.Errorf("fetch %s: Content-Range %q does not start at %d", where, cr, offset))
		}
		if total > 0 {
			known = total
		} else if info.Size >= 0 {
			known = offset + info.Size
		}
	} else {
		if offset > 0 {
			log.Info("server ignored Range, restarting from 0", zap.String("object", where), zap.Int64("offset", offset))
			if err := dst.Truncate(); err != nil {
				return err
			}
			offset = 0
		}
		known = max(info.Size, 0)
	}
	done, err := fetchbody.LimitFor(req, offset).Copy(ctx, req, dst, body, where, offset, known, progress)
	if err != nil {
		return err
	}
	log.Debug("s3 fetched", zap.String("datastore", ds.ID), zap.String("object", where), zap.Int64("bytes", done-offset))
	return nil
}

// classify turns minio-go's error into the executor's vocabulary.
func (f *Fetcher) classify(ctx context.Context, ds materials.Datastore, o Object, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	er := minio.ToErrorResponse(err)
	switch er.Code {
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "AuthorizationHeaderMalformed":
		return &AuthError{Datastore: ds.ID, Endpoint: o.Endpoint, Code: er.Code}
	case "SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable":
		return device.Retryable(fmt.Errorf("fetch %s: %s", o, er.Code))
	}
	switch s := er.StatusCode; {
	case s == 0:
		// No answer at all: a refused or dropped connection, a timeout.
		return device.Retryable(fmt.Errorf("fetch %s: %w", o, err))
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		return &AuthError{Datastore: ds.ID, Endpoint: o.Endpoint, Code: strconv.Itoa(s)}
	case s >= 500 || s == http.StatusTooManyRequests || s == http.StatusRequestTimeout:
		return device.Retryable(fmt.Errorf("fetch %s: %d %s", o, s, er.Code))
	}
	return fmt.Errorf("fetch %s: %d %s", o, er.StatusCode, er.Code)
}
