// Package s3fetch fetches blobs from EVE's S3 datastores (DsS3 = 3): AWS
// S3 and S3-compatible servers, through minio-go, into an ingest,
// resuming at the ingest's offset with a ranged GET.
//
// A datastore names the endpoint in fqdn: "host[:port]" (HTTPS), or with a
// scheme, "https://host[:port]" or "http://host[:port]"; a path after the
// host is refused. region is the signing region (minio-go asks the bucket
// for it when empty), apiKey the access key and password the secret key;
// both empty means anonymous requests. dpath's first element is the bucket,
// the rest a key prefix that the content tree's URL is joined to; a URL may
// not climb out of it. The bucket goes in the host (virtual-host style) for
// AWS-like endpoints and in the path otherwise, unless the Fetcher's
// BucketLookup says which. dsCertPEM entries join the system CA pool.
//
// The body is bounded by the content tree's maxSizeBytes, the blob's
// descriptor size and the free space, whichever is smallest
// (*device.TooLargeError). Connection failures, 5xx, 429 and SlowDown are
// device.Retryable (minio-go's own retries are off: the executor's backoff
// decides); a refused access key or signature is a terminal *AuthError
// naming the datastore and nothing it was given. The secret never leaves
// the request signature, and neither key is ever logged.
package s3fetch
