package architect_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/edgewright/edgewright/architect"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/materials/eve"
)

func jsonEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc
}

var _ = Describe("binary and JSON round trips", func() {
	It("keeps every config equal through binary and back", func() {
		for _, p := range configFiles(GinkgoT()) {
			fromJSON := mustDecode(GinkgoT(), p)
			bin, err := proto.MarshalOptions{Deterministic: true}.Marshal(fromJSON)
			Expect(err).NotTo(HaveOccurred())
			fromBin, err := architect.Decode(bin)
			Expect(err).NotTo(HaveOccurred(), p)
			Expect(proto.Equal(fromJSON, fromBin)).To(BeTrue(), "%s: JSON→binary→config differs", p)

			// And binary → JSON (both name styles) → binary.
			for _, opts := range []protojson.MarshalOptions{{}, {UseProtoNames: true}, {UseEnumNumbers: true, Multiline: true}} {
				js, err := opts.Marshal(fromBin)
				Expect(err).NotTo(HaveOccurred())
				back, err := architect.Decode(js)
				Expect(err).NotTo(HaveOccurred(), "%s: %s", p, js)
				Expect(proto.Equal(fromBin, back)).To(BeTrue(), "%s: binary→JSON→config differs", p)
				bin2, err := proto.MarshalOptions{Deterministic: true}.Marshal(back)
				Expect(err).NotTo(HaveOccurred())
				Expect(bin2).To(Equal(bin))
			}
			// The Blueprint does not depend on the encoding.
			Expect(architect.Load(bin)).To(Equal(architect.Load(mustRead(GinkgoT(), p))))
		}
	})

	It("keeps examples/configs/sample.pb the binary encoding of sample.json", func() {
		bin, err := proto.MarshalOptions{Deterministic: true}.Marshal(mustDecode(GinkgoT(), samplePath))
		Expect(err).NotTo(HaveOccurred())
		const pb = "../examples/configs/sample.pb"
		if os.Getenv("EDGEWRIGHT_UPDATE_GOLDEN") == "1" {
			Expect(os.WriteFile(pb, bin, 0o644)).To(Succeed())
		}
		Expect(mustRead(GinkgoT(), pb)).To(Equal(bin), "run with EDGEWRIGHT_UPDATE_GOLDEN=1 to rewrite %s", pb)
		Expect(architect.Load(bin)).To(Equal(architect.Load(mustRead(GinkgoT(), samplePath))))
	})

	It("round-trips every config message with every field set", func() {
		cfg := &eve.EdgeDevConfig{
			ControllerEpoch: 9,
			Datastores: []*eve.DatastoreConfig{{
				Id: dsHTTP, DType: eve.DsType_DsHttps, Fqdn: "https://x.example", ApiKey: "k", Password: "p",
				Dpath: "d", Region: "r", DsCertPEM: [][]byte{[]byte("-----BEGIN CERTIFICATE-----")},
				CipherData: &eve.CipherBlock{CipherContextId: "c", InitialValue: []byte{1}, CipherData: []byte{2}, ClearTextSha256: []byte{3}},
			}},
			ContentInfo: []*eve.ContentTree{{
				Uuid: ctRaw, DsId: dsHTTP, URL: "a/b.img", Iformat: eve.Format_RAW, Sha256: sha64a, MaxSizeBytes: 1 << 40,
				Siginfo:     &eve.SignatureInfo{Intercertsurl: "i", Signercerturl: "s", Signature: []byte{9}},
				DisplayName: "n", GenerationCount: 3, CustomMetaData: "m", DsIdsList: []string{dsHTTP},
			}},
			Volumes: []*eve.Volume{{
				Uuid: vRaw, Origin: &eve.VolumeContentOrigin{Type: eve.VolumeContentOriginType_VCOT_DOWNLOAD, DownloadContentTreeID: ctRaw},
				Protocols: []eve.VolumeAccessProtocols{eve.VolumeAccessProtocols_VAP_9P}, GenerationCount: 4, Maxsizebytes: 5,
				Readonly: true, DisplayName: "v", ClearText: true, Target: eve.Target_AppCustom,
			}},
			Apps: []*eve.AppInstanceConfig{{
				Uuidandversion: &eve.UUIDandVersion{Uuid: appUbu, Version: "7"}, Displayname: "a", Activate: true,
				Purge: &eve.InstanceOpsCmd{Counter: 3, OpsTime: "t"},
				Drives: []*eve.Drive{{
					Image: &eve.Image{
						Uuidandversion: &eve.UUIDandVersion{Uuid: imgOld, Version: "1"}, Name: "a/b.img", Sha256: sha64a,
						Iformat: eve.Format_RAW, Siginfo: &eve.SignatureInfo{Signature: []byte{1}}, DsId: dsHTTP, SizeBytes: 6,
					},
					Readonly: true, Preserve: true, Drvtype: eve.DriveType_HDD, Target: eve.Target_Disk, Maxsizebytes: 7,
				}},
				VolumeRefList: []*eve.VolumeRef{{Uuid: vRaw, GenerationCount: 4, MountDir: "/"}},
			}},
		}
		bin, err := proto.Marshal(cfg)
		Expect(err).NotTo(HaveOccurred())
		back, err := architect.Decode(bin)
		Expect(err).NotTo(HaveOccurred())
		Expect(proto.Equal(cfg, back)).To(BeTrue())
		for _, opts := range []protojson.MarshalOptions{{}, {UseProtoNames: true}} {
			js, err := opts.Marshal(cfg)
			Expect(err).NotTo(HaveOccurred())
			back, err := architect.Decode(js)
			Expect(err).NotTo(HaveOccurred())
			Expect(proto.Equal(cfg, back)).To(BeTrue(), "%s", js)
		}
		// The info and metrics messages too.
		for _, m := range []proto.Message{
			&eve.ZInfoVolume{Uuid: vRaw, State: eve.ZSwState_CREATED_VOLUME, Usage: &eve.UsageInfo{RefCount: 2},
				Resources: &eve.VolumeResources{MaxSizeBytes: 1, CurSizeBytes: 2}, GenerationCount: 4,
				VolumeErr: &eve.ErrorInfo{Description: "d", Severity: eve.Severity_SEVERITY_ERROR, RetryCondition: "r"}},
			&eve.ZInfoContentTree{Uuid: ctRaw, Sha256: sha64a, State: eve.ZSwState_LOADED, ComponentShaList: []string{sha64a}},
			&eve.ZInfoBlobList{Blob: []*eve.ZInfoBlob{{Sha256: sha64b, State: eve.ZSwState_DOWNLOAD_STARTED, ProgressPercentage: 40}}},
			&eve.ZMetricVolume{Uuid: vRaw, TotalBytes: 10, UsedBytes: 4, FreeBytes: 6, ReadBytes: 1, WriteBytes: 2, ReadCount: 3, WriteCount: 4},
		} {
			bin, err := proto.Marshal(m)
			Expect(err).NotTo(HaveOccurred())
			back := m.ProtoReflect().New().Interface()
			Expect(proto.Unmarshal(bin, back)).To(Succeed())
			Expect(proto.Equal(m, back)).To(BeTrue())
			js, err := protojson.Marshal(m)
			Expect(err).NotTo(HaveOccurred())
			back = m.ProtoReflect().New().Interface()
			Expect(protojson.Unmarshal(js, back)).To(Succeed())
			Expect(proto.Equal(m, back)).To(BeTrue())
		}
	})

	It("puts fields on the wire under EVE's numbers", func() {
		// controller_epoch=25 (varint), volumes=21, uuid=1 inside.
		b := protowire.AppendTag(nil, 25, protowire.VarintType)
		b = protowire.AppendVarint(b, 11)
		vol := protowire.AppendTag(nil, 1, protowire.BytesType)
		vol = protowire.AppendString(vol, vBlank)
		vol = protowire.AppendTag(vol, 5, protowire.VarintType)
		vol = protowire.AppendVarint(vol, 4096)
		b = protowire.AppendTag(b, 21, protowire.BytesType)
		b = protowire.AppendBytes(b, vol)
		cfg, err := architect.Decode(b)
		Expect(err).NotTo(HaveOccurred())
		Expect(cfg.GetControllerEpoch()).To(Equal(int64(11)))
		Expect(cfg.GetVolumes()).To(HaveLen(1))
		Expect(cfg.GetVolumes()[0].GetUuid()).To(Equal(vBlank))
		Expect(cfg.GetVolumes()[0].GetMaxsizebytes()).To(Equal(int64(4096)))
	})

	It("keeps unknown binary fields and ignores unknown JSON fields", func() {
		known, err := proto.Marshal(&eve.EdgeDevConfig{ControllerEpoch: 3})
		Expect(err).NotTo(HaveOccurred())
		// Field 17 (EVE's networkInstances) with some bytes.
		unknownField := protowire.AppendTag(nil, 17, protowire.BytesType)
		unknownField = protowire.AppendBytes(unknownField, []byte("opaque"))
		cfg, err := architect.Decode(append(append([]byte{}, known...), unknownField...))
		Expect(err).NotTo(HaveOccurred())
		again, err := proto.Marshal(cfg)
		Expect(err).NotTo(HaveOccurred())
		Expect(bytes.Contains(again, unknownField)).To(BeTrue())

		cfg, err = architect.Decode([]byte(`{"networkInstances":[{"x":1}],"controllerEpoch":"3","datastores":[{"id":"` + dsHTTP + `","dType":"DsHttp","fqdn":"h","futureField":true}]}`))
		Expect(err).NotTo(HaveOccurred())
		Expect(cfg.GetControllerEpoch()).To(Equal(int64(3)))
		Expect(cfg.GetDatastores()[0].GetDType()).To(Equal(eve.DsType_DsHttp))
	})

	It("warns once per signed content tree that its signature is not checked", func() {
		bp := architect.Load([]byte(`{"datastores":[{"id":"` + dsHTTP + `","dType":"DsHttp","fqdn":"http://h"}],
			"contentInfo":[{"uuid":"` + ctRaw + `","dsId":"` + dsHTTP + `","URL":"u","sha256":"` + strings.Repeat("a", 64) + `","iformat":"RAW","siginfo":{"signature":"AQ=="}}]}`))
		var sig []materials.Diagnostic
		for _, dg := range bp.Diagnostics {
			if strings.HasSuffix(dg.Path, ".siginfo") {
				sig = append(sig, dg)
			}
		}
		Expect(sig).To(HaveLen(1))
		Expect(sig[0].Path).To(Equal("contentInfo[0].siginfo"))
		Expect(sig[0].Severity).To(Equal(materials.SeverityWarning))
		Expect(sig[0].Message).To(ContainSubstring("not checked by edgewright"))
	})

	It("carries custom_meta_data and Volume.target into the Blueprint", func() {
		bp := architect.Load([]byte(`{"datastores":[{"id":"` + dsHTTP + `","dType":"DsHttp","fqdn":"http://h"}],
			"contentInfo":[{"uuid":"` + ctRaw + `","dsId":"` + dsHTTP + `","URL":"u","sha256":"` + strings.Repeat("a", 64) + `","iformat":"RAW","customMetaData":"m1"}],
			"volumes":[{"uuid":"` + vRaw + `","origin":{"type":"VCOT_DOWNLOAD","downloadContentTreeID":"` + ctRaw + `"},"maxsizebytes":"1048576","target":"Kernel"}]}`))
		Expect(bp.ContentTrees).To(HaveLen(1))
		Expect(bp.ContentTrees[0].CustomMetaData).To(Equal("m1"))
		Expect(bp.Volumes).To(HaveLen(1))
		Expect(bp.Volumes[0].Target).To(Equal("Kernel"))
		b, err := json.Marshal(bp)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(b)).To(And(ContainSubstring(`"customMetaData":"m1"`), ContainSubstring(`"target":"Kernel"`)))
	})

	It("decodes a negative controller epoch as upstream's int64", func() {
		cfg, err := architect.Decode([]byte(`{"controllerEpoch":"-1"}`))
		Expect(err).NotTo(HaveOccurred())
		Expect(cfg.GetControllerEpoch()).To(Equal(int64(-1)))
		Expect(architect.Load([]byte(`{"controllerEpoch":"-1"}`)).Epoch).To(Equal(int64(-1)))
	})

	It("decodes volume protocols by upstream's VolumeAccessProtocols names", func() {
		cfg, err := architect.Decode([]byte(`{"volumes":[{"uuid":"` + vRaw + `","protocols":["VAP_9P","VAP_NONE"]}]}`))
		Expect(err).NotTo(HaveOccurred())
		Expect(cfg.GetVolumes()[0].GetProtocols()).To(Equal([]eve.VolumeAccessProtocols{
			eve.VolumeAccessProtocols_VAP_9P, eve.VolumeAccessProtocols_VAP_NONE}))
	})

	It("accepts proto names and JSON names alike", func() {
		protoNames := `{"contentInfo":[{"uuid":"` + ctRaw + `","ds_ids_list":["` + dsHTTP + `"],"URL":"u","generation_count":"2","custom_meta_data":"m"}],
			"volumes":[{"uuid":"` + vRaw + `","clear_text":true,"generationCount":"1"}],
			"apps":[{"uuidandversion":{"uuid":"` + appUbu + `"},"volumeRefList":[{"uuid":"` + vRaw + `","mount_dir":"/"}]}],
			"controller_epoch":"4"}`
		jsonNames := `{"contentInfo":[{"uuid":"` + ctRaw + `","dsIdsList":["` + dsHTTP + `"],"URL":"u","generationCount":"2","customMetaData":"m"}],
			"volumes":[{"uuid":"` + vRaw + `","clearText":true,"generationCount":"1"}],
			"apps":[{"uuidandversion":{"uuid":"` + appUbu + `"},"volumeRefList":[{"uuid":"` + vRaw + `","mountDir":"/"}]}],
			"controllerEpoch":"4"}`
		a, err := architect.Decode([]byte(protoNames))
		Expect(err).NotTo(HaveOccurred())
		b, err := architect.Decode([]byte(jsonNames))
		Expect(err).NotTo(HaveOccurred())
		Expect(proto.Equal(a, b)).To(BeTrue())
		Expect(a.GetContentInfo()[0].GetDsIdsList()).To(Equal([]string{dsHTTP}))
		Expect(a.GetVolumes()[0].GetClearText()).To(BeTrue())
		Expect(a.GetApps()[0].GetVolumeRefList()[0].GetMountDir()).To(Equal("/"))
	})
})

