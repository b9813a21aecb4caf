// Package foreman diffs a Blueprint against a Floorplan into a staged,
// explained construction Plan. It is pure: no I/O, no clock (time is an
// option), no goroutines, no global state; the same inputs give the same
// plan byte for byte. Guards hold remodels back with a reason instead of
// failing the plan.
//
// # What is wanted
//
// Every Blueprint volume at its generation (plus one under a local purge
// Addition), and every content tree of the config. A tree's blobs are
// fetched when a volume must be made from it, or when no volume refers to
// it (EVE fetches every content tree of its config); a tree whose volumes
// all exist, or were adopted, is not fetched again. A tree's top blob is
// its sha256, a digest in its URL, or, for an OCI tag, the journal's latch
// for the tree id, generation and URL; without one the plan resolves the
// tag first. Once the top blob is present its children (from the
// inspector) are planned in the next round: for an index, the platform
// manifests present (the assembler fetches only its own platform's with
// the index), for a manifest its config and layers. A volume is created
// only once all of its tree's blobs are known, after their downloads and
// verifies.
//
// # Remodels
//
// IDs are `<action>:<kind>/<id>`, e.g. `create:volume/<uuid>#2`,
// `download:blob/sha256:…` (`@containerd` is appended to the delete of a
// containerd blob); remodel.NewID makes them and remodel.ParseID checks
// them. Stage is the longest dependency path (from 1); the plan is
// ordered by stage, action precedence, id.
//
//   - resolve: an OCI tag with no latch (or a latch for another URL).
//   - download: a missing blob; a partial ingest resumes from its offset.
//     A scout's chunk offer (Options.Offers) that holds for the download
//     (its blob, first datastore, offset and seeds) is carried in the
//     payload: the text says what is fetched of the blob, the summary
//     counts it as bytes to download; disk admission charges the blob.
//   - verify: a partial ingest with all bytes written, a broken record, a
//     blob a download was in flight for when the last apply stopped. A
//     signed tree (SignatureInfo) gets no verify and no signature claim:
//     edgewright checks only the sha256 (architect warns per signed tree).
//   - create: a volume generation not present (blank ones need nothing).
//   - purge-generation: the desired generation is missing and an older
//     one is present. Make-before-break when the free-space budget covers
//     the new generation; break-before-make when deleting the old one
//     first makes room; held "needs X bytes, Y free" otherwise. Free
//     space unknown: make-before-break.
//   - adopt: see old-layout files below.
//   - resize: a present volume whose virtual size is below maxsizebytes is
//     grown; never shrunk (a shrink is held and reported). Growing after a
//     maxsizebytes raise without a generation bump is allowed, because it
//     loses nothing (a deviation from "left alone", said in the reason).
//   - delete: see below.
//
// # Deletes (three-way)
//
// A new-layout volume file not wanted now is deleted when the last applied
// Blueprint (Journal.LastApplied) had that exact generation, or when a
// newer generation of the same uuid is wanted now or was applied last.
// Any other file is only reported: no config we know of named it. A blob
// (or an owned containerd image record) no desired tree needs is deleted
// once the grace period since Journal.Unreferenced's clock is over; with no
// clock yet one starts at Options.Now (Plan.Unreferenced is the complete
// set of clocks the journal should hold afterwards). containerd blobs are
// deleted only when owned (OwnerLabel) and unreachable from any image
// record; otherwise containerd's collector takes them after their image
// record goes. `.tmp` leftovers go unless their volume is created in the
// same plan.
//
// # Old-layout files
//
// `persist/img/<sha>-<app>[#purge].<fmt>` files stay readable for a
// downgrade while the config still names them. A drives-only app (an
// implicit volume, or an explicit one marked LegacyDrive in transition
// phase 1) is served by the matching file where it is: nothing is created,
// moved or fetched. When the config names the content only through a
// volume ref (phase 2), the file is adopted into the new layout by rename,
// never copied or fetched again. An old file is deleted when the last
// applied config named it and this one does not, or when the app's purge
// counter moved past it (after the new generation exists).
//
// # App snapshots
//
// An app's SnapshotConfig (Blueprint.Snapshots, App.ActiveSnapshot,
// RollbackCounter, MaxSnapshots) plans snapshot, rollback and
// delete-snapshot remodels, targeted at the snapshot `<app>/<id>` and
// carrying the volume generations on disk they act on (snapshots.go
// lists the rules). An immediate snapshot is taken when a volume of the
// app lacks it (and waits for a volume not made yet); an app-update one
// is taken of the generations on disk just before a purge or resize of
// the app's volumes, which depend on it, and is not planned at all while
// no update comes. A snapshot no app lists is deleted; beyond
// max_snapshots the oldest goes. A rollback counter above the last
// applied one restores the volumes to the active snapshot when every
// volume at the generation the app uses holds it (a diagnostic
// otherwise); the checkpoint keeps the old counter until a rollback is
// done. A volume file that holds a listed snapshot is kept: its purge
// becomes a create of the new generation, its delete is held
// (holds-snapshot). Snapshot copies of raw and container volumes are
// charged to disk admission at the volume's allocated size.
//
// # Strategy (space or performance)
//
// How a VM volume is made from a raw or qcow2 content tree
// (materials.Strategy, strategy.go): Options.Strategy is the device's
// default, a strategy Addition (Target a volume uuid, or one generation's
// key, which wins) overrides it per volume; container and blank volumes
// have none. Performance is a full copy (qemu-img convert, or a sparse
// copy of raw). Space is a qcow2 overlay whose backing file is the
// verified, immutable top blob in the blob directory, named relative to
// the volume's directory (layout.BackingName: the root may be mounted
// anywhere, and the inspector resolves the name inside the root without
// following anything); it is made in milliseconds, charged 1 MiB to disk
// admission, and a purge makes a fresh one. Raw content under space is a
// .qcow2 file (the payload's volume format says so). Space falls back to
// a copy, and says why, for other formats and when downloads go to
// containerd without Options.ContentDirKnown (its blobs then have no file
// an overlay could name). With it, an overlay is backed by the blob's
// file in containerd's content directory, named by its absolute path. The create's or purge's VolumeBuild (its Detail in
// the plan's text) names the strategy, the backing blob and why; with no
// strategy chosen the plan says nothing and the volume is a copy.
//
// Performance stays the default. EVE's volume manager and hypervisor
// expect a volume to be one self-contained file in its declared format
// (a .raw opened as raw, a .qcow2 without a chain), and its content-tree
// and blob lifecycle (refcounts, ZInfoBlob, deletes after the last
// volume) assumes a blob is not needed once its volumes are made; an
// overlay ties the volume to the blob's lifetime, so a device manager
// that does not know of the chain could delete the blob from under the
// guest. Space is for devices that run edgewright's whole lifecycle, where
// the backing reference below holds.
//
// A blob some overlay on disk reads through (Floorplan volumes' Backing,
// from the survey) is needed whatever the config says: no delete is
// planned and no grace clock started while an overlay names it, across
// restarts and grace periods, with nothing journaled (every run's
// Floorplan carries the overlays). Once the last overlay is gone the
// blob's clock starts as usual. containerd collects a blob no image
// record references, so an owned image record that keeps such a blob
// (its target or a child) is held the same way (backs-overlay), with no
// clock started, until the overlay is gone: nothing is labelled or leased.
//
// # Guards (held, never failed)
//
//   - An invalid Blueprint (incomplete, or with errors): no destructive
//     remodel (delete, purge, rollback, delete-snapshot); no new grace
//     clocks, old ones carried.
//   - Withheld materials, and protect Additions (which the caller keeps
//     even when the config forgot the material): never deleted.
//   - Hold Additions and Limitations: no remodel touches the material (a
//     content tree covers its blobs and image records; a volume uuid all
//     its generations).
//   - Mass delete: dropping every present volume, or more than
//     MassDeleteShare of them, holds those deletes unless AllowMassDelete.
//   - EVE's rule: a present volume whose origin, content tree (or its
//     content), readonly or (lowered) maxsizebytes changed without a
//     generation bump is left alone and reported.
//   - Unknown and broken files: reported; deleted only with CleanUp.
//     CleanUp also deletes an unneeded partial download at once instead of
//     after the grace period.
//   - Blob deletes wait while a desired tree's blobs are not all known
//     (a tag to resolve, a manifest to fetch).
//   - Disk admission: downloads, creates and purges are charged to
//     Options.Space's FreeBytes in plan order (off when the space is
//     unknown, TotalBytes 0); what does not fit is held, and so is
//     everything that depends on a held remodel. A create is charged net
//     of its own `.tmp` (a failed or interrupted create's leftover), which
//     it removes before writing. Each remodel's Reclaims says what it was
//     credited, so Plan.Summary (remodel.Summarize) charges the same: its
//     PeakExtraDiskBytes fits in the free space whenever that was known.
package foreman
