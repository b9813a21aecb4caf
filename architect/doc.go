// Package architect turns a controller config (EVE's EdgeDevConfig, binary
// protobuf or proto-JSON) into a Blueprint, reporting every problem as a
// Diagnostic with its field path rather than stopping at the first. An error
// withholds only the material it concerns; the rest of the Blueprint stands.
//
// A proto-JSON config may use EVE's proto or JSON field names and may start
// with a UTF-8 BOM. A JSON field that EVE's schema (eve-api, see
// upstreamnames.go) does not have is a warning at its path, e.g.
// contentInfo[0].readOnlyy, "unknown field (not in EVE's schema): ignored";
// a field EVE has but edgewright does not model (networks, baseos,
// configItems, ...) is ignored in silence, contents and all. Past 100 such
// warnings, one more at "config" counts the rest. A binary config
// keeps unknown fields as protobuf does, without a warning.
//
// A signed content tree (SignatureInfo) is carried, but its signature is not
// checked by edgewright (there are no roots to chain to; upstream deprecates
// it): a warning at contentInfo[i].siginfo says so once per tree, and the
// caller must verify it if required.
//
// # Apps
//
// Blueprint.Apps lists the apps that have volume refs (new style and
// transition phase 1), sorted by id, each with its refs in the config's
// order (the first is the one a purge re-creates): volume id, generation
// as in Blueprint.Volumes, and mount_dir, which the agent needs to attach
// them. Legacy-drive apps are not listed: their volumes are implicit
// (Volume.App). An app one of whose refs an error kept out, or whose
// mount_dir has a control character, is left out (its diagnostics say
// why); its volumes still stand.
//
// # An app's purge counter
//
// Upstream, an app's purge counter also re-creates the content of its
// first volume ref. edgewright follows it by adding the counter to that
// volume's generation: Volume.Generation is generationCount plus the purge
// counters of every app whose first ref it is (Volume.AppPurges says how
// much). Volume refs are still checked against the config's
// generationCount. The rule needs nothing but the config, so it is
// level-triggered and survives restarts: a higher counter is a new
// generation, which the foreman re-creates from the volume's origin as it
// does any generation bump (purge-generation: the old generation goes once
// the new one exists, or first when there is no room for both), and the
// same counter again changes nothing. As with any change of generation, a
// lower sum re-creates the volume too: a counter the controller resets, or
// the removal of another app whose first ref is the same volume. A device
// that first runs this rule while an app's counter is already non-zero
// re-creates that app's first volume once. A withheld app's counter is
// unknown, so a first volume it would purge is withheld with it (never
// deleted, not drawn at a generation that may be wrong); a generation that
// would overflow is an error on the volume.//
// # Snapshots
//
// An app's SnapshotConfig (AppInstanceConfig.snapshot, field 22) becomes
// Blueprint.Snapshots, one per listed id with its type and the app's
// volume refs in this config, and the app's ActiveSnapshot,
// RollbackCounter and MaxSnapshots. Errors, each at its field path: an id
// that is empty, not a UUID or listed twice; a type that is
// SNAPSHOT_TYPE_UNSPECIFIED or unknown; max_snapshots 0 with snapshots
// listed; an active_snapshot that is not a UUID or not among the listed
// ones. A snapshot an error keeps out is withheld (never deleted, never
// taken), as are all the snapshots of an app that is left out; an active
// snapshot that does not stand withholds the rollback (App.RollbackWithheld).
// A rollback counter without an active_snapshot is only a warning: the
// config alone cannot tell whether the counter went up, which is the
// foreman's comparison with the last applied one. More snapshots than
// max_snapshots is not an error: upstream deletes the oldest. Snapshots of
// a legacy-drive app are ignored with a warning.
package architect
