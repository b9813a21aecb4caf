package reporter

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/materials/eve"
)

// IOCounters are a volume's read/write counters, which only the hypervisor
// knows; the caller passes them in and they are carried into ZMetricVolume.
type IOCounters struct {
	ReadBytes, WriteBytes, ReadCount, WriteCount uint64
}

// Inputs are what one report is built from.
type Inputs struct {
	// Blueprint is what is wanted: display names, sizes, refcounts, the
	// volumes not made yet. Nil reports only what exists.
	Blueprint *materials.Blueprint
	// Floorplan is what exists; its Journal gives usage history.
	Floorplan *materials.Floorplan
	// Live follows a running apply; nil outside one.
	Live *Tracker
	// Failures are errors known from elsewhere (the journal's last apply).
	Failures []Failure
	// IO are read/write counters per volume uuid.
	IO map[string]IOCounters
}

// Report is one set of messages, each slice in a fixed order (volumes by
// uuid then generation, trees by uuid, blobs by digest, metrics by uuid).
type Report struct {
	Volumes      []*eve.ZInfoVolume
	ContentTrees []*eve.ZInfoContentTree
	Blobs        []*eve.ZInfoBlob
	Metrics      []*eve.ZMetricVolume
}

// blobInfo is one blob's state as the report sees it.
type blobInfo struct {
	state       eve.ZSwState
	done, known int64
	size        int64
	present     bool
	record      *materials.BlobRecord
	failure     *Failure
}

type builder struct {
	in       Inputs
	live     *view
	files    map[string][]*materials.VolumeFile // by VolumeKey string
	blobs    map[digest.Digest]*materials.BlobRecord
	usage    map[materials.MaterialRef]materials.Usage
	latches  map[string]*materials.TagLatch // tree id#generation
	dss      []materials.Datastore
	failures map[materials.MaterialRef]*Failure
	desired  map[string]*materials.Volume
	trees    map[string]*materials.ContentTree
	// treeDone/treeKnown/treeState are filled as trees are built, for the
	// volumes made from them.
	treeState map[string]treeInfo
}

type treeInfo struct {
	state       eve.ZSwState
	done, known int64
	failure     *Failure
	components  []digest.Digest
}

// Build makes the report. It reads only its inputs.
func Build(in Inputs) *Report {
	b := &builder{
		in:        in,
		live:      in.Live.view(),
		files:     map[string][]*materials.VolumeFile{},
		blobs:     map[digest.Digest]*materials.BlobRecord{},
		usage:     map[materials.MaterialRef]materials.Usage{},
		latches:   map[string]*materials.TagLatch{},
		failures:  map[materials.MaterialRef]*Failure{},
		desired:   map[string]*materials.Volume{},
		trees:     map[string]*materials.ContentTree{},
		treeState: map[string]treeInfo{},
	}
	if fp := in.Floorplan; fp != nil {
		for i := range fp.Volumes {
			f := &fp.Volumes[i]
			if f.ID == "" || f.Legacy != nil || f.State == materials.StateUnknown {
				continue
			}
			b.files[f.Key().String()] = append(b.files[f.Key().String()], f)
		}
		for i := range fp.Blobs {
			r := &fp.Blobs[i]
			// One message per digest: a complete copy beats a partial one.
			if old, ok := b.blobs[r.Digest]; !ok || (old.State != materials.StateComplete && r.State == materials.StateComplete) {
				b.blobs[r.Digest] = r
			}
		}
		if j := fp.Journal; j != nil {
			for _, u := range j.Usage {
				b.usage[u.Target] = u
			}
			for i := range j.Latches {
				l := &j.Latches[i]
				b.latches[l.ContentTree+"#"+itoa(l.Generation)] = l
			}
		}
	}
	for i := range in.Failures {
		b.failures[in.Failures[i].Target] = &in.Failures[i]
	}
	if bp := in.Blueprint; bp != nil {
		b.dss = bp.Datastores
		for i := range bp.Volumes {
			b.desired[bp.Volumes[i].Key().String()] = &bp.Volumes[i]
		}
		for i := range bp.ContentTrees {
			b.trees[bp.ContentTrees[i].ID] = &bp.ContentTrees[i]
		}
	}
	rep := &Report{}
	rep.ContentTrees = b.contentTrees()
	rep.Blobs = b.blobMessages()
	rep.Volumes, rep.Metrics = b.volumes()
	return rep
}

