package architect_test

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/edgewright/edgewright/architect"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/materials/eve"
)

const (
	snapA = "5a0e0000-0000-4000-8000-00000000000a"
	snapB = "5a0e0000-0000-4000-8000-00000000000b"
	snapC = "5a0e0000-0000-4000-8000-00000000000c"
)

func snapRef(app, id string) materials.MaterialRef {
	return materials.MaterialRef{Kind: materials.KindSnapshot, ID: materials.SnapshotRefID(app, id)}
}

func warnLines(ds materials.Diagnostics) []string {
	out := []string{}
	for _, d := range ds {
		if d.Severity == materials.SeverityWarning {
			out = append(out, d.Path+": "+d.Message)
		}
	}
	return out
}

func desc(id string, t eve.SnapshotType) *eve.SnapshotDesc {
	return &eve.SnapshotDesc{Id: id, Type: t}
}

const (
	upd = eve.SnapshotType_SNAPSHOT_TYPE_APP_UPDATE
	imm = eve.SnapshotType_SNAPSHOT_TYPE_IMMEDIATE
)

// ubuRefs are appUbu's volume refs in the sample: what its snapshots cover.
var ubuRefs = []materials.VolumeRef{{Volume: vRaw, Generation: 1, MountDir: "/"}, {Volume: vBlank, Generation: 0, MountDir: "/data"}}

