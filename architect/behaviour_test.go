package architect_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/protobuf/proto"

	"github.com/edgewright/edgewright/architect"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/materials/eve"
)

// warningLines renders the warnings as "path: message".
func warningLines(ds materials.Diagnostics) []string {
	out := []string{}
	for _, d := range ds {
		if d.Severity == materials.SeverityWarning {
			out = append(out, d.Path+": "+d.Message)
		}
	}
	return out
}

func volumeOf(bp *materials.Blueprint, id string) *materials.Volume {
	for i := range bp.Volumes {
		if bp.Volumes[i].ID == id {
			return &bp.Volumes[i]
		}
	}
	return nil
}

var _ = Describe("Draw", func() {
	var cfg *eve.EdgeDevConfig
	BeforeEach(func() {
		cfg = mustDecode(GinkgoT(), samplePath)
	})

	DescribeTable("phase 1: the volume refs win, disagreeing drives are warnings",
		func(mutate func(a *eve.AppInstanceConfig), want []string) {
			mutate(cfg.Apps[2]) // nginx: one drive, one volume ref
			bp := architect.Draw(cfg)
			Expect(bp.Valid()).To(BeTrue(), "warnings do not block: %v", bp.Diagnostics)
			Expect(warningLines(bp.Diagnostics)).To(ConsistOf(want))
			v := volumeOf(bp, vOCI)
			Expect(v).NotTo(BeNil())
			Expect(v.Implicit).To(BeFalse())
			Expect(v.RefCount).To(Equal(2))
			Expect(volumeOf(bp, architect.ImplicitVolumeID(appNginx, "d65c67dc-f251-4b93-9d53-f1f84a92ea8b"))).To(BeNil(),
				"no implicit volume for a drive of a phase-1 app")
		},
		Entry("agreeing drive", func(a *eve.AppInstanceConfig) {}, []string{}),
		Entry("other image name", func(a *eve.AppInstanceConfig) { a.Drives[0].Image.Name = "library/nginx:1.26" },
			[]string{`apps[2].drives[0].image.name: drive image name differs from the referenced volume's content tree URL "library/nginx:1.27-alpine"`}),
		Entry("other format", func(a *eve.AppInstanceConfig) { a.Drives[0].Image.Iformat = eve.Format_QCOW2 },
			[]string{"apps[2].drives[0].image.iformat: drive image format differs from the referenced volume's content tree format container"}),
		Entry("readonly drive", func(a *eve.AppInstanceConfig) { a.Drives[0].Readonly = true },
			[]string{"apps[2].drives[0].readonly: drive readonly differs from the referenced volume's readonly false"}),
		Entry("HDD_EMPTY against a download volume", func(a *eve.AppInstanceConfig) { a.Drives[0].Drvtype = eve.DriveType_HDD_EMPTY },
			[]string{"apps[2].drives[0].drvtype: drive is HDD_EMPTY but the referenced volume is not blank"}),
		Entry("more drives than refs", func(a *eve.AppInstanceConfig) {
			a.Drives = append(a.Drives, proto.Clone(a.Drives[0]).(*eve.Drive))
		}, []string{"apps[2].drives: 2 drives but 1 volume refs; the volume refs win"}),
		Entry("bad image in a phase-1 drive is not an error", func(a *eve.AppInstanceConfig) { a.Drives[0].Image.Name = "../x" },
			[]string{`apps[2].drives[0].image.name: drive image name differs from the referenced volume's content tree URL "library/nginx:1.27-alpine"`}),
	)

	It("marks a phase-1 volume LegacyDrive only when its drive names the same kind of content", func() {
		bp := architect.Draw(cfg)
		Expect(volumeOf(bp, vOCI).LegacyDrive).To(BeTrue())
		Expect(volumeOf(bp, vRaw).LegacyDrive).To(BeFalse())
		cfg.Apps[2].Drives[0].Drvtype = eve.DriveType_HDD_EMPTY
		bp = architect.Draw(cfg)
		Expect(volumeOf(bp, vOCI).LegacyDrive).To(BeFalse())
	})

	It("gives one content tree to an image several legacy apps share", func() {
		other := proto.Clone(cfg.Apps[3]).(*eve.AppInstanceConfig)
		other.Uuidandversion.Uuid = unknown
		other.Purge = nil
		cfg.Apps = append(cfg.Apps, other)
		bp := architect.Draw(cfg)
		Expect(bp.Valid()).To(BeTrue(), "%v", bp.Diagnostics)
		n := 0
		for _, t := range bp.ContentTrees {
			if t.ID == imgOld {
				n++
			}
		}
		Expect(n).To(Equal(1))
		a, b := volumeOf(bp, implicitOld), volumeOf(bp, architect.ImplicitVolumeID(unknown, imgOld))
		Expect(a).NotTo(BeNil())
		Expect(b).NotTo(BeNil())
		Expect(a.ID).NotTo(Equal(b.ID))
		Expect(a.Generation).To(Equal(int64(2)))
		Expect(b.Generation).To(Equal(int64(0)), "generation is each app's own purge counter")
		Expect(b.ContentTree).To(Equal(imgOld))
	})

	It("lets an explicit content tree win over a legacy image with the same uuid", func() {
		cfg.Apps[3].Drives[0].Image.Uuidandversion.Uuid = ctQcow2
		bp := architect.Draw(cfg)
		Expect(bp.Valid()).To(BeTrue())
		Expect(warningLines(bp.Diagnostics)).To(ConsistOf(
			"apps[3].drives[0].image.name: image uuid names the content tree at contentInfo[1] whose URL differs; the content tree wins"))
		v := volumeOf(bp, architect.ImplicitVolumeID(appOld, ctQcow2))
		Expect(v).NotTo(BeNil())
		Expect(v.ContentTree).To(Equal(ctQcow2))
		for _, t := range bp.ContentTrees {
			if t.ID == ctQcow2 {
				Expect(t.Implicit).To(BeFalse())
			}
		}
	})

	It("keeps a content tree whose other datastore stands, with a warning", func() {
		cfg.Datastores = append(cfg.Datastores, &eve.DatastoreConfig{Id: dsExtra, DType: eve.DsType(42), Fqdn: "store.example"})
		cfg.ContentInfo[1].DsIdsList = []string{dsExtra, dsHTTP}
		bp := architect.Draw(cfg)
		Expect(errorLines(bp.Diagnostics)).To(ConsistOf("datastores[2].dType: unknown datastore type 42"))
		Expect(warningLines(bp.Diagnostics)).To(ConsistOf(
			"contentInfo[1].ds_ids_list[0]: datastore is withheld; the content tree uses its other datastores"))
		Expect(bp.Withheld).To(ConsistOf(dsRef(dsExtra)))
		for _, t := range bp.ContentTrees {
			if t.ID == ctQcow2 {
				Expect(t.Datastores).To(Equal([]string{dsHTTP}))
			}
		}
	})

	It("warns about a VM image without sha256 on an HTTP datastore, not about an OCI tag", func() {
		cfg.ContentInfo[0].Sha256 = ""
		bp := architect.Draw(cfg)
		Expect(bp.Valid()).To(BeTrue())
		Expect(warningLines(bp.Diagnostics)).To(ConsistOf("contentInfo[0].sha256: no sha256: the download cannot be verified"))
		Expect(volumeOf(bp, vRaw)).NotTo(BeNil())
	})

	It("keeps datastores in the order of preference", func() {
		cfg.ContentInfo[1].DsIdsList = []string{dsReg, dsHTTP}
		bp := architect.Draw(cfg)
		for _, t := range bp.ContentTrees {
			if t.ID == ctQcow2 {
				Expect(t.Datastores).To(Equal([]string{dsReg, dsHTTP}))
			}
		}
	})

	It("gives a volume no app refers to a refcount of 1", func() {
		cfg.Apps = cfg.Apps[2:]
		bp := architect.Draw(cfg)
		v := volumeOf(bp, vBlank)
		Expect(v).NotTo(BeNil())
		Expect(v.RefCount).To(Equal(1))
		Expect(v.Apps).To(BeEmpty())
	})

	It("converts other VM formats to qcow2 volumes", func() {
		cfg.ContentInfo[0].Iformat = eve.Format_VMDK
		bp := architect.Draw(cfg)
		Expect(volumeOf(bp, vRaw).Format).To(Equal(materials.FormatQcow2))
		for _, t := range bp.ContentTrees {
			if t.ID == ctRaw {
				Expect(t.Format).To(Equal(materials.FormatVMDK))
			}
		}
	})

	It("takes the digest of a pinned container reference", func() {
		cfg.ContentInfo[2].URL = "library/nginx@sha256:" + sha64a
		bp := architect.Draw(cfg)
		Expect(bp.Valid()).To(BeTrue())
		for _, t := range bp.ContentTrees {
			if t.ID == ctOCI {
				Expect(t.SHA256).To(Equal(sha64a))
				Expect(string(t.Digest())).To(Equal("sha256:" + sha64a))
			}
		}
	})

	It("normalises upper-case ids and matches references across case", func() {
		cfg.Volumes[0].Uuid = "7D1F0C2A-9E3B-4D5C-8A6F-1B2C3D4E5F10"
		bp := architect.Draw(cfg)
		Expect(bp.Valid()).To(BeTrue())
		Expect(volumeOf(bp, vRaw)).NotTo(BeNil())
		Expect(volumeOf(bp, vRaw).RefCount).To(Equal(2))
	})

	It("is deterministic", func() {
		a, b := architect.Draw(cfg), architect.Draw(proto.Clone(cfg).(*eve.EdgeDevConfig))
		Expect(a).To(Equal(b))
		Expect(checkSorted(a)).To(BeEmpty())
		Expect(checkConsistent(a)).To(BeEmpty())
	})
})
