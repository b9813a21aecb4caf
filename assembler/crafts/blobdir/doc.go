// Package blobdir is the blob directory under a device root, a
// device.BlobStore: complete blobs at persist/blobs/sha256/<hex>, partial
// downloads at persist/blobs/ingest/<hex> with their hash state kept
// under persist/edgewright/ingest, so a resume hashes only new bytes and
// a commit checks the digest without reading anything back. Every file is
// reached without following a symlink.
package blobdir
