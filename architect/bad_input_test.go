package architect_test

import (
	"math"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/protobuf/proto"

	"github.com/edgewright/edgewright/architect"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/materials/eve"
)

// Ids in examples/configs/sample.json.
const (
	dsHTTP   = "5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d11"
	dsReg    = "8e6d22d4-4890-4e0d-a574-0d2e757f951b"
	ctRaw    = "0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e01"
	ctQcow2  = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e02"
	ctOCI    = "2e4f6a8c-0b1d-4e3f-9a5b-7c9d1e3f5a03"
	vRaw     = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f10"
	vQcow2   = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f11"
	vOCI     = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f12"
	vBlank   = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f13"
	vQcow2B  = "7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f14"
	appUbu   = "3599588a-17d3-4d02-aae1-bcefe3706cf1"
	appNginx = "3599588a-17d3-4d02-aae1-bcefe3706cf3"
	appOld   = "3599588a-17d3-4d02-aae1-bcefe3706cf4"
	imgOld   = "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a51"
	imgEmpty = "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a52"
	unknown  = "00c0ffee-0000-4000-8000-000000000001"
	dsExtra  = "00c0ffee-0000-4000-8000-0000000000d5"
)

var (
	sha64a = strings.Repeat("a", 64)
	sha64b = strings.Repeat("b", 64)
)

func dsRef(id string) materials.MaterialRef {
	return materials.MaterialRef{Kind: materials.KindDatastore, ID: id}
}
func treeRef(id string) materials.MaterialRef {
	return materials.MaterialRef{Kind: materials.KindContentTree, ID: id}
}
func volRef(id string) materials.MaterialRef {
	return materials.MaterialRef{Kind: materials.KindVolume, ID: id}
}
func appRef(id string) materials.MaterialRef {
	return materials.MaterialRef{Kind: materials.KindApp, ID: id}
}

// implicitOld is the implicit volume of the legacy app's image drive.
var implicitOld = architect.ImplicitVolumeID(appOld, imgOld)
var implicitEmpty = architect.ImplicitVolumeID(appOld, imgEmpty)

// badCase mutates the sample config and says exactly which errors must
// result ("path: message"), which materials must be withheld, and which
// sample materials the mutation itself renamed away.
type badCase struct {
	mutate   func(c *eve.EdgeDevConfig)
	errs     []string
	withheld []materials.MaterialRef
	gone     []string
}

func extraDatastore(t eve.DsType) func(c *eve.EdgeDevConfig) {
	return func(c *eve.EdgeDevConfig) {
		c.Datastores = append(c.Datastores, &eve.DatastoreConfig{Id: dsExtra, DType: t, Fqdn: "storage.example.net"})
	}
}

func setURL(i int, u string) func(c *eve.EdgeDevConfig) {
	return func(c *eve.EdgeDevConfig) { c.ContentInfo[i].URL = u }
}

