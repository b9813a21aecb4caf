package remodel

import (
	"reflect"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/edgewright/edgewright/materials"
)

// Action is what a Remodel does.
type Action string

// Every action is declared here, once: its name, the payload that carries
// what the assembler needs to do it, and its row in actionTable (symbol,
// phrase, precedence, destructiveness, disk charge, concurrency and the
// payload's type). The renderers, the summary, the foreman's order and
// guards, the JSON decoding and the executor's limits all read them from
// here. An action's work is the executor's own table (assembler), which
// a test checks covers every row with the payload type declared here.

const (
	// ActionResolve turns an OCI tag into a digest and latches it.
	ActionResolve Action = "resolve"
	// ActionDownload fetches one blob (for an OCI tree, its top blob first;
	// the next round plans the layers the manifest names).
	ActionDownload Action = "download"
	// ActionVerify checks a blob whose integrity is uncertain.
	ActionVerify Action = "verify"
	// ActionCreate makes a volume generation, from content or blank.
	ActionCreate Action = "create"
	// ActionPurge replaces a volume's old generation with a new one.
	ActionPurge Action = "purge-generation"
	// ActionAdopt renames an old-layout volume into the new layout.
	ActionAdopt Action = "adopt"
	// ActionDelete removes a volume, a blob, a containerd image record or
	// a leftover file.
	ActionDelete Action = "delete"
	// ActionResize grows a volume up to its maxsizebytes; never shrinks.
	ActionResize Action = "resize"
	// ActionSnapshot takes one of an app's snapshots (SnapshotConfig) of
	// each of its volumes' generations on disk.
	ActionSnapshot Action = "snapshot"
	// ActionRollback restores an app's volumes to its active snapshot.
	ActionRollback Action = "rollback"
	// ActionDeleteSnapshot removes one of an app's snapshots from each of
	// its volumes.
	ActionDeleteSnapshot Action = "delete-snapshot"

	// The storage check's fixes (package check) that no action above
	// does; each rewrites a volume file beside it and renames it over.

	// ActionRecreate re-creates a damaged volume file from its content.
	ActionRecreate Action = "recreate"
	// ActionRepairLeaks frees a qcow2's leaked clusters.
	ActionRepairLeaks Action = "repair-leaks"
	// ActionSparsify makes holes where a raw volume holds zeros.
	ActionSparsify Action = "sparsify"
	// ActionMerge collapses an overlay chain into one overlay on its blob.
	ActionMerge Action = "merge"
	// ActionFlatten rewrites an overlay as a standalone image.
	ActionFlatten Action = "flatten"
)

// Payload is what one action needs beyond the Remodel's common header:
// each action has its own payload type (actionTable says which), so a
// remodel carries exactly the pieces its action uses, and the JSON form
// decodes into the type its action names.
type Payload interface {
	// Detail is what RenderText writes in brackets after the target
	// ("" for nothing): the old generation a purge replaces, where a
	// download resumes, the file a delete removes.
	Detail(target materials.MaterialRef) string
}

// ResolvePayload is a resolve's: the tree whose tag to pin.
type ResolvePayload struct {
	ContentTree materials.ContentTree `json:"contentTree"`
}

// DownloadPayload is a download's: the blob, the tree (and so the
// datastores) it comes from, the store it goes to and where it resumes.
type DownloadPayload struct {
	ContentTree materials.ContentTree `json:"contentTree"`
	Blob        materials.Blob        `json:"blob"`
	Store       materials.BlobStore   `json:"store,omitempty"`
	// Offset is where the download resumes (bytes already written).
	Offset int64 `json:"offset,omitempty"`
	// Offer is what the datastore offers for fetching the blob as chunks
	// and what that costs given the local seeds, when a scout asked
	// before the plan was made (nil: not known, the whole blob is
	// counted).
	Offer *materials.ChunkOffer `json:"offer,omitempty"`
}

// VerifyPayload is a verify's: the blob, the store holding it, and the
// tree whose complete ingest a crash left uncommitted.
type VerifyPayload struct {
	ContentTree materials.ContentTree `json:"contentTree"`
	Blob        materials.Blob        `json:"blob"`
	Store       materials.BlobStore   `json:"store,omitempty"`
}

