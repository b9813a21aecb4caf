// Package reporter tells the controller what the device holds, in EVE's own
// messages: ZInfoVolume per volume generation, ZInfoContentTree per content
// tree, ZInfoBlob per blob and ZMetricVolume per volume; AppSnapshots gives
// the storage side of ZInfoApp (its volume refs and the ZInfoSnapshot of
// each snapshot on the device), for the agent to merge into its own. It builds them from
// the Blueprint (what is wanted), the Floorplan (what exists, with the
// journal's usage history) and, during an apply, a Tracker that follows the
// assembler's remodel and progress events. Output is deterministic; a
// Publisher passes on only what changed since the last report.
//
// UsageInfo comes from the journal's usage history, which the checkpoint
// keeps for volumes and content trees. Blobs have none of their own: a
// blob's refCount is the number of wanted trees it belongs to plus the
// volume files on disk whose backing chain reads through it (an overlay
// references its blob as the foreman counts it: needed while it is
// there), and its
// lastRefcountChangeTime is when the newest of those trees first appeared
// in a checkpoint (a tree dropped since is not seen: the journal forgets
// it).
package reporter