func (b *builder) blob(d digest.Digest) blobInfo {
	ref := materials.MaterialRef{Kind: materials.KindBlob, ID: string(d)}
	if b.live.gone[ref] {
		return blobInfo{}
	}
	rec := b.blobs[d]
	info := blobInfo{record: rec}
	if rec != nil {
		info.present = true
		switch rec.State {
		case materials.StateComplete:
			info.state, info.size, info.done, info.known = eve.ZSwState_LOADED, rec.Size, rec.Size, rec.Size
		case materials.StateBroken:
			info.state, info.size = eve.ZSwState_ERROR, rec.Size
			info.failure = &Failure{Target: ref, Description: "blob is damaged: " + rec.Reason, RetryCondition: "deleted and fetched again at the next reconcile"}
		default:
			info.state, info.size, info.done, info.known = eve.ZSwState_DOWNLOAD_STARTED, rec.Offset, rec.Offset, rec.Size
		}
	}
	if l, ok := b.live.blobs[d]; ok {
		info.present = true
		info.state, info.failure = l.state, l.failure
		info.done, info.known = max(l.done, 0), max(l.known, l.done)
		if info.size < info.done {
			info.size = info.done
		}
	}
	if f := b.failures[ref]; f != nil && info.state != eve.ZSwState_LOADED {
		info.state, info.failure = eve.ZSwState_ERROR, f
	}
	if info.state == eve.ZSwState_INVALID {
		info.state = eve.ZSwState_INITIAL
	}
	return info
}

// top is the tree's top blob by materials.TopDigest, the rule the
// foreman plans by: a latch made for another URL of the same generation
// names no top.
func (b *builder) top(t *materials.ContentTree) digest.Digest {
	return materials.TopDigest(t, materials.IsOCI(t, b.dss), b.latches[t.ID+"#"+itoa(t.Generation)])
}