// AdoptPayload is an adopt's: the desired volume and the old-layout file
// it is renamed from.
type AdoptPayload struct {
	Volume materials.Volume `json:"volume"`
	// From is the old-layout file, relative to the root.
	From string `json:"path"`
}

// CreatePayload is a create's: the volume, and for one made from content
// the tree it is made of (nil for a blank volume).
type CreatePayload struct {
	Volume      materials.Volume       `json:"volume"`
	ContentTree *materials.ContentTree `json:"contentTree,omitempty"`
	// Build is how a VM volume is made from its content (nil: a full
	// copy, as before strategies were chosen).
	Build *VolumeBuild `json:"build,omitempty"`
}

// VolumeBuild is the strategy a create or purge makes a VM volume from
// content by, and why it was chosen.
type VolumeBuild struct {
	Strategy materials.Strategy `json:"strategy"`
	// Backing is the content blob a space overlay reads through (in the
	// blob directory); its format is the content tree's.
	Backing digest.Digest `json:"backing,omitempty"`
	// Why says where the choice came from (the device default, a local
	// addition) and why space fell back to a copy when it did.
	Why string `json:"why,omitempty"`
}

// Detail is the strategy and why, for a plan's text.
func (b *VolumeBuild) Detail() string {
	if b == nil {
		return ""
	}
	out := string(b.Strategy)
	if b.Strategy == materials.StrategySpace && b.Backing != "" {
		out += ": qcow2 overlay on blob " + string(b.Backing)
	}
	if b.Why != "" {
		out += "; " + b.Why
	}
	return out
}

// PurgePayload is a purge's: the new generation (as a create's), the old
// one it replaces and in which order the two happen.
type PurgePayload struct {
	Volume      materials.Volume       `json:"volume"`
	ContentTree *materials.ContentTree `json:"contentTree,omitempty"`
	// OldPath is the old generation's file relative to the root, when the
	// survey found it ("" to look it up by key).
	OldPath  string              `json:"path,omitempty"`
	Replaces materials.VolumeKey `json:"replaces"`
	Strategy PurgeStrategy       `json:"strategy,omitempty"`
	// Build is how the new generation is made (as a create's).
	Build *VolumeBuild `json:"build,omitempty"`
}

// ResizePayload is a resize's: the volume at its new maximum size and its
// file.
type ResizePayload struct {
	Volume materials.Volume `json:"volume"`
	// Path is the volume's file relative to the root ("" for the one its
	// key names).
	Path string `json:"path,omitempty"`
}

// DeletePayload is a delete's. The target says what goes: a blob (from
// Store), a volume, a containerd image record (materials.KindImage: its
// blobs are left to containerd's collector), a containerd lease
// (materials.KindLease: likewise) or a file.
type DeletePayload struct {
	// Blob is what is known of a blob to delete (its size and media type,
	// for people and programs); nil for other targets.
	Blob  *materials.Blob     `json:"blob,omitempty"`
	Store materials.BlobStore `json:"store,omitempty"`
	// Path is the file or directory to remove, relative to the root: a
	// volume's (else the one its key names), a leftover's, a blob's file.
	Path string `json:"path,omitempty"`
}

// SnapshotOf is what the three snapshot actions share: the app, its
// snapshot (both canonical uuids; the target is the KindSnapshot
// `<app>/<snapshot>`) and the volumes to act on, each at the generation
// on disk that holds (or is to hold) the snapshot.
type SnapshotOf struct {
	App      string             `json:"app"`
	Snapshot string             `json:"snapshot"`
	Volumes  []materials.Volume `json:"volumes"`
}

// Detail names the volume generations acted on.
func (s *SnapshotOf) Detail(materials.MaterialRef) string {
	if len(s.Volumes) == 0 {
		return ""
	}
	out := "of "
	for i, v := range s.Volumes {
		if i > 0 {
			out += ", "
		}
		out += v.Key().String()
	}
	return out
}

// SnapshotPayload is a snapshot's: take Snapshot of every volume. Type
// and ConfigVersion (the app's version the snapshot is of: for an
// app-update snapshot the version before the update, the last applied
// one) go into the journal's lineage record of each volume's snapshot.
type SnapshotPayload struct {
	SnapshotOf
	Type          materials.SnapshotType `json:"type,omitempty"`
	ConfigVersion string                 `json:"configVersion,omitempty"`
}