var _ = Describe("Snapshots", func() {
	type snapCase struct {
		sc       *eve.SnapshotConfig // on apps[0], ubuntu-vm
		mutate   func(c *eve.EdgeDevConfig)
		errs     []string
		warns    []string
		snaps    []string // "id type [active]"
		withheld []materials.MaterialRef
		// The app's drawn fields (unused when the app is left out).
		active           string
		counter, max     uint32
		rollbackWithheld bool
		appGone          bool
	}
	P := "apps[0].snapshot"
	DescribeTable("decodes an app's SnapshotConfig into snapshots and the app's rollback fields",
		func(c snapCase) {
			cfg := mustDecode(GinkgoT(), samplePath)
			cfg.Apps[0].Snapshot = c.sc
			if c.mutate != nil {
				c.mutate(cfg)
			}
			bp := architect.Draw(cfg)
			Expect(errorLines(bp.Diagnostics)).To(ConsistOf(c.errs))
			if c.warns != nil {
				Expect(warnLines(bp.Diagnostics)).To(ContainElements(c.warns))
			}
			Expect(checkSorted(bp)).To(BeEmpty())
			Expect(checkConsistent(bp)).To(BeEmpty())
			got := []string{}
			for _, s := range bp.Snapshots {
				Expect(s.App).To(Equal(appUbu))
				Expect(s.Volumes).To(Equal(ubuRefs))
				line := s.ID + " " + string(s.Type)
				if s.Active {
					line += " active"
				}
				got = append(got, line)
			}
			Expect(got).To(Equal(append([]string{}, c.snaps...)))
			for _, w := range c.withheld {
				Expect(bp.Withheld).To(ContainElement(w))
			}
			snapWithheld := 0
			for _, w := range bp.Withheld {
				if w.Kind == materials.KindSnapshot {
					snapWithheld++
				}
			}
			Expect(snapWithheld).To(Equal(len(c.withheld)), "withheld: %v", bp.Withheld)
			a := appOf(bp, appUbu)
			if c.appGone {
				Expect(a).To(BeNil())
				return
			}
			Expect(a).NotTo(BeNil())
			Expect(a.ActiveSnapshot).To(Equal(c.active))
			Expect(a.RollbackCounter).To(Equal(c.counter))
			Expect(a.MaxSnapshots).To(Equal(c.max))
			Expect(a.RollbackWithheld).To(Equal(c.rollbackWithheld))
		},
		Entry("no SnapshotConfig: nothing", snapCase{errs: []string{}, snaps: nil}),
		Entry("two snapshots, one active, rollback counter 3", snapCase{
			sc: &eve.SnapshotConfig{ActiveSnapshot: snapB, RollbackCmd: &eve.InstanceOpsCmd{Counter: 3}, MaxSnapshots: 2,
				Snapshots: []*eve.SnapshotDesc{desc(snapB, upd), desc(snapA, imm)}},
			errs:   []string{},
			snaps:  []string{snapA + " immediate", snapB + " app-update active"},
			active: snapB, counter: 3, max: 2,
		}),
		Entry("ids in upper case are canonicalised, the active one too", snapCase{
			sc: &eve.SnapshotConfig{ActiveSnapshot: "5A0E0000-0000-4000-8000-00000000000A", MaxSnapshots: 1,
				Snapshots: []*eve.SnapshotDesc{desc("5A0E0000-0000-4000-8000-00000000000A", imm)}},
			errs:   []string{},
			snaps:  []string{snapA + " immediate active"},
			active: snapA, max: 1,
		}),
		Entry("more snapshots than max_snapshots is the foreman's trim, not an error", snapCase{
			sc:    &eve.SnapshotConfig{MaxSnapshots: 1, Snapshots: []*eve.SnapshotDesc{desc(snapA, imm), desc(snapB, imm)}},
			errs:  []string{},
			snaps: []string{snapA + " immediate", snapB + " immediate"},
			max:   1,
		}),
		Entry("an id that is not a UUID is withheld; the others stand", snapCase{
			sc:       &eve.SnapshotConfig{MaxSnapshots: 3, Snapshots: []*eve.SnapshotDesc{desc("snap-1", imm), desc(snapA, imm)}},
			errs:     []string{P + ".snapshots[0].id: not a UUID"},
			snaps:    []string{snapA + " immediate"},
			withheld: []materials.MaterialRef{snapRef(appUbu, "snap-1")},
			max:      3,
		}),
		Entry("an empty id", snapCase{
			sc:    &eve.SnapshotConfig{MaxSnapshots: 3, Snapshots: []*eve.SnapshotDesc{desc("", imm), desc(snapA, upd)}},
			errs:  []string{P + ".snapshots[0].id: snapshot id is empty: not a UUID"},
			snaps: []string{snapA + " app-update"},
			max:   3,
		}),
		Entry("the nil UUID", snapCase{
			sc:    &eve.SnapshotConfig{MaxSnapshots: 3, Snapshots: []*eve.SnapshotDesc{desc("00000000-0000-0000-0000-000000000000", imm)}},
			errs:  []string{P + ".snapshots[0].id: the nil UUID is not an id"},
			snaps: nil, withheld: []materials.MaterialRef{snapRef(appUbu, "00000000-0000-0000-0000-000000000000")},
			max: 3,
		}),
		Entry("a duplicate id withholds every definition", snapCase{
			sc: &eve.SnapshotConfig{MaxSnapshots: 3, Snapshots: []*eve.SnapshotDesc{
				desc(snapA, imm), desc(snapB, imm), desc("5A0E0000-0000-4000-8000-00000000000A", upd)}},
			errs:     []string{P + ".snapshots[2].id: duplicate snapshot id (also at snapshots[0]); every definition is withheld"},
			snaps:    []string{snapB + " immediate"},
			withheld: []materials.MaterialRef{snapRef(appUbu, snapA)},
			max:      3,
		}),
		Entry("type UNSPECIFIED: nothing says when to take it", snapCase{
			sc:       &eve.SnapshotConfig{MaxSnapshots: 3, Snapshots: []*eve.SnapshotDesc{desc(snapA, eve.SnapshotType_SNAPSHOT_TYPE_UNSPECIFIED)}},
			errs:     []string{P + ".snapshots[0].type: snapshot type is not set: nothing says when to take it"},
			withheld: []materials.MaterialRef{snapRef(appUbu, snapA)},
			max:      3,
		}),
		Entry("a type number EVE does not have", snapCase{
			sc:       &eve.SnapshotConfig{MaxSnapshots: 3, Snapshots: []*eve.SnapshotDesc{desc(snapA, eve.SnapshotType(7))}},
			errs:     []string{P + ".snapshots[0].type: unknown snapshot type"},
			withheld: []materials.MaterialRef{snapRef(appUbu, snapA)},
			max:      3,
		}),
		Entry("max_snapshots 0 with snapshots listed: none taken or deleted", snapCase{
			sc:               &eve.SnapshotConfig{ActiveSnapshot: snapA, Snapshots: []*eve.SnapshotDesc{desc(snapA, imm), desc(snapB, upd)}},
			errs:             []string{P + ".max_snapshots: max_snapshots is 0 but 2 snapshots are listed: none is taken or deleted"},
			withheld:         []materials.MaterialRef{snapRef(appUbu, snapA), snapRef(appUbu, snapB)},
			rollbackWithheld: true,
		}),
		Entry("max_snapshots 0 and no snapshots: fine", snapCase{
			sc: &eve.SnapshotConfig{}, errs: []string{},
		}),
		Entry("an active snapshot that is not listed", snapCase{
			sc: &eve.SnapshotConfig{ActiveSnapshot: snapC, RollbackCmd: &eve.InstanceOpsCmd{Counter: 1}, MaxSnapshots: 1,
				Snapshots: []*eve.SnapshotDesc{desc(snapA, imm)}},
			errs:    []string{P + ".active_snapshot: no snapshot with this id in snapshots"},
			snaps:   []string{snapA + " immediate"},
			counter: 1, max: 1, rollbackWithheld: true,
		}),
		Entry("an active snapshot that is not a UUID", snapCase{
			sc: &eve.SnapshotConfig{ActiveSnapshot: "latest", MaxSnapshots: 1,
				Snapshots: []*eve.SnapshotDesc{desc(snapA, imm)}},
			errs:  []string{P + ".active_snapshot: not a UUID"},
			snaps: []string{snapA + " immediate"},
			max:   1, rollbackWithheld: true,
		}),
		Entry("an active snapshot that is listed but withheld: no second error, no rollback", snapCase{
			sc: &eve.SnapshotConfig{ActiveSnapshot: snapA, RollbackCmd: &eve.InstanceOpsCmd{Counter: 2}, MaxSnapshots: 2,
				Snapshots: []*eve.SnapshotDesc{desc(snapA, eve.SnapshotType_SNAPSHOT_TYPE_UNSPECIFIED), desc(snapB, imm)}},
			errs:     []string{P + ".snapshots[0].type: snapshot type is not set: nothing says when to take it"},
			snaps:    []string{snapB + " immediate"},
			withheld: []materials.MaterialRef{snapRef(appUbu, snapA)},
			counter:  2, max: 2, rollbackWithheld: true,
		}),
		Entry("a rollback counter with nothing to roll back to is a warning (the config cannot tell an increase)", snapCase{
			sc:      &eve.SnapshotConfig{RollbackCmd: &eve.InstanceOpsCmd{Counter: 4}, MaxSnapshots: 1, Snapshots: []*eve.SnapshotDesc{desc(snapA, imm)}},
			errs:    []string{},
			warns:   []string{P + ".rollback_cmd.counter: no active_snapshot: a rollback asked by an increase of the counter has nothing to roll back to"},
			snaps:   []string{snapA + " immediate"},
			counter: 4, max: 1,
		}),
		Entry("an app left out by a ref error withholds its snapshots", snapCase{
			sc:       &eve.SnapshotConfig{MaxSnapshots: 2, Snapshots: []*eve.SnapshotDesc{desc(snapA, imm), desc(snapB, upd)}},
			mutate:   func(c *eve.EdgeDevConfig) { c.Apps[0].VolumeRefList[0].GenerationCount = 7 },
			errs:     []string{"apps[0].volumeRefList[0].generationCount: generation differs from the volume's generationCount 1"},
			withheld: []materials.MaterialRef{snapRef(appUbu, snapA), snapRef(appUbu, snapB)},
			appGone:  true,
		}),
		Entry("a withheld app withholds its snapshots under its raw id", snapCase{
			sc:       &eve.SnapshotConfig{MaxSnapshots: 2, Snapshots: []*eve.SnapshotDesc{desc(snapA, imm)}},
			mutate:   func(c *eve.EdgeDevConfig) { c.Apps[0].Uuidandversion.Uuid = "ubuntu" },
			errs:     []string{"apps[0].uuidandversion.uuid: not a UUID"},
			withheld: []materials.MaterialRef{snapRef("ubuntu", snapA)},
			appGone:  true,
		}),
		Entry("an app whose volume is withheld later (purge overflow) withholds its snapshots", snapCase{
			sc: &eve.SnapshotConfig{MaxSnapshots: 2, Snapshots: []*eve.SnapshotDesc{desc(snapA, imm)}},
			mutate: func(c *eve.EdgeDevConfig) {
				c.Volumes[0].GenerationCount = 1<<63 - 1
				c.Apps[0].VolumeRefList[0].GenerationCount = 1<<63 - 1
				c.Apps[0].Purge = &eve.InstanceOpsCmd{Counter: 1}
			},
			errs:     []string{"volumes/" + vRaw + ": generationCount plus the apps' purge counters (1) overflows"},
			withheld: []materials.MaterialRef{snapRef(appUbu, snapA)},
			appGone:  true,
		}),
	)

	It("warns that a legacy-drive app's snapshots are ignored", func() {
		cfg := mustDecode(GinkgoT(), samplePath)
		var legacy *eve.AppInstanceConfig
		for _, a := range cfg.Apps {
			if len(a.VolumeRefList) == 0 && len(a.Drives) > 0 {
				legacy = a
			}
		}
		Expect(legacy).NotTo(BeNil())
		legacy.Snapshot = &eve.SnapshotConfig{MaxSnapshots: 1, Snapshots: []*eve.SnapshotDesc{desc(snapA, imm)}}
		bp := architect.Draw(cfg)
		Expect(errorLines(bp.Diagnostics)).To(BeEmpty())
		Expect(warnLines(bp.Diagnostics)).To(ContainElement(MatchRegexp(`^apps\[\d\]\.snapshot: snapshots of an app with legacy drives \(no volume refs\) are not supported: ignored$`)))
		Expect(bp.Snapshots).To(BeEmpty())
	})

	// The wire, written by hand with EVE's field numbers (AppInstanceConfig
	// field 22, SnapshotConfig 1..4, SnapshotDesc 1..2, InstanceOpsCmd
	// counter 2) rather than by our generated code, so a wrong number in
	// our schema cannot pass.
	It("decodes EVE's binary wire by field number", func() {
		var sd []byte
		sd = protowire.AppendTag(sd, 1, protowire.BytesType)
		sd = protowire.AppendString(sd, snapA)
		sd = protowire.AppendTag(sd, 2, protowire.VarintType)
		sd = protowire.AppendVarint(sd, 1) // APP_UPDATE
		var ops []byte
		ops = protowire.AppendTag(ops, 2, protowire.VarintType)
		ops = protowire.AppendVarint(ops, 9)
		var sc []byte
		sc = protowire.AppendTag(sc, 1, protowire.BytesType)
		sc = protowire.AppendString(sc, snapA)
		sc = protowire.AppendTag(sc, 2, protowire.BytesType)
		sc = protowire.AppendBytes(sc, ops)
		sc = protowire.AppendTag(sc, 3, protowire.VarintType)
		sc = protowire.AppendVarint(sc, 5)
		sc = protowire.AppendTag(sc, 4, protowire.BytesType)
		sc = protowire.AppendBytes(sc, sd)
		cfg := mustDecode(GinkgoT(), samplePath)
		app, err := proto.Marshal(cfg.Apps[0])
		Expect(err).NotTo(HaveOccurred())
		app = protowire.AppendTag(app, 22, protowire.BytesType)
		app = protowire.AppendBytes(app, sc)
		var got eve.AppInstanceConfig
		Expect(proto.Unmarshal(app, &got)).To(Succeed())
		Expect(got.ProtoReflect().GetUnknown()).To(BeEmpty())
		cfg.Apps[0] = &got
		bp := architect.Draw(cfg)
		Expect(bp.Valid()).To(BeTrue(), "%v", bp.Diagnostics)
		Expect(bp.Snapshots).To(Equal([]materials.Snapshot{{App: appUbu, ID: snapA, Type: materials.SnapshotAppUpdate, Volumes: ubuRefs, Active: true}}))
		a := appOf(bp, appUbu)
		Expect([]any{a.ActiveSnapshot, a.RollbackCounter, a.MaxSnapshots}).To(Equal([]any{snapA, uint32(9), uint32(5)}))
	})

	It("decodes proto-JSON in EVE's names without an unknown-field warning", func() {
		data := []byte(fmt.Sprintf(`{"volumes": [
  {"uuid": %q, "origin": {"type": "VCOT_BLANK"}, "generationCount": "1", "maxsizebytes": "1048576"}],
 "apps": [{"uuidandversion": {"uuid": %q, "version": "1"},
   "volumeRefList": [{"uuid": %q, "generationCount": "1"}],
   "snapshot": {"activeSnapshot": %q, "rollback_cmd": {"counter": 1}, "maxSnapshots": 2,
     "snapshots": [{"id": %q, "type": "SNAPSHOT_TYPE_IMMEDIATE"}, {"id": %q, "type": "SNAPSHOT_TYPE_APP_UPDATE"}]}}]}`,
			vBlank, appUbu, vBlank, snapB, snapA, snapB))
		bp := architect.Load(data)
		Expect(bp.Diagnostics).To(BeEmpty())
		Expect(bp.Snapshots).To(HaveLen(2))
		Expect(bp.Snapshots[0]).To(Equal(materials.Snapshot{App: appUbu, ID: snapA, Type: materials.SnapshotImmediate, Index: 0,
			Volumes: []materials.VolumeRef{{Volume: vBlank, Generation: 1}}}))
		Expect(bp.Snapshots[1].Active).To(BeTrue())
		Expect(bp.Snapshots[1].Index).To(Equal(1))
		Expect(appOf(bp, appUbu).RollbackCounter).To(Equal(uint32(1)))
	})
})
