package eve_test

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/edgewright/edgewright/materials/eve"
)

// The field numbers and enum values of EVE's API, as ARCHITECTURE.md lists
// them: a real controller's config decodes unchanged only if these hold.
var wantFields = map[string]map[string]protoreflect.FieldNumber{
	"EdgeDevConfig":       {"apps": 4, "datastores": 6, "contentInfo": 20, "volumes": 21, "controller_epoch": 25},
	"DatastoreConfig":     {"id": 100, "dType": 1, "fqdn": 2, "apiKey": 3, "password": 4, "dpath": 5, "region": 6, "cipherData": 7, "dsCertPEM": 8},
	"ContentTree":         {"uuid": 1, "dsId": 2, "URL": 3, "iformat": 4, "sha256": 5, "maxSizeBytes": 6, "siginfo": 7, "displayName": 8, "generation_count": 9, "custom_meta_data": 10, "ds_ids_list": 11},
	"SignatureInfo":       {"intercertsurl": 1, "signercerturl": 2, "signature": 3},
	"Volume":              {"uuid": 1, "origin": 2, "protocols": 3, "generationCount": 4, "maxsizebytes": 5, "readonly": 6, "displayName": 7, "clear_text": 8, "target": 9},
	"VolumeContentOrigin": {"type": 1, "downloadContentTreeID": 2},
	"AppInstanceConfig":   {"uuidandversion": 1, "displayname": 2, "drives": 4, "activate": 5, "purge": 10, "volumeRefList": 16, "snapshot": 22},
	"SnapshotConfig":      {"active_snapshot": 1, "rollback_cmd": 2, "max_snapshots": 3, "snapshots": 4},
	"SnapshotDesc":        {"id": 1, "type": 2},
	"InstanceOpsCmd":      {"counter": 2, "opsTime": 4},
	"UUIDandVersion":      {"uuid": 1, "version": 2},
	"VolumeRef":           {"uuid": 1, "generationCount": 2, "mount_dir": 3},
	"Drive":               {"image": 1, "readonly": 5, "preserve": 6, "drvtype": 8, "target": 9, "maxsizebytes": 10},
	"Image":               {"uuidandversion": 1, "name": 2, "sha256": 3, "iformat": 4, "siginfo": 5, "dsId": 6, "sizeBytes": 8},
	"UsageInfo":           {"createTime": 1, "refCount": 2, "lastRefcountChangeTime": 3},
	"VolumeResources":     {"maxSizeBytes": 1, "curSizeBytes": 2},
	"ContentResources":    {"curSizeBytes": 1},
	"ErrorInfo":           {"description": 1, "timestamp": 2, "severity": 3, "retry_condition": 5},
	"ZInfoVolume":         {"uuid": 1, "displayName": 2, "usage": 3, "resources": 4, "state": 5, "progressPercentage": 6, "volumeErr": 7, "generation_count": 8},
	"ZInfoContentTree":    {"uuid": 1, "displayName": 2, "sha256": 3, "resources": 4, "usage": 5, "state": 6, "progressPercentage": 7, "err": 8, "componentShaList": 9, "generation_count": 10},
	"ZInfoBlob":           {"sha256": 1, "resources": 2, "usage": 3, "state": 4, "progressPercentage": 5, "err": 6},
	"ZInfoMsg":            {"ztype": 1, "devId": 2, "ainfo": 5, "vinfo": 13, "cinfo": 14, "binfo": 15, "atTimeStamp": 6},
	"ZInfoSnapshot":       {"id": 1, "config_id": 2, "config_version": 3, "create_time": 4, "type": 5, "snap_err": 6},
	"ZInfoApp":            {"AppID": 1, "appVersion": 2, "AppName": 7, "state": 15, "volumeRefs": 17, "snapshots": 18},
	"ZMetricMsg":          {"devID": 1, "atTimeStamp": 3, "vm": 8},
	"ZMetricVolume":       {"uuid": 1, "displayName": 2, "readBytes": 3, "writeBytes": 4, "readCount": 5, "writeCount": 6, "totalBytes": 7, "usedBytes": 8, "freeBytes": 9},
}