// RollbackPayload is a rollback's: restore every volume to Snapshot.
// Counter is the app's rollback_cmd.counter that asks for it and
// LastCounter the one last applied: a rollback that is not done leaves
// LastCounter in the checkpoint, so the request is not taken as acted on.
//
// From, when set, is parallel to Volumes: From[i] is the generation of
// Volumes[i]'s volume that holds the snapshot when that is not Volumes[i]
// itself (an app-update snapshot of the generation the update replaced):
// its bytes are restored into Volumes[i]. An entry with no ID restores in
// place.
type RollbackPayload struct {
	SnapshotOf
	Counter     uint32             `json:"counter"`
	LastCounter uint32             `json:"lastCounter"`
	From        []materials.Volume `json:"from,omitempty"`
	// Move, when set, is parallel to From: Move[i] says nothing but its
	// snapshots keeps From[i]'s file (a qcow2 beside Volumes[i]'s, which
	// holds none of its own), so that file is itself reverted to the
	// snapshot and renamed over Volumes[i] (device.SnapshotMover) instead
	// of copied; the snapshot, and every other internal snapshot of the
	// file, then live in Volumes[i]. Lineage are the journal's records of
	// the snapshots on those files as the plan found them: recorded again
	// on Volumes[i] before the rename, dropped from From[i] after.
	Move    []bool                      `json:"move,omitempty"`
	Lineage []materials.SnapshotLineage `json:"lineage,omitempty"`
}

// Moves reports whether Volumes[i] is rolled back by moving From[i]'s file.
func (p *RollbackPayload) Moves(i int) bool {
	return i < len(p.Move) && p.Move[i] && i < len(p.From) && p.From[i].ID != ""
}

// Detail names the volume generations restored, and where from when
// another generation holds the snapshot.
func (p *RollbackPayload) Detail(ref materials.MaterialRef) string {
	out := p.SnapshotOf.Detail(ref)
	for i, f := range p.From {
		if f.ID != "" && i < len(p.Volumes) && f.Key() != p.Volumes[i].Key() {
			out += "; " + p.Volumes[i].Key().String() + " from " + f.Key().String()
			if p.Moves(i) {
				out += " (moved)"
			}
		}
	}
	return out
}

// DeleteSnapshotPayload is a delete-snapshot's: remove Snapshot from
// every volume that holds it.
type DeleteSnapshotPayload struct{ SnapshotOf }

// ChainLink is one link of an overlay's backing chain as the survey
// followed it inside the root's stores: the executor opens exactly these
// files, never a name a header spells.
type ChainLink struct {
	// Name is the backing file name as the referring header spells it.
	Name string `json:"name"`
	// Path is the link's file relative to the root.
	Path   string           `json:"path"`
	Format materials.Format `json:"format"`
}

// VolumeFix is what the in-place volume fixes share: the volume file,
// its format, its backing chain (nearest first; none for a standalone
// image) and the id of the storage check's fix it carries out.
type VolumeFix struct {
	// Path is the volume file relative to the root.
	Path   string           `json:"path"`
	Format materials.Format `json:"format"`
	Chain  []ChainLink      `json:"chain,omitempty"`
	Fix    string           `json:"fix"`
}

// Detail names the file when the target does not.
func (f *VolumeFix) Detail(t materials.MaterialRef) string { return pathDetail(t, f.Path) }

// RecreatePayload is a recreate's: the volume generation as the last
// applied config made it, its content tree, the damaged file it replaces
// and the fix it carries out.
type RecreatePayload struct {
	Volume      materials.Volume      `json:"volume"`
	ContentTree materials.ContentTree `json:"contentTree"`
	Path        string                `json:"path"`
	Fix         string                `json:"fix"`
	// Build is how the generation is made again (nil: a full copy).
	Build *VolumeBuild `json:"build,omitempty"`
}

func (p *RecreatePayload) Detail(t materials.MaterialRef) string {
	d := pathDetail(t, p.Path)
	if b := p.Build.Detail(); b != "" {
		if d != "" {
			d += ", "
		}
		d += b
	}
	return d
}

// RepairLeaksPayload is a repair-leaks' (a qcow2, Chain empty).
type RepairLeaksPayload struct{ VolumeFix }

