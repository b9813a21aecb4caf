// Package device names what the assembler touches on a device, as small
// role interfaces: blobs (BlobStore, TreeStore, Ingest), fetches from
// datastores (Fetcher, Follower, Resolver), volumes (VolumeBuilder,
// ContainerBuilder), image records (ImageDeleter), the journal (Journal),
// files under the root (Files) and the root's lock (Locker).
//
// The assembler is an executor over these interfaces and does no I/O of
// its own. The real device implements them on a root directory and
// containerd (assembler/crafts/...); the in-memory device
// (assembler/sim) implements every one of them in memory. Both run one
// conformance suite, so a plan applied to either gives the same next
// Floorplan.
package device