var wantEnums = map[string]map[string]protoreflect.EnumNumber{
	"DsType":                  {"DsUnknown": 0, "DsHttp": 1, "DsHttps": 2, "DsS3": 3, "DsSFTP": 4, "DsContainerRegistry": 5, "DsAzureBlob": 6, "DsGoogleStorage": 7},
	"Format":                  {"FmtUnknown": 0, "RAW": 1, "QCOW": 2, "QCOW2": 3, "VHD": 4, "VMDK": 5, "OVA": 6, "VHDX": 7, "CONTAINER": 8, "ISO": 9, "PVC": 10},
	"VolumeContentOriginType": {"VCOT_UNKNOWN": 0, "VCOT_BLANK": 1, "VCOT_DOWNLOAD": 2},
	"DriveType":               {"Unclassified": 0, "CDROM": 1, "HDD": 2, "NET": 3, "HDD_EMPTY": 4},
	"Target":                  {"TgtUnknown": 0, "Disk": 1, "Kernel": 2, "Initrd": 3, "RamDisk": 4, "AppCustom": 5},
	"SnapshotType":            {"SNAPSHOT_TYPE_UNSPECIFIED": 0, "SNAPSHOT_TYPE_APP_UPDATE": 1, "SNAPSHOT_TYPE_IMMEDIATE": 2},
	"ZInfoTypes":              {"ZiNop": 0, "ZiDevice": 1, "ZiApp": 3, "ZiNetworkInstance": 6, "ZiVolume": 7, "ZiContentTree": 8, "ZiBlobList": 9},
	"ZSwState": {"INVALID": 0, "INITIAL": 1, "DOWNLOAD_STARTED": 2, "DOWNLOADED": 3, "DELIVERED": 4, "INSTALLED": 5,
		"BOOTING": 6, "RUNNING": 7, "HALTING": 8, "HALTED": 9, "RESTARTING": 10, "PURGING": 11, "RESOLVING_TAG": 12,
		"RESOLVED_TAG": 13, "CREATING_VOLUME": 14, "CREATED_VOLUME": 15, "VERIFYING": 16, "VERIFIED": 17, "LOADING": 18,
		"LOADED": 19, "AWAITNETWORKINSTANCE": 20, "ERROR": 21, "START_DELAYED": 22, "PENDING": 23, "SCHEDULING": 24},
}

func TestFieldNumbersMatchEVE(t *testing.T) {
	for msg, fields := range wantFields {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName("edgewright.eve." + msg))
		if err != nil {
			t.Errorf("message %s: %v", msg, err)
			continue
		}
		md := d.(protoreflect.MessageDescriptor)
		if md.Fields().Len() != len(fields) {
			t.Errorf("%s has %d fields, want %d", msg, md.Fields().Len(), len(fields))
		}
		for name, num := range fields {
			f := md.Fields().ByName(protoreflect.Name(name))
			if f == nil {
				t.Errorf("%s.%s missing", msg, name)
				continue
			}
			if f.Number() != num {
				t.Errorf("%s.%s = %d, want %d", msg, name, f.Number(), num)
			}
		}
	}
}

func TestEnumValuesMatchEVE(t *testing.T) {
	for enum, values := range wantEnums {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName("edgewright.eve." + enum))
		if err != nil {
			t.Errorf("enum %s: %v", enum, err)
			continue
		}
		ed := d.(protoreflect.EnumDescriptor)
		if ed.Values().Len() != len(values) {
			t.Errorf("%s has %d values, want %d", enum, ed.Values().Len(), len(values))
		}
		for name, num := range values {
			v := ed.Values().ByName(protoreflect.Name(name))
			if v == nil {
				t.Errorf("%s.%s missing", enum, name)
				continue
			}
			if v.Number() != num {
				t.Errorf("%s.%s = %d, want %d", enum, name, v.Number(), num)
			}
		}
	}
}

func TestTypesOfSizes(t *testing.T) {
	// EVE carries ContentTree.maxSizeBytes unsigned and Volume.maxsizebytes
	// signed; the wire encoding differs for negative numbers.
	for _, c := range []struct {
		msg, field string
		kind       protoreflect.Kind
	}{
		{"ContentTree", "maxSizeBytes", protoreflect.Uint64Kind},
		{"Volume", "maxsizebytes", protoreflect.Int64Kind},
		{"Volume", "generationCount", protoreflect.Int64Kind},
		{"Drive", "maxsizebytes", protoreflect.Int64Kind},
		{"Image", "sizeBytes", protoreflect.Int64Kind},
		{"InstanceOpsCmd", "counter", protoreflect.Uint32Kind},
		{"EdgeDevConfig", "controller_epoch", protoreflect.Int64Kind},
		{"DatastoreConfig", "dsCertPEM", protoreflect.BytesKind},
	} {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName("edgewright.eve." + c.msg))
		if err != nil {
			t.Fatal(err)
		}
		f := d.(protoreflect.MessageDescriptor).Fields().ByName(protoreflect.Name(c.field))
		if f == nil || f.Kind() != c.kind {
			t.Errorf("%s.%s kind = %v, want %v", c.msg, c.field, f.Kind(), c.kind)
		}
	}
}
