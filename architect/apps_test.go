package architect_test

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/protobuf/proto"

	"github.com/edgewright/edgewright/architect"
	"github.com/edgewright/edgewright/foreman"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/materials/eve"
)

const appDeb = "3599588a-17d3-4d02-aae1-bcefe3706cf2" // debian-vm: first ref vQcow2, purge counter 1

func appOf(bp *materials.Blueprint, id string) *materials.App {
	for i := range bp.Apps {
		if bp.Apps[i].ID == id {
			return &bp.Apps[i]
		}
	}
	return nil
}

var _ = Describe("Apps", func() {
	var cfg *eve.EdgeDevConfig
	BeforeEach(func() {
		cfg = mustDecode(GinkgoT(), samplePath)
	})

	It("draws each volume-ref app with its refs in config order and their mount dirs", func() {
		bp := architect.Draw(cfg)
		Expect(bp.Valid()).To(BeTrue(), "%v", bp.Diagnostics)
		Expect(bp.Apps).To(Equal([]materials.App{
			{ID: appUbu, Version: "3", DisplayName: "ubuntu-vm", VolumeRefs: []materials.VolumeRef{
				{Volume: vRaw, Generation: 1, MountDir: "/"},
				{Volume: vBlank, Generation: 0, MountDir: "/data"},
			}},
			{ID: appDeb, Version: "1", DisplayName: "debian-vm", PurgeCounter: 1, VolumeRefs: []materials.VolumeRef{
				{Volume: vQcow2, Generation: 1, MountDir: "/"},
				{Volume: vQcow2B, Generation: 0, MountDir: "/ref"},
				{Volume: vBlank, Generation: 0, MountDir: "/data"},
			}},
			{ID: appNginx, Version: "2", DisplayName: "nginx", VolumeRefs: []materials.VolumeRef{
				{Volume: vOCI, Generation: 0, MountDir: "/"},
			}},
		}), "the legacy-drive app has no volume refs and is not listed")
		out, err := json.Marshal(bp)
		Expect(err).NotTo(HaveOccurred())
		var back struct {
			Apps []map[string]any `json:"apps"`
		}
		Expect(json.Unmarshal(out, &back)).To(Succeed())
		Expect(back.Apps).To(HaveLen(3))
		Expect(back.Apps[1]).To(HaveKeyWithValue("purgeCounter", BeNumerically("==", 1)))
		Expect(back.Apps[1]["volumeRefs"]).To(ContainElement(
			map[string]any{"volume": vQcow2B, "generation": float64(0), "mountDir": "/ref"}))
	})

	It("leaves out an app whose mount_dir has a control character, and keeps its volumes", func() {
		cfg.Apps[0].VolumeRefList[1].MountDir = "/da\nta"
		bp := architect.Draw(cfg)
		Expect(errorLines(bp.Diagnostics)).To(ConsistOf("apps[0].volumeRefList[1].mount_dir: mount_dir contains a control character"))
		Expect(appOf(bp, appUbu)).To(BeNil())
		Expect(appOf(bp, appDeb)).NotTo(BeNil())
		Expect(volumeOf(bp, vBlank)).NotTo(BeNil())
		Expect(volumeOf(bp, vBlank).Apps).To(ContainElement(appUbu))
	})

	It("leaves out an app one of whose refs an error kept out", func() {
		cfg.Apps[0].VolumeRefList[0].GenerationCount = 7
		bp := architect.Draw(cfg)
		Expect(errorLines(bp.Diagnostics)).To(ConsistOf("apps[0].volumeRefList[0].generationCount: generation differs from the volume's generationCount 1"))
		Expect(appOf(bp, appUbu)).To(BeNil())
	})

	// Upstream: the purge counter also re-creates the content of the first
	// volume ref. The counter is part of that volume's generation.
	DescribeTable("an app's purge counter is added to its first volume ref's generation",
		func(mutate func(c *eve.EdgeDevConfig), gen, purges int64, errs []string, genB ...int64) {
			mutate(cfg)
			bp := architect.Draw(cfg)
			Expect(errorLines(bp.Diagnostics)).To(ConsistOf(errs))
			Expect(checkConsistent(bp)).To(BeEmpty())
			v := volumeOf(bp, vQcow2)
			if gen < 0 {
				Expect(v).To(BeNil())
				Expect(bp.Withheld).To(ContainElement(volRef(vQcow2)))
				return
			}
			Expect(v).NotTo(BeNil())
			Expect(v.Generation).To(Equal(gen))
			Expect(v.AppPurges).To(Equal(purges))
			wantB := int64(0)
			if len(genB) > 0 {
				wantB = genB[0]
			}
			Expect(volumeOf(bp, vQcow2B).Generation).To(Equal(wantB), "only the first ref is purged")
			if a := appOf(bp, appDeb); a != nil {
				for _, r := range a.VolumeRefs {
					Expect(r.Generation).To(Equal(volumeOf(bp, r.Volume).Generation), "ref %s", r.Volume)
				}
			}
		},
		Entry("counter 0: the config's generation", func(c *eve.EdgeDevConfig) { c.Apps[1].Purge = nil }, int64(0), int64(0), []string{}),
		Entry("counter 1", func(c *eve.EdgeDevConfig) {}, int64(1), int64(1), []string{}),
		Entry("counter 5", func(c *eve.EdgeDevConfig) { c.Apps[1].Purge.Counter = 5 }, int64(5), int64(5), []string{}),
		Entry("on top of generationCount, which the ref still matches", func(c *eve.EdgeDevConfig) {
			c.Volumes[1].GenerationCount = 2
			c.Apps[1].VolumeRefList[0].GenerationCount = 2
			c.Apps[1].Purge.Counter = 3
		}, int64(5), int64(3), []string{}),
		Entry("not for a second ref", func(c *eve.EdgeDevConfig) {
			r := c.Apps[1].VolumeRefList
			r[0], r[1] = r[1], r[0]
		}, int64(0), int64(0), []string{}, int64(1)),
		Entry("two apps with the same first volume: both counters", func(c *eve.EdgeDevConfig) {
			other := proto.Clone(c.Apps[1]).(*eve.AppInstanceConfig)
			other.Uuidandversion.Uuid = unknown
			other.Purge.Counter = 4
			c.Apps = append(c.Apps, other)
		}, int64(5), int64(5), []string{}),
		Entry("a withheld app's purge is unknown: the volume is withheld", func(c *eve.EdgeDevConfig) {
			c.Apps[1].Uuidandversion.Uuid = "not-a-uuid"
		}, int64(-1), int64(0), []string{
			"apps[1].uuidandversion.uuid: not a UUID",
			"apps[1].purge.counter: the app is withheld, so its purge of the first volume ref " + vQcow2 + " is unknown: the volume is withheld",
		}),
		Entry("an overflowing generation is an error", func(c *eve.EdgeDevConfig) {
			c.Volumes[1].GenerationCount = math.MaxInt64
			c.Apps[1].VolumeRefList[0].GenerationCount = math.MaxInt64
		}, int64(-1), int64(0), []string{
			"volumes/" + vQcow2 + ": generationCount plus the apps' purge counters (1) overflows",
		}),
	)

	It("is level-triggered: the same config draws the same generation every time", func() {
		cfg.Apps[1].Purge.Counter = 2
		a := architect.Draw(cfg)
		b := architect.Draw(proto.Clone(cfg).(*eve.EdgeDevConfig))
		Expect(volumeOf(a, vQcow2).Generation).To(Equal(int64(2)))
		Expect(a).To(Equal(b))
	})
})

