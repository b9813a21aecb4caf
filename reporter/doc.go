// Package reporter tells the controller what the device holds, in EVE's own
// messages: ZInfoVolume per volume generation, ZInfoContentTree per content
// tree, ZInfoBlob per blob and ZMetricVolume per volume. It builds them from
// the Blueprint (what is wanted), the Floorplan (what exists, with the
// journal's usage history) and, during an apply, a Tracker that follows the
// assembler's remodel and progress events. Output is deterministic; a
// Publisher passes on only what changed since the last report.
package reporter
