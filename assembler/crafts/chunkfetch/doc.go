// Package chunkfetch is a device.Fetcher for HTTP(S) datastores that
// downloads a new version of a VM image (raw, qcow2, ...) as only the
// chunks the device does not already hold.
//
// Contract: for a content tree at URL it asks for URL+".chunks", an index
// of package chunks made by `wright chunk`. When the index is there, parses
// within the bounds of the blob (maxSizeBytes, the chunk count) and is for
// the wanted blob (its image sha256 is the config's), the blob is
// assembled in order into the ingest from local seeds (earlier blobs of
// the same format, from Seeds) plus the missing chunks fetched from the
// index's chunk store beside it (same origin, same credentials, several at
// once, each resumed with a Range request when its body breaks off). Every
// chunk's sha256 is checked before it is written and a bad one is fetched
// again a bounded number of times and never used; the ingest's Commit then
// checks the whole blob's sha256 as for any download.
//
// Scout (device.Scout) tells before a plan what a download would fetch:
// it fetches the index and plans it over the same seeds, and keeps both
// (a few blobs' worth, by blob, size bound and index URL) so the download
// that follows fetches the index no second time. During a download,
// FetchRequest.Transfer hears the bytes fetched of the bytes to fetch,
// monotone through a fall-back to the whole blob.
//
// A resumed ingest (a crash, a kill -9, a network error) goes on from its
// offset: the chunks already written are neither read nor fetched again.
//
// No index, a damaged or lying one, a chunk store that keeps serving
// wrong bytes, or an index that saves little (most of the blob must be
// fetched anyway): the wrapped whole-file Fetcher downloads the blob, with
// a warning in the log, resuming from the verified prefix already written.
package chunkfetch
