// Package dsconn is what the datastore fetchers share before a request is
// made: the transport that trusts a datastore's own CA certificates, and
// where a content tree's URL leads in an object store whose dpath names a
// bucket (or container) and a prefix.
package dsconn

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"path"
	"strings"

	"github.com/edgewright/edgewright/assembler/oci"
	"github.com/edgewright/edgewright/materials"
)

// Transport is a clone of base (http.DefaultTransport when nil) that also
// trusts the datastore's dsCertPEM certificates. Each fetch gets its own,
// so one datastore's CAs never reach another's requests.
func Transport(base *http.Transport, ds materials.Datastore) (*http.Transport, error) {
	if base == nil {
		base = http.DefaultTransport.(*http.Transport)
	}
	tr := base.Clone()
	if len(ds.CertPEM) > 0 {
		pool, err := oci.CertPool(ds.CertPEM)
		if err != nil {
			return nil, fmt.Errorf("datastore %s: %w", ds.ID, err)
		}
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{}
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return tr, nil
}

// BucketKey splits dpath into its first element, the bucket (what names
// it in errors: "bucket", "container"), and a prefix, and joins the
// prefix with the content tree's URL into the object's key. A URL that
// climbs out of dpath is refused.
func BucketKey(ds materials.Datastore, rel, what string) (bucket, key string, err error) {
	bucket, prefix := ds.Bucket()
	if bucket == "" {
		return "", "", fmt.Errorf("datastore %s: dpath %q names no %s", ds.ID, ds.Path, what)
	}
	rel = strings.TrimSpace(rel)
	if rel == "" {
		return "", "", fmt.Errorf("datastore %s: content tree url is empty", ds.ID)
	}
	for _, e := range strings.Split(prefix+"/"+rel, "/") {
		if e == ".." {
			return "", "", fmt.Errorf("datastore %s: content tree url %q climbs out of dpath", ds.ID, rel)
		}
	}
	return bucket, strings.TrimPrefix(path.Join(prefix, rel), "/"), nil
}
