// Package crafts wires the standard crafts of a real device: HTTP and
// HTTPS datastores (httpfetch; chunkfetch in front of it with the blob
// directory, so a VM image comes as the chunks local seeds lack when the
// datastore publishes a chunk index), SFTP, S3, Azure Blob and Google
// Cloud Storage datastores (sftpfetch, s3fetch, azurefetch, gcsfetch),
// the blob directory under the root (blobdir) or containerd
// (containerd), qemu-img volumes (qemu), OCI registries and container
// volumes (registry), snapshots (snapshot), plus whatever fetchers the
// caller adds or replaces. The edge agent, the CLI and the quickstart all
// start from Open, so none of them wires crafts by hand. The in-memory
// device (assembler/sim) has crafts of its own.
package crafts
