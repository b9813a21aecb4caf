// Package sim is an in-memory device: every role the assembler touches
// (device.Files, Locker, JournalOpener, Journal, BlobStore, Fetcher,
// Follower, Resolver, VolumeBuilder, ContainerBuilder, ImageDeleter,
// VolumeFixer: a fix leaves the entry a sound volume of its kind) kept
// in maps, with a World of datastores and registries that serves content
// by size and digest, never by bytes. The real executor runs over it, so
// applying a Plan to a sim Device gives the next Floorplan as the real
// assembler would on a root directory; devicetest holds the conformance
// suite both run, so the two cannot drift.
//
// What it models: the blob directory store (complete blobs, resumable
// partial ingests, OCI manifests' children), raw, qcow2 and container
// volumes in both layouts with .tmp work in progress, the journal with
// every rule of package journal, free space (a fetch or build past it
// fails with ENOSPC, as on a full disk), a crash at any journal write
// (Crash and Reboot), a download cut after N bytes by the link or a
// power loss (CutFetch), and a World whose content can be corrupt, missing
// or behind a dead link; and, with Options.Containerd, containerd's
// content store as the containerd craft uses it (blobs in a lease per
// content tree, sealed into the `<tree id>-<URL>` image record, deleted
// with it) with containerd's collector, which takes every blob no lease
// or image record reaches whatever overlay names it: with
// Options.ContainerdContentDir a space overlay is backed by a blob's
// file there, named by its absolute path, and the survey follows it as
// the inspector does (missing once the collector took it). What it does
// not: foreign (unlabelled) containerd content, legacy-named files and
// hostile entries (plant them into the Floorplan with PlantVolume),
// byte-level content.
//
// A Device costs a few hundred bytes per material, so a simulator can
// hold a large fleet in one process; a World is shared by every device.
package sim