// SparsifyPayload is a sparsify's (a raw volume).
type SparsifyPayload struct{ VolumeFix }

// MergePayload is a merge's: Chain's last link is the blob the merged
// overlay is left on.
type MergePayload struct{ VolumeFix }

// FlattenPayload is a flatten's.
type FlattenPayload struct{ VolumeFix }

func (*ResolvePayload) Detail(materials.MaterialRef) string { return "" }

func (p *DownloadPayload) Detail(materials.MaterialRef) string {
	var parts []string
	if p.Offset > 0 {
		parts = append(parts, "resume from offset "+Bytes(p.Offset))
	}
	if p.Offer != nil {
		parts = append(parts, OfferText(p.Offer))
	}
	return strings.Join(parts, "; ")
}

// OfferText says what a chunk offer costs, e.g. "index offered: 51.2 MiB
// to fetch of 1 GiB, 820 of 16384 chunks, seeds sha256:ab…".
func OfferText(o *materials.ChunkOffer) string {
	if o.Whole {
		return "index offered, but the seeds hold too little of the blob: whole download"
	}
	s := "index offered: " + Bytes(o.FetchBytes) + " to fetch of " + Bytes(o.Size) +
		", " + strconv.Itoa(o.FetchChunks) + " of " + strconv.Itoa(o.Chunks) + " chunks"
	if len(o.Seeds) > 0 {
		seeds := make([]string, len(o.Seeds))
		for i, d := range o.Seeds {
			seeds[i] = string(d)
		}
		s += ", seeds " + strings.Join(seeds, ", ")
	}
	return s
}

// FetchBytes is what a download brings over the network: its Bytes (what
// is left of the blob), or less when a chunk offer says so.
func (p *DownloadPayload) FetchBytes(r *Remodel) int64 {
	if o := p.Offer; o != nil && !o.Whole && o.FetchBytes >= 0 && o.FetchBytes < r.Bytes {
		return o.FetchBytes
	}
	return r.Bytes
}

func (*VerifyPayload) Detail(materials.MaterialRef) string { return "" }

func (p *AdoptPayload) Detail(t materials.MaterialRef) string { return pathDetail(t, p.From) }

func (p *CreatePayload) Detail(materials.MaterialRef) string { return p.Build.Detail() }

func (p *PurgePayload) Detail(materials.MaterialRef) string {
	out := "replaces " + p.Replaces.String() + ", " + string(p.Strategy)
	if b := p.Build.Detail(); b != "" {
		out += "; " + b
	}
	return out
}

func (p *ResizePayload) Detail(t materials.MaterialRef) string { return pathDetail(t, p.Path) }

func (p *DeletePayload) Detail(t materials.MaterialRef) string { return pathDetail(t, p.Path) }

// pathDetail names a file the target's id does not already name.
func pathDetail(t materials.MaterialRef, path string) string {
	if path != "" && t.ID != path {
		return path
	}
	return ""
}

// ActionFacts are what edgewright knows of one action, declared once.
type ActionFacts struct {
	Action Action
	// Symbol marks the action in RenderText, as `terraform plan` does.
	Symbol string
	// Phrase names its count in the summary line ("2 to download").
	Phrase string
	// Destructive actions can lose data: no plan from an invalid
	// Blueprint carries them, and guards hold them.
	Destructive bool
	// ChargesDisk actions write: disk admission charges their Bytes less
	// their Reclaims against the free space, and so does the summary's
	// peak of extra disk.
	ChargesDisk bool
	// Concurrency is how many the executor runs at once by default.
	Concurrency int
	// payload makes an empty payload of the action's type.
	payload func() Payload
}

// NewPayload is an empty payload of the action's type, to decode into.
func (f ActionFacts) NewPayload() Payload { return f.payload() }

// PayloadType is the type of the action's payload (a pointer type).
func (f ActionFacts) PayloadType() reflect.Type { return reflect.TypeOf(f.payload()) }

// payloadOf makes the payload constructor of a row.
func payloadOf[T any, P interface {
	*T
	Payload
}]() Payload {
	return P(new(T))
}

