package architect_test

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/edgewright/edgewright/architect"
	"github.com/edgewright/edgewright/materials"
)

// fixtureWant is what a fixture's Blueprint must hold.
type fixtureWant struct {
	contentTrees []string
	datastores   []string
	refCounts    map[string]int // volume id → refcount
}

// edenWant covers every file in ../shared/fixtures/eden (copied into
// testdata/eden so a clone without ../shared still tests them).
var edenWant = map[string]fixtureWant{
	"app-routing_app-gateway.json": {
		contentTrees: []string{"63d3b01f-f44f-4007-ba33-6e720bd52992"},
		datastores:   []string{"f204830d-cce1-4316-aa5e-3e8567cd09a9"},
		refCounts: map[string]int{
			"d8fe3e53-cc6c-4cee-8562-b406a1a8ada7": 2,
			"cee944a3-ae6f-4887-9d8d-adcc0ed02370": 2,
			"5605093b-c7cf-4beb-bb6b-14d86d39c42b": 2,
		},
	},
	"app-routing_multiple-uplinks.json": {
		contentTrees: []string{"63d3b01f-f44f-4007-ba33-6e720bd52992"},
		datastores:   []string{"f204830d-cce1-4316-aa5e-3e8567cd09a9"},
		refCounts:    map[string]int{"d8fe3e53-cc6c-4cee-8562-b406a1a8ada7": 2},
	},
	"local-ni-multiple-ports.json": {
		contentTrees: []string{"ce88f026-e73d-4b49-9163-d607e8ec7789"},
		datastores:   []string{"8e6d22d4-4890-4e0d-a574-0d2e757f951b"},
		refCounts:    map[string]int{"d507b2a1-2226-47cc-ac88-dee46077dad1": 2},
	},
	"switch-ni-multiple-ports_redundant-links.json": {
		contentTrees: []string{"63d3b01f-f44f-4007-ba33-6e720bd52992"},
		datastores:   []string{"f204830d-cce1-4316-aa5e-3e8567cd09a9"},
		refCounts:    map[string]int{"5605093b-c7cf-4beb-bb6b-14d86d39c42b": 2},
	},
}

var _ = Describe("eden fixtures", func() {
	It("has an expectation for every fixture, and testdata matches ../shared", func() {
		local, err := filepath.Glob("testdata/eden/*.json")
		Expect(err).NotTo(HaveOccurred())
		names := []string{}
		for _, p := range local {
			names = append(names, filepath.Base(p))
		}
		want := []string{}
		for n := range edenWant {
			want = append(want, n)
		}
		Expect(names).To(ConsistOf(want))

		shared, _ := filepath.Glob("../../shared/fixtures/eden/*.json")
		if len(shared) == 0 {
			Skip("../shared/fixtures/eden is not beside this clone")
		}
		for _, p := range shared {
			Expect(edenWant).To(HaveKey(filepath.Base(p)), "new fixture %s: add its expected counts", p)
			Expect(mustRead(GinkgoT(), p)).To(Equal(mustRead(GinkgoT(), filepath.Join("testdata/eden", filepath.Base(p)))))
		}
	})

	for name, want := range edenWant {
		It("draws "+name, func() {
			data := mustRead(GinkgoT(), filepath.Join("testdata/eden", name))
			cfg, err := architect.Decode(data)
			Expect(err).NotTo(HaveOccurred())
			bp := architect.Draw(cfg)
			Expect(bp.Diagnostics).To(BeEmpty())
			Expect(bp.Valid()).To(BeTrue())
			Expect(bp.Withheld).To(BeEmpty())

			Expect(bp.Volumes).To(HaveLen(len(want.refCounts)))
			got := map[string]int{}
			for _, v := range bp.Volumes {
				got[v.ID] = v.RefCount
				Expect(v.Origin).To(Equal(materials.OriginDownload))
				Expect(v.Format).To(Equal(materials.FormatContainer))
				Expect(v.Implicit).To(BeFalse(), "phase 1: the volume refs win over the drives")
				Expect(v.LegacyDrive).To(BeTrue(), "each app still names the image by a drive")
				Expect(v.Apps).To(HaveLen(1))
			}
			Expect(got).To(Equal(want.refCounts))

			trees := []string{}
			for _, t := range bp.ContentTrees {
				trees = append(trees, t.ID)
				Expect(t.Format).To(Equal(materials.FormatContainer))
				Expect(t.URL).To(HavePrefix("lfedge/eden-eclient:"))
			}
			Expect(trees).To(Equal(want.contentTrees))
			stores := []string{}
			for _, d := range bp.Datastores {
				stores = append(stores, d.ID)
				Expect(d.Type).To(Equal(materials.DatastoreContainerRegistry))
			}
			Expect(stores).To(Equal(want.datastores))
		})
	}
})

