package httpfetch

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/assembler/crafts/internal/dsconn"
	"github.com/edgewright/edgewright/assembler/crafts/internal/fetchbody"
	"github.com/edgewright/edgewright/assembler/oci"
	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/materials"
)

// Fetcher fetches blobs from HTTP and HTTPS datastores, resuming a
// partial ingest with a Range request.
type Fetcher struct {
	// Transport is cloned per datastore (to add its CA certificates);
	// http.DefaultTransport when nil.
	Transport *http.Transport
	Logger    *zap.Logger
}

// DatastoreURL joins a datastore's fqdn and dpath with a content tree's
// URL. The scheme comes from the fqdn when it carries one (EVE controllers
// often write "http://host:port"), else from the datastore type.
func DatastoreURL(ds materials.Datastore, rel string) (*url.URL, error) {
	scheme := "https"
	if ds.Type == materials.DatastoreHTTP {
		scheme = "http"
	}
	host := strings.TrimSpace(ds.FQDN)
	prefix := ""
	if i := strings.Index(host, "://"); i >= 0 {
		u, err := url.Parse(host)
		if err != nil {
			return nil, fmt.Errorf("datastore %s: fqdn %q: %w", ds.ID, ds.FQDN, err)
		}
		scheme, host, prefix = u.Scheme, u.Host, u.Path
	} else if h, p, ok := strings.Cut(host, "/"); ok {
		host, prefix = h, p
	}
	if host == "" {
		return nil, fmt.Errorf("datastore %s: fqdn %q: no host", ds.ID, ds.FQDN)
	}
	if scheme != "http" && scheme != "https" {
		return nil, fmt.Errorf("datastore %s: fqdn %q: scheme %q is not http or https", ds.ID, ds.FQDN, scheme)
	}
	if strings.TrimSpace(rel) == "" {
		return nil, fmt.Errorf("datastore %s: content tree url is empty", ds.ID)
	}
	p := path.Join("/", prefix, ds.Path, rel)
	return &url.URL{Scheme: scheme, Host: host, Path: p}, nil
}

func (f *Fetcher) client(ds materials.Datastore) (*http.Client, error) {
	tr, err := dsconn.Transport(f.Transport, ds)
	if err != nil {
		return nil, err
	}
	// Credentials stay with the datastore's origin, and set per request.
	return &http.Client{Transport: tr, CheckRedirect: oci.CheckRedirect}, nil
}

// Fetch copies the blob into dst from dst.Offset() on.
func (f *Fetcher) Fetch(ctx context.Context, req device.FetchRequest, dst device.Ingest, progress func(done, known int64)) error {
	log := f.Logger
	if log == nil {
		log = zap.NewNop()
	}
	u, err := DatastoreURL(req.Datastore, req.ContentTree.URL)
	if err != nil {
		return err
	}
	// The bounds are every fetcher's (device.FetchRequest.Limit): for an
	// HTTP content tree Blob.Size is itself an upper bound, the plan takes
	// it from maxSizeBytes. The digest decides what is right.
	known := int64(0)
	offset, err := fetchbody.Resume(req, dst)
	if err != nil {
		return err
	}
	client, err := f.client(req.Datastore)
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", u.Redacted(), err)
	}
	if req.Datastore.APIKey != "" || req.Datastore.Password != "" {
		// Basic auth in a header, never in the URL, so no log line carries it.
		hreq.SetBasicAuth(req.Datastore.APIKey, req.Datastore.Password)
	}
	if offset > 0 {
		hreq.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	log.Debug("fetch", zap.String("url", u.Redacted()), zap.Int64("offset", offset), zap.String("digest", string(req.Blob.Digest)))
	resp, err := client.Do(hreq)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("fetch %s: %w", u.Redacted(), ctx.Err()) // stopped, not failed: no retry
		}
		return device.Retryable(fmt.Errorf("fetch %s: %w", u.Redacted(), err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
		start, total, ok := fetchbody.ParseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != offset {
			// Not the range we asked for: start again from zero next time.
			_ = dst.Truncate()
			return device.Retryable(fmt.Errorf("fetch %s: Content-Range %q does not start at %d", u.Redacted(), resp.Header.Get("Content-Range"), offset))
		}
		if total > 0 {
			known = total
		} else if resp.ContentLength >= 0 {
			known = offset + resp.ContentLength
		}
	case resp.StatusCode == http.StatusOK:
		if offset > 0 {
			log.Info("server ignored Range, restarting from 0", zap.String("url", u.Redacted()), zap.Int64("offset", offset))
			if err := dst.Truncate(); err != nil {
				return err
			}
			offset = 0
		}
		if resp.ContentLength >= 0 {
			known = resp.ContentLength
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && offset > 0:
		// The partial already holds everything; Commit checks it.
		return nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout:
		return device.Retryable(fmt.Errorf("fetch %s: %s", u.Redacted(), resp.Status))
	default:
		return fmt.Errorf("fetch %s: %s", u.Redacted(), resp.Status)
	}
	done, err := fetchbody.LimitFor(req, offset).Copy(ctx, req, dst, resp.Body, u.Redacted(), offset, known, progress)
	if err != nil {
		return err
	}
	if known > 0 && done > known {
		// A body past its declared length is not the one declared: retry
		// rather than hand the digest a body the server says is wrong.
		return device.Retryable(fmt.Errorf("fetch %s: body ran to byte %d past its declared %d", u.Redacted(), done, known))
	}
	return nil
}
