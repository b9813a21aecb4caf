// Package httpfetch is the device.Fetcher of HTTP and HTTPS datastores: a
// GET of the datastore's fqdn, dpath and the content tree's URL, resumed
// from a partial ingest with a Range request, the body bounded by the
// tree's maxsizebytes and the free space, credentials sent only to the
// datastore's own origin, 5xx, 429 and short bodies retryable.
package httpfetch