var _ = Describe("the sample config", func() {
	var bp *materials.Blueprint
	BeforeEach(func() {
		bp = architect.Draw(mustDecode(GinkgoT(), samplePath))
	})
	byID := func(id string) materials.Volume {
		for _, v := range bp.Volumes {
			if v.ID == id {
				return v
			}
		}
		Fail("no volume " + id)
		return materials.Volume{}
	}

	It("is clean and complete", func() {
		Expect(bp.Valid()).To(BeTrue())
		Expect(bp.Diagnostics).To(BeEmpty())
		Expect(bp.Epoch).To(Equal(int64(7)))
		Expect(bp.Volumes).To(HaveLen(7))
		Expect(bp.ContentTrees).To(HaveLen(4))
		Expect(bp.Datastores).To(HaveLen(2))
	})
	It("counts every app that refers to a volume, plus the config", func() {
		Expect(byID(vBlank).RefCount).To(Equal(3))
		Expect(byID(vBlank).Apps).To(Equal([]string{appUbu, "3599588a-17d3-4d02-aae1-bcefe3706cf2"}))
		Expect(byID(vRaw).RefCount).To(Equal(2))
		Expect(byID(vRaw).Generation).To(Equal(int64(1)))
	})
	It("gives each volume its on-disk format", func() {
		Expect(byID(vRaw).Format).To(Equal(materials.FormatRaw))
		Expect(byID(vQcow2).Format).To(Equal(materials.FormatQcow2))
		Expect(byID(vOCI).Format).To(Equal(materials.FormatContainer))
		Expect(byID(vBlank).Format).To(Equal(materials.FormatQcow2))
		Expect(byID(vBlank).ClearText).To(BeTrue())
		Expect(byID(vQcow2B).ReadOnly).To(BeTrue())
	})
	It("makes implicit volumes for the legacy app, generation from its purge counter", func() {
		img := byID(implicitOld)
		Expect(img.Implicit).To(BeTrue())
		Expect(img.App).To(Equal(appOld))
		Expect(img.Image).To(Equal(imgOld))
		Expect(img.Generation).To(Equal(int64(2)))
		Expect(img.Origin).To(Equal(materials.OriginDownload))
		Expect(img.ContentTree).To(Equal(imgOld))
		Expect(img.MaxSizeBytes).To(Equal(int64(2147483648)))
		Expect(img.RefCount).To(Equal(2))

		empty := byID(implicitEmpty)
		Expect(empty.Origin).To(Equal(materials.OriginBlank))
		Expect(empty.MaxSizeBytes).To(Equal(int64(536870912)))
		Expect(empty.Format).To(Equal(materials.FormatQcow2))
		Expect(empty.Generation).To(Equal(int64(2)))

		var tree *materials.ContentTree
		for i := range bp.ContentTrees {
			if bp.ContentTrees[i].ID == imgOld {
				tree = &bp.ContentTrees[i]
			}
		}
		Expect(tree).NotTo(BeNil())
		Expect(tree.Implicit).To(BeTrue())
		Expect(tree.URL).To(Equal("alpine/3.20/alpine-virt-3.20.3-x86_64.qcow2"))
		Expect(tree.SHA256).To(MatchRegexp(`^[0-9a-f]{64}$`), "upper-case hex in the config is normalised")
		Expect(tree.Datastores).To(Equal([]string{dsHTTP}))
		Expect(tree.MaxSizeBytes).To(Equal(uint64(67108864)))
	})
	It("keeps credentials out of JSON", func() {
		Expect(architect.ImplicitVolumeID(appOld, imgOld)).To(Equal(implicitOld))
		ids := []string{}
		for _, v := range bp.Volumes {
			ids = append(ids, v.ID)
		}
		Expect(sort.StringsAreSorted(ids)).To(BeTrue())
	})
})

var _ = Describe("golden transcripts", func() {
	// Each config under testdata/eden and examples/configs has its
	// Blueprint printed under testdata/golden; EDGEWRIGHT_UPDATE_GOLDEN=1
	// rewrites them after a deliberate change.
	It("prints every config's Blueprint as recorded", func() {
		for _, p := range configFiles(GinkgoT()) {
			got := renderBlueprint(architect.Load(mustRead(GinkgoT(), p)))
			golden := filepath.Join("testdata/golden", filepath.Base(p))
			if os.Getenv("EDGEWRIGHT_UPDATE_GOLDEN") == "1" {
				Expect(os.MkdirAll("testdata/golden", 0o755)).To(Succeed())
				Expect(os.WriteFile(golden, got, 0o644)).To(Succeed())
				continue
			}
			want, err := os.ReadFile(golden)
			Expect(err).NotTo(HaveOccurred(), "run with EDGEWRIGHT_UPDATE_GOLDEN=1 to record %s", golden)
			Expect(string(got)).To(Equal(string(want)), "%s differs from %s", p, golden)
		}
	})
})

func renderBlueprint(bp *materials.Blueprint) []byte {
	var buf bytes.Buffer
	enc := jsonEncoder(&buf)
	Expect(enc.Encode(bp)).To(Succeed())
	return buf.Bytes()
}