var _ = Describe("Decode and Load", func() {
	DescribeTable("refuses what is not a config, naming the encoding",
		func(data string, want string) {
			_, err := architect.Decode([]byte(data))
			Expect(err).To(MatchError(ContainSubstring(want)))
			bp := architect.Load([]byte(data))
			Expect(bp).NotTo(BeNil())
			Expect(bp.Complete).To(BeFalse())
			Expect(bp.Valid()).To(BeFalse())
			Expect(bp.Diagnostics).To(HaveLen(1))
			Expect(bp.Diagnostics[0].Path).To(Equal("config"))
			Expect(bp.Diagnostics[0].Message).To(ContainSubstring(want))
			Expect(bp.Volumes).To(BeEmpty())
		},
		Entry("empty", "", "config is empty"),
		Entry("blank", " \n\t ", "config is empty"),
		Entry("truncated JSON", `{"volumes":[{"uuid":`, "decode proto-JSON config"),
		Entry("JSON of the wrong type", `{"volumes":{"uuid":"x"}}`, "decode proto-JSON config"),
		Entry("JSON with a trailing garbage", `{} x`, "decode proto-JSON config"),
		Entry("truncated binary", "\xaa\x01\x05ab", "decode binary protobuf config"),
		Entry("binary with invalid UTF-8 in a string", "\xaa\x01\x03\x0a\x01\xff", "decode binary protobuf config"),
		Entry("a text file", "volumes: none\n", "decode binary protobuf config"),
	)

	It("reads JSON after leading blanks and `{}` as an empty, complete config", func() {
		bp := architect.Load([]byte("\n  {}"))
		Expect(bp.Complete).To(BeTrue())
		Expect(bp.Valid()).To(BeTrue())
		Expect(bp.Volumes).To(BeEmpty())
	})

	It("reads binary that starts with a blank byte", func() {
		// 0x0a is field 1 (EVE's device id), length-delimited: binary, not
		// JSON whitespace.
		cfg := &eve.EdgeDevConfig{ControllerEpoch: 5}
		tail, err := proto.Marshal(cfg)
		Expect(err).NotTo(HaveOccurred())
		// Its length byte is 123, '{': the bytes read "\n{" like JSON.
		id := protowire.AppendTag(nil, 1, protowire.BytesType)
		id = protowire.AppendBytes(id, bytes.Repeat([]byte{'x'}, 123))
		Expect(string(id[:2])).To(Equal("\n{"))
		got, err := architect.Decode(append(id, tail...))
		Expect(err).NotTo(HaveOccurred())
		Expect(got.GetControllerEpoch()).To(Equal(int64(5)))
	})

	It("draws an incomplete Blueprint from a nil config", func() {
		bp := architect.Draw(nil)
		Expect(bp.Complete).To(BeFalse())
		Expect(errorLines(bp.Diagnostics)).To(Equal([]string{"config: no config"}))
	})

	It("decodes the errors example and reports each of its problems", func() {
		bp := architect.Load(mustRead(GinkgoT(), "../examples/configs/errors.json"))
		Expect(bp.Complete).To(BeTrue())
		Expect(len(bp.Diagnostics.Errors())).To(Equal(9))
		Expect(strings.Join(errorLines(bp.Diagnostics), "\n")).To(ContainSubstring("datastores[2].dType: unknown datastore type 44"))
	})
})
