// Package azurefetch fetches blobs from EVE's Azure Blob datastores
// (DsAzureBlob = 6) through the Azure SDK's azblob, into an ingest,
// resuming at the ingest's offset with a ranged download.
//
// The storage account is named by the datastore's fqdn or apiKey:
//   - fqdn "<account>.blob.core.windows.net" (any "<account>.blob.<suffix>"
//     host, so sovereign clouds work), with or without "https://";
//   - fqdn "http(s)://host[:port]/<account>", an explicit endpoint with the
//     account in the path (Azurite, Azure Stack, a private endpoint);
//   - fqdn "blob.core.windows.net" (the cloud's suffix alone) or empty:
//     the account is apiKey, at https://<apiKey>.<suffix>;
//   - fqdn any other host (a custom domain, a private endpoint's name):
//     the account is apiKey, the host only routes.
//
// When both name an account they must agree. password is the account's
// shared key (base64, as the portal shows it); empty means anonymous
// access to a public container. dpath's first element is the container,
// the rest a prefix the content tree's URL is joined to (the blob's name);
// a URL may not climb out of it. dsCertPEM entries join the system CA
// pool.
//
// The body is bounded by the content tree's maxSizeBytes, the blob's
// descriptor size and the free space, whichever is smallest
// (*device.TooLargeError). Connection failures, 5xx, 429, ServerBusy and
// OperationTimedOut are device.Retryable (the SDK's own retries are off:
// the executor's backoff decides, and a dead endpoint fails fast to the
// next datastore); a refused key is a terminal *AuthError naming the
// datastore and the account, and nothing of the key. The key only signs
// requests to the datastore's own endpoint (redirects are not followed)
// and is never logged.
package azurefetch