// components walks the tree from its top blob through the children the
// inspector found (manifests, configs, layers), then adds any blob the
// tracker saw downloaded for the tree.
func (b *builder) components(t *materials.ContentTree) []digest.Digest {
	var out []digest.Digest
	seen := map[digest.Digest]bool{}
	queue := []digest.Digest{}
	if top := b.top(t); top != "" {
		queue = append(queue, top)
	} else if tb := b.live.treeBlobs[t.ID]; len(tb) > 0 {
		queue = append(queue, tb...)
	}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		if seen[d] {
			continue
		}
		seen[d] = true
		out = append(out, d)
		if r := b.blobs[d]; r != nil {
			queue = append(queue, r.Children...)
		}
	}
	for _, d := range b.live.treeBlobs[t.ID] {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// awaitsChildren reports whether a loaded blob is an OCI index or manifest
// whose children are not known yet: its tree is not loaded until they are.
func awaitsChildren(t *materials.ContentTree, info blobInfo) bool {
	if info.record != nil {
		if len(info.record.Children) > 0 {
			return false
		}
		mt := info.record.MediaType
		if mt != "" {
			return strings.Contains(mt, "manifest") || strings.Contains(mt, "index")
		}
	}
	// A container tree's top blob is always an index or a manifest.
	return t.Format == materials.FormatContainer
}

func (b *builder) tree(t *materials.ContentTree) treeInfo {
	if ti, ok := b.treeState[t.ID]; ok {
		return ti
	}
	ref := materials.MaterialRef{Kind: materials.KindContentTree, ID: t.ID}
	ti := treeInfo{state: eve.ZSwState_INITIAL, components: b.components(t)}
	if l, ok := b.live.trees[t.ID]; ok {
		ti.state, ti.failure = l.state, l.failure
	}
	if len(ti.components) > 0 && ti.state != eve.ZSwState_ERROR {
		lowest := eve.ZSwState_INVALID
		for i, d := range ti.components {
			info := b.blob(d)
			ti.done += info.done
			ti.known += info.known
			st := info.state
			if i == 0 && st == eve.ZSwState_LOADED && awaitsChildren(t, info) {
				st = eve.ZSwState_LOADING
			}
			if st == eve.ZSwState_ERROR {
				ti.failure = info.failure
			}
			if lowest == eve.ZSwState_INVALID || rank(st) < rank(lowest) || st == eve.ZSwState_ERROR {
				lowest = st
			}
			if lowest == eve.ZSwState_ERROR {
				break
			}
		}
		// A tree whose blobs have not started keeps its resolve state.
		if !(lowest == eve.ZSwState_INITIAL && rank(ti.state) > rank(lowest)) {
			ti.state = lowest
		}
	}
	if f := b.failures[ref]; f != nil && ti.state != eve.ZSwState_LOADED {
		ti.state, ti.failure = eve.ZSwState_ERROR, f
	}
	b.treeState[t.ID] = ti
	return ti
}

func (b *builder) contentTrees() []*eve.ZInfoContentTree {
	if b.in.Blueprint == nil {
		return nil
	}
	refs := map[string]uint32{}
	for _, v := range b.in.Blueprint.Volumes {
		if v.ContentTree != "" {
			refs[v.ContentTree]++
		}
	}
	var out []*eve.ZInfoContentTree
	for i := range b.in.Blueprint.ContentTrees {
		t := &b.in.Blueprint.ContentTrees[i]
		ti := b.tree(t)
		ref := materials.MaterialRef{Kind: materials.KindContentTree, ID: t.ID}
		m := &eve.ZInfoContentTree{
			Uuid:            t.ID,
			DisplayName:     t.DisplayName,
			State:           ti.state,
			GenerationCount: t.Generation,
		}
		if top := b.top(t); top != "" {
			m.Sha256 = top.Encoded()
		}
		var cur int64
		for _, d := range ti.components {
			m.ComponentShaList = append(m.ComponentShaList, d.Encoded())
			if info := b.blob(d); info.present {
				cur += info.size
			}
		}
		m.Resources = &eve.ContentResources{CurSizeBytes: uint64(max(cur, 0))}
		m.ProgressPercentage = b.in.Live.monotone("c/"+t.ID, percent(ti.state == eve.ZSwState_LOADED, ti.done, ti.known))
		m.Usage = b.usageInfo(ref, refs[t.ID], time.Time{})
		m.Err = errorInfo(ti.failure)
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Uuid < out[j].Uuid })
	return out
}

func (b *builder) blobMessages() []*eve.ZInfoBlob {
	refs := map[digest.Digest]uint32{}
	all := map[digest.Digest]bool{}
	// The journal keeps no history of its own for blobs: a blob's count
	// last went up when the newest of the trees it belongs to first
	// appeared in a checkpoint.
	changed := map[digest.Digest]time.Time{}
	if b.in.Blueprint != nil {
		for i := range b.in.Blueprint.ContentTrees {
			t := &b.in.Blueprint.ContentTrees[i]
			h := b.usage[materials.MaterialRef{Kind: materials.KindContentTree, ID: t.ID}]
			for _, d := range b.tree(t).components {
				refs[d]++
				all[d] = true
				if h.CreateTime.After(changed[d]) {
					changed[d] = h.CreateTime
				}
			}
		}
	}
	for d, n := range overlayRefs(b.in.Floorplan) {
		refs[d] += n
		all[d] = true
	}
	for d := range b.blobs {
		all[d] = true
	}
	for d := range b.live.blobs {
		all[d] = true
	}
	ds := make([]digest.Digest, 0, len(all))
	for d := range all {
		if !b.live.gone[materials.MaterialRef{Kind: materials.KindBlob, ID: string(d)}] {
			ds = append(ds, d)
		}
	}
	sortDigests(ds)
	out := make([]*eve.ZInfoBlob, 0, len(ds))
	for _, d := range ds {
		info := b.blob(d)
		var created time.Time
		if info.record != nil {
			created = info.record.CreatedAt
		}
		u := b.usageInfo(materials.MaterialRef{Kind: materials.KindBlob, ID: string(d)}, refs[d], created)
		if u.LastRefcountChangeTime == nil && !changed[d].IsZero() {
			u.LastRefcountChangeTime = timestamppb.New(changed[d])
		}
		out = append(out, &eve.ZInfoBlob{
			Sha256:             d.Encoded(),
			Resources:          &eve.ContentResources{CurSizeBytes: uint64(max(info.size, 0))},
			Usage:              u,
			State:              info.state,
			ProgressPercentage: b.in.Live.monotone("b/"+string(d), percent(info.state == eve.ZSwState_LOADED, info.done, info.known)),
			Err:                errorInfo(info.failure),
		})
	}
	return out
}