// actionTable lists every action in precedence order (earlier runs first
// when nothing else orders two remodels).
var actionTable = [...]ActionFacts{
	{Action: ActionResolve, Symbol: "@", Phrase: "to resolve", Concurrency: 2, payload: payloadOf[ResolvePayload]}, // a tag pinned at a digest
	{Action: ActionDownload, Symbol: "↓", Phrase: "to download", ChargesDisk: true, Concurrency: 3, payload: payloadOf[DownloadPayload]},
	{Action: ActionVerify, Symbol: "✓", Phrase: "to verify", Concurrency: 2, payload: payloadOf[VerifyPayload]},
	// A snapshot runs before what changes the volumes it is of (its
	// DependsOn says so for an app update; precedence for the rest).
	{Action: ActionSnapshot, Symbol: "*", Phrase: "to snapshot", ChargesDisk: true, Concurrency: 2, payload: payloadOf[SnapshotPayload]},
	{Action: ActionAdopt, Symbol: ">", Phrase: "to adopt", ChargesDisk: true, Concurrency: 2, payload: payloadOf[AdoptPayload]},
	{Action: ActionCreate, Symbol: "+", Phrase: "to create", ChargesDisk: true, Concurrency: 2, payload: payloadOf[CreatePayload]},
	{Action: ActionPurge, Symbol: "~", Phrase: "to purge", Destructive: true, ChargesDisk: true, Concurrency: 2, payload: payloadOf[PurgePayload]},
	{Action: ActionResize, Symbol: "^", Phrase: "to resize", ChargesDisk: true, Concurrency: 2, payload: payloadOf[ResizePayload]}, // grow
	// A rollback writes the restored copy of a raw or container volume
	// beside it before the swap.
	{Action: ActionRollback, Symbol: "<", Phrase: "to roll back", Destructive: true, ChargesDisk: true, Concurrency: 2, payload: payloadOf[RollbackPayload]},
	{Action: ActionDeleteSnapshot, Symbol: "x", Phrase: "to delete snapshot", Destructive: true, Concurrency: 2, payload: payloadOf[DeleteSnapshotPayload]},
	// The check's fixes: each writes its file anew beside the old one.
	{Action: ActionRecreate, Symbol: "%", Phrase: "to re-create", Destructive: true, ChargesDisk: true, Concurrency: 2, payload: payloadOf[RecreatePayload]},
	{Action: ActionRepairLeaks, Symbol: "#", Phrase: "to repair", ChargesDisk: true, Concurrency: 2, payload: payloadOf[RepairLeaksPayload]},
	{Action: ActionSparsify, Symbol: "_", Phrase: "to sparsify", ChargesDisk: true, Concurrency: 2, payload: payloadOf[SparsifyPayload]},
	{Action: ActionMerge, Symbol: "&", Phrase: "to merge", ChargesDisk: true, Concurrency: 2, payload: payloadOf[MergePayload]},
	{Action: ActionFlatten, Symbol: "=", Phrase: "to flatten", ChargesDisk: true, Concurrency: 2, payload: payloadOf[FlattenPayload]},
	{Action: ActionDelete, Symbol: "-", Phrase: "to delete", Destructive: true, Concurrency: 4, payload: payloadOf[DeletePayload]},
}

// Actions lists every action in precedence order.
var Actions = func() []Action {
	out := make([]Action, len(actionTable))
	for i, f := range actionTable {
		out[i] = f.Action
	}
	return out
}()

// Facts returns the action's facts; false for an action edgewright does
// not know.
func (a Action) Facts() (ActionFacts, bool) {
	for _, f := range actionTable {
		if f.Action == a {
			return f, true
		}
	}
	return ActionFacts{}, false
}

// Precedence is the action's place in the table; unknown actions sort
// last.
func (a Action) Precedence() int {
	for i, f := range actionTable {
		if f.Action == a {
			return i
		}
	}
	return len(actionTable)
}

// Destructive reports whether the action can lose data.
func (a Action) Destructive() bool {
	f, _ := a.Facts()
	return f.Destructive
}

// ChargesDisk reports whether disk admission charges the action's bytes.
func (a Action) ChargesDisk() bool {
	f, _ := a.Facts()
	return f.ChargesDisk
}

// PayloadOf is r's payload as P, the type r's action carries; false when
// r carries another (or none).
func PayloadOf[P Payload](r *Remodel) (P, bool) {
	p, ok := r.Payload.(P)
	return p, ok
}