var _ = Describe("an app's purge counter through the foreman", func() {
	const vol = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f13"
	config := func(counter int) []byte {
		return []byte(fmt.Sprintf(`{"volumes": [
  {"uuid": %q, "origin": {"type": "VCOT_BLANK"}, "generationCount": "1", "maxsizebytes": "1048576"}],
 "apps": [{"uuidandversion": {"uuid": %q, "version": "1"}, "purge": {"counter": %d},
   "volumeRefList": [{"uuid": %q, "generationCount": "1", "mount_dir": "/"}]}]}`, vol, appUbu, counter, vol))
	}
	// A device holding generation 1, the config's generationCount.
	fp := func() *materials.Floorplan {
		return &materials.Floorplan{Root: "/persist-root", Volumes: []materials.VolumeFile{{
			ID: vol, Generation: 1, Format: materials.FormatQcow2, Path: "persist/vault/volumes/" + vol + "#1.qcow2",
			VirtualSize: 1048576, State: materials.StateComplete,
		}}}
	}
	plan := func(bp *materials.Blueprint) []string {
		Expect(bp.Valid()).To(BeTrue(), "%v", bp.Diagnostics)
		p := foreman.Plan(bp, fp(), foreman.Options{Now: time.Unix(0, 0)})
		out := []string{}
		for _, r := range p.Remodels {
			out = append(out, string(r.Action)+" "+r.Target.String())
		}
		return out
	}

	It("re-creates an explicit first volume when the counter goes up, and leaves it alone otherwise", func() {
		Expect(plan(architect.Load(config(0)))).To(BeEmpty())
		Expect(plan(architect.Load(config(1)))).To(Equal([]string{"purge-generation volume " + vol + "#2"}))
	})
})