// volumes builds ZInfoVolume for every wanted generation and every
// generation on disk (both while a purge runs), and ZMetricVolume for the
// newest generation on disk of each volume.
func (b *builder) volumes() ([]*eve.ZInfoVolume, []*eve.ZMetricVolume) {
	keys := map[string]materials.VolumeKey{}
	for k, v := range b.desired {
		keys[k] = v.Key()
	}
	for k, fs := range b.files {
		keys[k] = fs[0].Key()
	}
	for k := range b.live.volumes {
		if key, err := materials.ParseVolumeKey(k); err == nil {
			keys[k] = key
		}
	}
	list := make([]materials.VolumeKey, 0, len(keys))
	for k, key := range keys {
		if !b.live.gone[materials.MaterialRef{Kind: materials.KindVolume, ID: k}] {
			list = append(list, key)
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Less(list[j]) })

	var infos []*eve.ZInfoVolume
	newest := map[string]*materials.VolumeFile{}
	for _, key := range list {
		k := key.String()
		v := b.desired[k]
		file := b.finalFile(k)
		if file != nil && file.State == materials.StateComplete {
			if n := newest[key.ID]; n == nil || n.Generation < file.Generation {
				newest[key.ID] = file
			}
		}
		ref := materials.MaterialRef{Kind: materials.KindVolume, ID: k}
		state, done, known, failure := b.volumeState(k, v, file)
		m := &eve.ZInfoVolume{
			Uuid:            key.ID,
			State:           state,
			GenerationCount: key.Generation,
			VolumeErr:       errorInfo(failure),
		}
		res := &eve.VolumeResources{}
		var refs uint32
		var created time.Time
		if v != nil {
			m.DisplayName = v.DisplayName
			res.MaxSizeBytes = uint64(max(v.MaxSizeBytes, 0))
			refs = uint32(max(v.RefCount, 0))
		}
		if file != nil {
			if res.MaxSizeBytes == 0 && !file.Dir {
				res.MaxSizeBytes = uint64(max(file.VirtualSize, 0))
			}
			res.CurSizeBytes = uint64(max(file.AllocatedSize, 0))
			created = file.ModTime
		}
		m.Resources = res
		m.Usage = b.usageInfo(ref, refs, created)
		m.ProgressPercentage = b.in.Live.monotone("v/"+k, percent(state == eve.ZSwState_CREATED_VOLUME, done, known))
		infos = append(infos, m)
	}

	ids := make([]string, 0, len(newest))
	for id := range newest {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var metrics []*eve.ZMetricVolume
	for _, id := range ids {
		metrics = append(metrics, b.metric(newest[id]))
	}
	return infos, metrics
}

// finalFile is the volume at its final path, or its work in progress.
func (b *builder) finalFile(k string) *materials.VolumeFile {
	var tmp *materials.VolumeFile
	for _, f := range b.files[k] {
		if !f.Temp {
			return f
		}
		tmp = f
	}
	return tmp
}

func (b *builder) volumeState(k string, v *materials.Volume, file *materials.VolumeFile) (eve.ZSwState, int64, int64, *Failure) {
	ref := materials.MaterialRef{Kind: materials.KindVolume, ID: k}
	if l, ok := b.live.volumes[k]; ok && l.state != eve.ZSwState_INVALID {
		done, known := l.done, max(l.known, l.done)
		if v != nil && v.Origin == materials.OriginDownload && l.state != eve.ZSwState_ERROR {
			// Honest bytes for the whole way: the content fetched plus the
			// volume written (as much as the content until the craft
			// says how much it will write).
			if t := b.trees[v.ContentTree]; t != nil {
				ti := b.tree(t)
				if known == 0 {
					known = ti.known
				}
				done, known = done+ti.done, known+ti.known
			}
		}
		return l.state, done, known, l.failure
	}
	if f := b.failures[ref]; f != nil {
		return eve.ZSwState_ERROR, 0, 0, f
	}
	if file != nil {
		switch {
		case file.State == materials.StateBroken:
			return eve.ZSwState_ERROR, 0, 0, &Failure{Target: ref, Description: "volume is damaged: " + file.Reason, RetryCondition: "left alone: reported, not deleted, unless clean-up is asked"}
		case file.Temp || file.State == materials.StatePartial:
			return eve.ZSwState_CREATING_VOLUME, 0, 0, nil
		default:
			return eve.ZSwState_CREATED_VOLUME, 1, 1, nil
		}
	}
	if v == nil || v.Origin != materials.OriginDownload {
		return eve.ZSwState_INITIAL, 0, 0, nil
	}
	t := b.trees[v.ContentTree]
	if t == nil {
		return eve.ZSwState_INITIAL, 0, 0, nil
	}
	ti := b.tree(t)
	// Until it is created, the volume shows its content's progress, with
	// the bytes still to write counted as known.
	return ti.state, ti.done, ti.known + ti.known, ti.failure
}

// metric gives a volume's space figures in the sense each kind has: a
// directory volume the file system it lives on, a qcow2 how full it is
// against its virtual size, a raw file its allocation against its size.
func (b *builder) metric(f *materials.VolumeFile) *eve.ZMetricVolume {
	m := &eve.ZMetricVolume{Uuid: f.ID}
	if v := b.desired[f.Key().String()]; v != nil {
		m.DisplayName = v.DisplayName
	}
	used := uint64(max(f.AllocatedSize, 0))
	if f.Dir {
		var space materials.Space
		if b.in.Floorplan != nil {
			space = b.in.Floorplan.Space
		}
		m.TotalBytes, m.FreeBytes = space.TotalBytes, space.FreeBytes
		m.UsedBytes = used
	} else {
		m.TotalBytes = uint64(max(f.VirtualSize, 0))
		m.UsedBytes = used
		if m.TotalBytes > used {
			m.FreeBytes = m.TotalBytes - used
		}
	}
	if io, ok := b.in.IO[f.ID]; ok {
		m.ReadBytes, m.WriteBytes, m.ReadCount, m.WriteCount = io.ReadBytes, io.WriteBytes, io.ReadCount, io.WriteCount
	}
	return m
}

// usageInfo prefers the journal's history (kept across restarts) and
// falls back on what the disk says for the create time.
func (b *builder) usageInfo(ref materials.MaterialRef, refs uint32, created time.Time) *eve.UsageInfo {
	u := &eve.UsageInfo{RefCount: refs}
	h, ok := b.usage[ref]
	if ok && !h.CreateTime.IsZero() {
		created = h.CreateTime
	}
	if !created.IsZero() {
		u.CreateTime = timestamppb.New(created)
	}
	if ok && !h.LastRefcountChange.IsZero() {
		u.LastRefcountChangeTime = timestamppb.New(h.LastRefcountChange)
	}
	return u
}

func errorInfo(f *Failure) *eve.ErrorInfo {
	if f == nil {
		return nil
	}
	e := &eve.ErrorInfo{Description: f.Description, Severity: eve.Severity_SEVERITY_ERROR, RetryCondition: f.RetryCondition}
	if !f.At.IsZero() {
		e.Timestamp = timestamppb.New(f.At)
	}
	return e
}

// percent is bytes done over bytes known, 100 only once done: a transfer
// whose last byte is in but which is not committed yet shows 99.
func percent(finished bool, done, known int64) uint32 {
	if finished {
		return 100
	}
	if known <= 0 || done <= 0 {
		return 0
	}
	p := done * 100 / known
	if p > 99 {
		p = 99
	}
	return uint32(p)
}

func sortDigests(ds []digest.Digest) {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