var _ = Describe("Draw on bad input", func() {
	var sample *eve.EdgeDevConfig
	var baseline *materials.Blueprint

	BeforeEach(func() {
		sample = mustDecode(GinkgoT(), samplePath)
		baseline = architect.Draw(sample)
		Expect(baseline.Valid()).To(BeTrue(), "the sample must be clean: %v", baseline.Diagnostics)
		Expect(baseline.Withheld).To(BeEmpty())
	})

	DescribeTable("reports each problem and withholds only what it concerns",
		func(bc badCase) {
			cfg := proto.Clone(sample).(*eve.EdgeDevConfig)
			bc.mutate(cfg)
			var bp *materials.Blueprint
			Expect(func() { bp = architect.Draw(cfg) }).NotTo(Panic())

			// The specific diagnostics, path and message, and no others.
			Expect(errorLines(bp.Diagnostics)).To(ConsistOf(bc.errs))
			Expect(bp.Complete).To(BeTrue())
			Expect(bp.Valid()).To(BeFalse())

			// Exactly the concerned materials are withheld ...
			want := bc.withheld
			if want == nil {
				want = []materials.MaterialRef{}
			}
			got := bp.Withheld
			if got == nil {
				got = []materials.MaterialRef{}
			}
			Expect(got).To(ConsistOf(want))

			// ... and every other material of the sample survives.
			withheld := map[materials.MaterialRef]bool{}
			for _, w := range bp.Withheld {
				withheld[w] = true
			}
			gone := map[string]bool{}
			for _, g := range bc.gone {
				gone[g] = true
			}
			has := func(kind materials.MaterialKind, id string) bool {
				switch kind {
				case materials.KindDatastore:
					for _, d := range bp.Datastores {
						if d.ID == id {
							return true
						}
					}
				case materials.KindContentTree:
					for _, t := range bp.ContentTrees {
						if t.ID == id {
							return true
						}
					}
				case materials.KindVolume:
					for _, v := range bp.Volumes {
						if v.ID == id {
							return true
						}
					}
				}
				return false
			}
			expectSurvives := func(kind materials.MaterialKind, id string) {
				ref := materials.MaterialRef{Kind: kind, ID: id}
				if withheld[ref] || gone[id] {
					Expect(has(kind, id)).To(BeFalse(), "%s is withheld or gone but stands", ref)
					return
				}
				Expect(has(kind, id)).To(BeTrue(), "%s should survive", ref)
			}
			for _, d := range baseline.Datastores {
				expectSurvives(materials.KindDatastore, d.ID)
			}
			for _, t := range baseline.ContentTrees {
				expectSurvives(materials.KindContentTree, t.ID)
			}
			for _, v := range baseline.Volumes {
				expectSurvives(materials.KindVolume, v.ID)
			}
			Expect(checkSorted(bp)).To(BeEmpty())
			Expect(checkConsistent(bp)).To(BeEmpty())
		},

		// Datastores.
		Entry("datastore type unknown, withholds the trees that need only it", badCase{
			mutate: func(c *eve.EdgeDevConfig) { c.Datastores[1].DType = eve.DsType(43) },
			errs: []string{
				"datastores[1].dType: unknown datastore type 43",
				"contentInfo[2].dsId: datastore is withheld",
				"volumes[3].origin.downloadContentTreeID: content tree is withheld",
			},
			withheld: []materials.MaterialRef{dsRef(dsReg), treeRef(ctOCI), volRef(vOCI)},
		}),
		Entry("datastore type unknown", badCase{
			mutate:   extraDatastore(eve.DsType(42)),
			errs:     []string{"datastores[2].dType: unknown datastore type 42"},
			withheld: []materials.MaterialRef{dsRef(dsExtra)},
		}),
		Entry("datastore type not set", badCase{
			mutate:   extraDatastore(eve.DsType_DsUnknown),
			errs:     []string{"datastores[2].dType: datastore type is not set (DsUnknown)"},
			withheld: []materials.MaterialRef{dsRef(dsExtra)},
		}),
		Entry("duplicate datastore id", badCase{
			mutate: func(c *eve.EdgeDevConfig) {
				c.Datastores = append(c.Datastores, proto.Clone(c.Datastores[1]).(*eve.DatastoreConfig))
			},
			errs: []string{
				"datastores[2].id: duplicate datastore id (also at datastores[1]); every definition is withheld",
				"contentInfo[2].dsId: datastore is withheld",
				"volumes[3].origin.downloadContentTreeID: content tree is withheld",
			},
			withheld: []materials.MaterialRef{dsRef(dsReg), treeRef(ctOCI), volRef(vOCI)},
		}),
		Entry("datastore id not a UUID", badCase{
			mutate: func(c *eve.EdgeDevConfig) {
				c.Datastores = append(c.Datastores, &eve.DatastoreConfig{Id: "ds-1", DType: eve.DsType_DsHttp, Fqdn: "x.example"})
			},
			errs:     []string{"datastores[2].id: not a UUID"},
			withheld: []materials.MaterialRef{dsRef("ds-1")},
		}),
		Entry("datastore id the nil UUID", badCase{
			mutate: func(c *eve.EdgeDevConfig) {
				c.Datastores = append(c.Datastores, &eve.DatastoreConfig{Id: "00000000-0000-0000-0000-000000000000", DType: eve.DsType_DsHttp, Fqdn: "x.example"})
			},
			errs:     []string{"datastores[2].id: the nil UUID is not an id"},
			withheld: []materials.MaterialRef{dsRef("00000000-0000-0000-0000-000000000000")},
		}),
		Entry("datastore without fqdn", badCase{
			mutate: func(c *eve.EdgeDevConfig) {
				c.Datastores = append(c.Datastores, &eve.DatastoreConfig{Id: dsExtra, DType: eve.DsType_DsHttps})
			},
			errs:     []string{"datastores[2].fqdn: empty fqdn"},
			withheld: []materials.MaterialRef{dsRef(dsExtra)},
		}),

		Entry("s3 datastore without a bucket", badCase{
			mutate: func(c *eve.EdgeDevConfig) {
				c.Datastores = append(c.Datastores, &eve.DatastoreConfig{Id: dsExtra, DType: eve.DsType_DsS3, Fqdn: "s3.example.net", Dpath: " / "})
			},
			errs:     []string{"datastores[2].dpath: s3 datastore needs its bucket as the first element of dpath"},
			withheld: []materials.MaterialRef{dsRef(dsExtra)},
		}),
		Entry("azure datastore without a container", badCase{
			mutate:   extraDatastore(eve.DsType_DsAzureBlob),
			errs:     []string{"datastores[2].dpath: azure-blob datastore needs its container as the first element of dpath"},
			withheld: []materials.MaterialRef{dsRef(dsExtra)},
		}),
		Entry("google storage datastore without a bucket", badCase{
			mutate:   extraDatastore(eve.DsType_DsGoogleStorage),
			errs:     []string{"datastores[2].dpath: google-storage datastore needs its bucket as the first element of dpath"},
			withheld: []materials.MaterialRef{dsRef(dsExtra)},
		}),
		Entry("sftp datastore without a user", badCase{
			mutate:   extraDatastore(eve.DsType_DsSFTP),
			errs:     []string{"datastores[2].apiKey: sftp datastore needs the user to log in as in apiKey"},
			withheld: []materials.MaterialRef{dsRef(dsExtra)},
		}),
		// Content trees.
		Entry("content tree id not a UUID", badCase{
			mutate: func(c *eve.EdgeDevConfig) { c.ContentInfo[0].Uuid = "ubuntu" },
			errs: []string{
				"contentInfo[0].uuid: not a UUID",
				"volumes[0].origin.downloadContentTreeID: no content tree with this id",
			},
			withheld: []materials.MaterialRef{treeRef("ubuntu"), volRef(vRaw)},
			gone:     []string{ctRaw},
		}),
		Entry("duplicate content tree id", badCase{
			mutate: func(c *eve.EdgeDevConfig) { c.ContentInfo[2].Uuid = ctQcow2 },
			errs: []string{
				"contentInfo[2].uuid: duplicate content tree id (also at contentInfo[1]); every definition is withheld",
				"volumes[1].origin.downloadContentTreeID: content tree is withheld",
				"volumes[2].origin.downloadContentTreeID: content tree is withheld",
				// contentInfo[2] was ctOCI's definition: it is gone.
				"volumes[3].origin.downloadContentTreeID: no content tree with this id",
			},
			withheld: []materials.MaterialRef{treeRef(ctQcow2), volRef(vQcow2), volRef(vQcow2B), volRef(vOCI)},
			gone:     []string{ctOCI},
		}),
		Entry("content tree names a missing datastore", badCase{
			mutate: func(c *eve.EdgeDevConfig) { c.ContentInfo[0].DsId = unknown },
			errs: []string{
				"contentInfo[0].dsId: no datastore with this id",
				"volumes[0].origin.downloadContentTreeID: content tree is withheld",
			},
			withheld: []materials.MaterialRef{treeRef(ctRaw), volRef(vRaw)},
		}),
		Entry("content tree ds_ids_list names a missing datastore", badCase{
			mutate: func(c *eve.EdgeDevConfig) { c.ContentInfo[1].DsIdsList = append(c.ContentInfo[1].DsIdsList, unknown) },
			errs: []string{
				"contentInfo[1].ds_ids_list[1]: no datastore with this id",
				"volumes[1].origin.downloadContentTreeID: content tree is withheld",
				"volumes[2].origin.downloadContentTreeID: content tree is withheld",
			},
			withheld: []materials.MaterialRef{treeRef(ctQcow2), volRef(vQcow2), volRef(vQcow2B)},
		}),
		Entry("content tree names no datastore", badCase{
			mutate: func(c *eve.EdgeDevConfig) { c.ContentInfo[0].DsId = "" },
			errs: []string{
				"contentInfo[0].dsId: content tree names no datastore",
				"volumes[0].origin.downloadContentTreeID: content tree is withheld",
			},
			withheld: []materials.MaterialRef{treeRef(ctRaw), volRef(vRaw)},
		}),
		Entry("sha256 of 63 characters", badCase{
			mutate: func(c *eve.EdgeDevConfig) { c.ContentInfo[0].Sha256 = sha64a[:63] },
			errs: []string{
				"contentInfo[0].sha256: sha256 must be 64 hex characters",
				"volumes[0].origin.downloadContentTreeID: content tree is withheld",
			},
			withheld: []materials.MaterialRef{treeRef(ctRaw), volRef(vRaw)},
		}),
		Entry("sha256 not hex", badCase{
			mutate: func(c *eve.EdgeDevConfig) { c.ContentInfo[1].Sha256 = strings.Repeat("g", 64) },
			errs: []string{
				"contentInfo[1].sha256: sha256 must be 64 hex characters",
				"volumes[1].origin.downloadContentTreeID: content tree is withheld",
				"volumes[2].origin.downloadContentTreeID: content tree is withheld",
			},
			withheld: []materials.MaterialRef{treeRef(ctQcow2), volRef(vQcow2), volRef(vQcow2B)},
		}),
		Entry("URL with a .. segment", badCase{
			mutate:   setURL(0, "ubuntu/../../../etc/shadow"),
			errs:     []string{"contentInfo[0].URL: URL has a .. segment that could escape its datastore", "volumes[0].origin.downloadContentTreeID: content tree is withheld"},
			withheld: []materials.MaterialRef{treeRef(ctRaw), volRef(vRaw)},
		}),
		Entry("URL with a backslash .. segment", badCase{
			mutate:   setURL(0, `ubuntu\..\..\secrets`),
			errs:     []string{"contentInfo[0].URL: URL has a .. segment that could escape its datastore", "volumes[0].origin.downloadContentTreeID: content tree is withheld"},
			withheld: []materials.MaterialRef{treeRef(ctRaw), volRef(vRaw)},
		}),
		Entry("URL with a percent-encoded .. segment", badCase{
			mutate:   setURL(0, "ubuntu/%2e%2E/%2e%2e/x.img"),
			errs:     []string{"contentInfo[0].URL: URL has a percent-encoded segment that could escape its datastore", "volumes[0].origin.downloadContentTreeID: content tree is withheld"},
			withheld: []materials.MaterialRef{treeRef(ctRaw), volRef(vRaw)},
		}),
		Entry("absolute URL", badCase{
			mutate:   setURL(0, "/etc/passwd"),
			errs:     []string{"contentInfo[0].URL: URL is an absolute path; it must be relative to its datastore", "volumes[0].origin.downloadContentTreeID: content tree is withheld"},
			withheld: []materials.MaterialRef{treeRef(ctRaw), volRef(vRaw)},
		}),
		Entry("URL with its own scheme and host", badCase{
			mutate:   setURL(0, "http://evil.example/x.img"),
			errs:     []string{"contentInfo[0].URL: URL names its own scheme and host; it must be relative to its datastore", "volumes[0].origin.downloadContentTreeID: content tree is withheld"},
			withheld: []materials.MaterialRef{treeRef(ctRaw), volRef(vRaw)},
		}),
		Entry("URL with NUL", badCase{
			mutate:   setURL(0, "ubuntu/x.img\x00.txt"),
			errs:     []string{"contentInfo[0].URL: URL contains NUL", "volumes[0].origin.downloadContentTreeID: content tree is withheld"},
			withheld: []materials.MaterialRef{treeRef(ctRaw), volRef(vRaw)},
		}),
		Entry("URL with a control character", badCase{
			mutate:   setURL(0, "ubuntu/x.img\r\nHost: evil"),
			errs:     []string{"contentInfo[0].URL: URL contains a control character", "volumes[0].origin.downloadContentTreeID: content tree is withheld"},
			withheld: []materials.MaterialRef{treeRef(ctRaw), volRef(vRaw)},
		}),
		Entry("empty URL", badCase{
			mutate:   setURL(0, ""),
			errs:     []string{"contentInfo[0].URL: empty URL", "volumes[0].origin.downloadContentTreeID: content tree is withheld"},
			withheld: []materials.MaterialRef{treeRef(ctRaw), volRef(vRaw)},
		}),
		Entry("container reference without tag or digest", badCase{
			mutate:   setURL(2, "library/nginx"),
			errs:     []string{"contentInfo[2].URL: container reference has neither tag nor digest; want repo:tag or repo@sha256:<64 hex>", "volumes[3].origin.downloadContentTreeID: content tree is withheld"},
			withheld: []materials.MaterialRef{treeRef(ctOCI), volRef(vOCI)},
		}),
		Entry("container reference with a short digest", badCase{
			mutate:   setURL(2, "library/nginx@sha256:abc"),
			errs:     []string{"contentInfo[2].URL: container reference digest must be sha256:<64 lower-case hex>; want repo:tag or repo@sha256:<64 hex>", "volumes[3].origin.downloadContentTreeID: content tree is withheld"},
			withheld: []materials.MaterialRef{treeRef(ctOCI), volRef(vOCI)},
		}),
		Entry("container reference with an upper-case repository", badCase{
			mutate:   setURL(2, "Library/NGINX:1"),
			errs:     []string{"contentInfo[2].URL: container reference has a malformed repository name; want repo:tag or repo@sha256:<64 hex>", "volumes[3].origin.downloadContentTreeID: content tree is withheld"},
			withheld: []materials.MaterialRef{treeRef(ctOCI), volRef(vOCI)},
		}),
		Entry("sha256 disagrees with the pinned digest", badCase{
			mutate: func(c *eve.EdgeDevConfig) {
				c.ContentInfo[2].URL = "library/nginx@sha256:" + sha64a
				c.ContentInfo[2].Sha256 = sha64b
			},
			errs:     []string{"contentInfo[2].sha256: sha256 differs from the digest in URL", "volumes[3].origin.downloadContentTreeID: content tree is withheld"},
			withheld: []materials.MaterialRef{treeRef(ctOCI), volRef(vOCI)},
		}),
		Entry("format not set", badCase{
			mutate:   func(c *eve.EdgeDevConfig) { c.ContentInfo[0].Iformat = eve.Format_FmtUnknown },
			errs:     []string{"contentInfo[0].iformat: format is not set (FmtUnknown)", "volumes[0].origin.downloadContentTreeID: content tree is withheld"},
			withheld: []materials.MaterialRef{treeRef(ctRaw), volRef(vRaw)},
		}),
		Entry("format unknown", badCase{
			mutate:   func(c *eve.EdgeDevConfig) { c.ContentInfo[0].Iformat = eve.Format(77) },
			errs:     []string{"contentInfo[0].iformat: unknown format 77", "volumes[0].origin.downloadContentTreeID: content tree is withheld"},
			withheld: []materials.MaterialRef{treeRef(ctRaw), volRef(vRaw)},
		}),
		Entry("content tree size that is a negative number written unsigned", badCase{
			mutate:   func(c *eve.EdgeDevConfig) { c.ContentInfo[0].MaxSizeBytes = math.MaxUint64 },
			errs:     []string{"contentInfo[0].maxSizeBytes: size is negative or out of range (more than 2^63-1)", "volumes[0].origin.downloadContentTreeID: content tree is withheld"},
			withheld: []materials.MaterialRef{treeRef(ctRaw), volRef(vRaw)},
		}),
		Entry("content tree negative generation", badCase{
			mutate:   func(c *eve.EdgeDevConfig) { c.ContentInfo[0].GenerationCount = -1 },
			errs:     []string{"contentInfo[0].generation_count: negative generation", "volumes[0].origin.downloadContentTreeID: content tree is withheld"},
			withheld: []materials.MaterialRef{treeRef(ctRaw), volRef(vRaw)},
		}),

		// Volumes.
		Entry("volume id not a UUID", badCase{
			mutate: func(c *eve.EdgeDevConfig) { c.Volumes[4].Uuid = "shared-data" },
			errs: []string{
				"volumes[4].uuid: not a UUID",
				"apps[0].volumeRefList[1].uuid: no volume with this id",
				"apps[1].volumeRefList[2].uuid: no volume with this id",
			},
			withheld: []materials.MaterialRef{volRef("shared-data")},
			gone:     []string{vBlank},
		}),
		Entry("duplicate volume id", badCase{
			mutate: func(c *eve.EdgeDevConfig) { c.Volumes[2].Uuid = vQcow2 },
			errs: []string{
				"volumes[2].uuid: duplicate volume id (also at volumes[1]); every definition is withheld",
				"apps[1].volumeRefList[1].uuid: no volume with this id",
			},
			withheld: []materials.MaterialRef{volRef(vQcow2)},
			gone:     []string{vQcow2B},
		}),
		Entry("volume names a missing content tree", badCase{
			mutate:   func(c *eve.EdgeDevConfig) { c.Volumes[3].Origin.DownloadContentTreeID = unknown },
			errs:     []string{"volumes[3].origin.downloadContentTreeID: no content tree with this id"},
			withheld: []materials.MaterialRef{volRef(vOCI)},
		}),
		Entry("volume content tree id not a UUID", badCase{
			mutate:   func(c *eve.EdgeDevConfig) { c.Volumes[3].Origin.DownloadContentTreeID = "nginx" },
			errs:     []string{"volumes[3].origin.downloadContentTreeID: not a UUID"},
			withheld: []materials.MaterialRef{volRef(vOCI)},
		}),
		Entry("blank volume of size 0", badCase{
			mutate:   func(c *eve.EdgeDevConfig) { c.Volumes[4].Maxsizebytes = 0 },
			errs:     []string{"volumes[4].maxsizebytes: blank volume needs maxsizebytes > 0"},
			withheld: []materials.MaterialRef{volRef(vBlank)},
		}),
		Entry("blank volume of negative size", badCase{
			mutate:   func(c *eve.EdgeDevConfig) { c.Volumes[4].Maxsizebytes = -4096 },
			errs:     []string{"volumes[4].maxsizebytes: negative size"},
			withheld: []materials.MaterialRef{volRef(vBlank)},
		}),
		Entry("download volume of negative size", badCase{
			mutate:   func(c *eve.EdgeDevConfig) { c.Volumes[0].Maxsizebytes = -1 },
			errs:     []string{"volumes[0].maxsizebytes: negative size"},
			withheld: []materials.MaterialRef{volRef(vRaw)},
		}),
		Entry("volume negative generation", badCase{
			mutate:   func(c *eve.EdgeDevConfig) { c.Volumes[1].GenerationCount = -2 },
			errs:     []string{"volumes[1].generationCount: negative generation"},
			withheld: []materials.MaterialRef{volRef(vQcow2)},
		}),
		Entry("volume without origin", badCase{
			mutate:   func(c *eve.EdgeDevConfig) { c.Volumes[3].Origin = nil },
			errs:     []string{"volumes[3].origin: volume has no origin"},
			withheld: []materials.MaterialRef{volRef(vOCI)},
		}),
		Entry("volume origin type unknown", badCase{
			mutate:   func(c *eve.EdgeDevConfig) { c.Volumes[3].Origin.Type = eve.VolumeContentOriginType(9) },
			errs:     []string{"volumes[3].origin.type: unknown volume origin type 9"},
			withheld: []materials.MaterialRef{volRef(vOCI)},
		}),

		// Apps and their volume refs.
		Entry("volume ref names a missing volume", badCase{
			mutate: func(c *eve.EdgeDevConfig) {
				c.Apps[0].VolumeRefList = append(c.Apps[0].VolumeRefList, &eve.VolumeRef{Uuid: unknown})
			},
			errs: []string{"apps[0].volumeRefList[2].uuid: no volume with this id"},
		}),
		Entry("volume ref asks for another generation", badCase{
			mutate: func(c *eve.EdgeDevConfig) { c.Apps[0].VolumeRefList[0].GenerationCount = 2 },
			errs:   []string{"apps[0].volumeRefList[0].generationCount: generation differs from the volume's generationCount 1"},
		}),
		Entry("volume ref not a UUID", badCase{
			mutate: func(c *eve.EdgeDevConfig) { c.Apps[0].VolumeRefList[0].Uuid = "root" },
			errs:   []string{"apps[0].volumeRefList[0].uuid: not a UUID"},
		}),
		Entry("app id not a UUID", badCase{
			mutate:   func(c *eve.EdgeDevConfig) { c.Apps[3].Uuidandversion.Uuid = "legacy-vm" },
			errs:     []string{"apps[3].uuidandversion.uuid: not a UUID"},
			withheld: []materials.MaterialRef{appRef("legacy-vm"), treeRef(imgOld)},
			gone:     []string{implicitOld, implicitEmpty},
		}),
		Entry("duplicate app id", badCase{
			mutate: func(c *eve.EdgeDevConfig) { c.Apps[3].Uuidandversion.Uuid = appNginx },
			errs:   []string{"apps[3].uuidandversion.uuid: duplicate app id (also at apps[2]); every definition is withheld"},
			withheld: []materials.MaterialRef{
				appRef(appNginx), treeRef(imgOld),
				volRef(architect.ImplicitVolumeID(appNginx, imgOld)), volRef(architect.ImplicitVolumeID(appNginx, imgEmpty)),
			},
			gone: []string{implicitOld, implicitEmpty},
		}),

		// Legacy drives.
		Entry("legacy image id not a UUID", badCase{
			mutate:   func(c *eve.EdgeDevConfig) { c.Apps[3].Drives[0].Image.Uuidandversion.Uuid = "alpine" },
			errs:     []string{"apps[3].drives[0].image.uuidandversion.uuid: not a UUID"},
			withheld: []materials.MaterialRef{appRef(appOld)},
			gone:     []string{implicitOld, imgOld},
		}),
		Entry("legacy drive without image", badCase{
			mutate:   func(c *eve.EdgeDevConfig) { c.Apps[3].Drives[1].Image = nil },
			errs:     []string{"apps[3].drives[1].image: drive has no image"},
			withheld: []materials.MaterialRef{appRef(appOld)},
			gone:     []string{implicitEmpty},
		}),
		Entry("legacy image URL escapes", badCase{
			mutate:   func(c *eve.EdgeDevConfig) { c.Apps[3].Drives[0].Image.Name = "alpine/../../../x.qcow2" },
			errs:     []string{"apps[3].drives[0].image.name: URL has a .. segment that could escape its datastore"},
			withheld: []materials.MaterialRef{treeRef(imgOld), volRef(implicitOld)},
		}),
		Entry("legacy image names a missing datastore", badCase{
			mutate:   func(c *eve.EdgeDevConfig) { c.Apps[3].Drives[0].Image.DsId = unknown },
			errs:     []string{"apps[3].drives[0].image.dsId: no datastore with this id"},
			withheld: []materials.MaterialRef{treeRef(imgOld), volRef(implicitOld)},
		}),
		Entry("legacy image names no datastore", badCase{
			mutate:   func(c *eve.EdgeDevConfig) { c.Apps[3].Drives[0].Image.DsId = "" },
			errs:     []string{"apps[3].drives[0].image.dsId: content tree names no datastore"},
			withheld: []materials.MaterialRef{treeRef(imgOld), volRef(implicitOld)},
		}),
		Entry("legacy image bad sha256", badCase{
			mutate:   func(c *eve.EdgeDevConfig) { c.Apps[3].Drives[0].Image.Sha256 = "sha256:" + sha64a },
			errs:     []string{"apps[3].drives[0].image.sha256: sha256 must be 64 hex characters"},
			withheld: []materials.MaterialRef{treeRef(imgOld), volRef(implicitOld)},
		}),
		Entry("legacy image negative size", badCase{
			mutate:   func(c *eve.EdgeDevConfig) { c.Apps[3].Drives[0].Image.SizeBytes = -1 },
			errs:     []string{"apps[3].drives[0].image.sizeBytes: negative size"},
			withheld: []materials.MaterialRef{treeRef(imgOld), volRef(implicitOld)},
		}),
		Entry("legacy drive negative maxsizebytes", badCase{
			mutate:   func(c *eve.EdgeDevConfig) { c.Apps[3].Drives[0].Maxsizebytes = -1 },
			errs:     []string{"apps[3].drives[0].maxsizebytes: negative size"},
			withheld: []materials.MaterialRef{volRef(implicitOld)},
		}),
		Entry("HDD_EMPTY drive of size 0", badCase{
			mutate:   func(c *eve.EdgeDevConfig) { c.Apps[3].Drives[1].Maxsizebytes = 0 },
			errs:     []string{"apps[3].drives[1].maxsizebytes: HDD_EMPTY drive needs maxsizebytes > 0"},
			withheld: []materials.MaterialRef{volRef(implicitEmpty)},
		}),
		Entry("two drives of one app with the same image", badCase{
			mutate: func(c *eve.EdgeDevConfig) {
				c.Apps[3].Drives = append(c.Apps[3].Drives, proto.Clone(c.Apps[3].Drives[0]).(*eve.Drive))
			},
			errs:     []string{"apps[3].drives[2].image.uuidandversion.uuid: image used by two drives of this app (also drives[0])"},
			withheld: []materials.MaterialRef{volRef(implicitOld)},
		}),
		Entry("one image, two apps, two different definitions", badCase{
			mutate: func(c *eve.EdgeDevConfig) {
				other := proto.Clone(c.Apps[3]).(*eve.AppInstanceConfig)
				other.Uuidandversion.Uuid = unknown
				other.Drives = other.Drives[:1]
				other.Drives[0].Image.Name = "alpine/3.21/alpine-virt-3.21.0-x86_64.qcow2"
				c.Apps = append(c.Apps, other)
			},
			errs:     []string{"apps[4].drives[0].image: image differs from its first use at apps[3].drives[0].image"},
			withheld: []materials.MaterialRef{volRef(architect.ImplicitVolumeID(unknown, imgOld))},
		}),
	)
})
