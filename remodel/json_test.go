package remodel

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/edgewright/edgewright/materials"
)

// samplePayloads is one filled payload per action.
func samplePayloads() map[Action]Payload {
	tree := materials.ContentTree{ID: "c1", URL: "c1.img", Format: materials.FormatQcow2, SHA256: strings.Repeat("a", 64), Datastores: []string{"ds"}}
	vol := materials.Volume{ID: "v1", Generation: 2, Origin: materials.OriginDownload, ContentTree: "c1", Format: materials.FormatQcow2, MaxSizeBytes: 1 << 20, RefCount: 1}
	blob := materials.Blob{Digest: tree.Digest(), Size: 1 << 20, MediaType: "application/octet-stream"}
	return map[Action]Payload{
		ActionResolve:  &ResolvePayload{ContentTree: tree},
		ActionDownload: &DownloadPayload{ContentTree: tree, Blob: blob, Store: materials.BlobStoreDir, Offset: 10},
		ActionVerify:   &VerifyPayload{ContentTree: tree, Blob: blob, Store: materials.BlobStoreContainerd},
		ActionAdopt:    &AdoptPayload{Volume: vol, From: "persist/img/abc-app.qcow2"},
		ActionCreate:   &CreatePayload{Volume: vol, ContentTree: &tree},
		ActionPurge:    &PurgePayload{Volume: vol, ContentTree: &tree, OldPath: "persist/vault/volumes/v1#1.qcow2", Replaces: materials.VolumeKey{ID: "v1", Generation: 1}, Strategy: BreakBeforeMake},
		ActionResize:   &ResizePayload{Volume: vol, Path: "persist/vault/volumes/v1#2.qcow2"},
		ActionDelete:   &DeletePayload{Blob: &blob, Store: materials.BlobStoreDir, Path: "persist/blobs/sha256/" + strings.Repeat("a", 64)},
	}
}

// TestRemodelJSONRoundTrip: every action's remodel decodes into the
// payload type its row names, equal to what was encoded, and the payload's
// fields sit between the header's and bytes/reclaims as they always did.
func TestRemodelJSONRoundTrip(t *testing.T) {
	samples := samplePayloads()
	for _, a := range Actions {
		t.Run(string(a), func(t *testing.T) {
			p, ok := samples[a]
			if !ok {
				t.Fatalf("no sample payload for %s", a)
			}
			r := Remodel{ID: NewID(a, materials.MaterialRef{Kind: materials.KindVolume, ID: "v1#2"}), Action: a,
				Target: materials.MaterialRef{Kind: materials.KindVolume, ID: "v1#2"}, Reason: "because", Stage: 2,
				DependsOn: []ID{"create:volume/v0#1"}, Payload: p, Bytes: 100, Reclaims: 7}
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			var back Remodel
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("decode %s: %v", b, err)
			}
			if !reflect.DeepEqual(back, r) {
				t.Errorf("round trip:\n got %#v\nwant %#v\nJSON %s", back, r, b)
			}
			f, _ := a.Facts()
			if reflect.TypeOf(back.Payload) != f.PayloadType() {
				t.Errorf("decoded payload %T, want %v", back.Payload, f.PayloadType())
			}
			s := string(b)
			if !strings.HasPrefix(s, `{"id":"`) || !strings.Contains(s, `"stage":2,`) || !strings.HasSuffix(s, `,"bytes":100,"reclaims":7}`) {
				t.Errorf("field order changed: %s", s)
			}
		})
	}
}

// A remodel without a payload, or with an empty one, is the header alone;
// an unknown action is refused by name.
func TestRemodelJSONEdges(t *testing.T) {
	for _, r := range []Remodel{{ID: "delete:file/x", Action: ActionDelete}, {ID: "delete:file/x", Action: ActionDelete, Payload: &DeletePayload{}}} {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"id":"delete:file/x","action":"delete","target":{"kind":"","id":""},"reason":"","dependsOn":[],"stage":0}`; string(b) != want {
			t.Errorf("got %s, want %s", b, want)
		}
		var back Remodel
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if p, ok := PayloadOf[*DeletePayload](&back); !ok || *p != (DeletePayload{}) {
			t.Errorf("decoded payload %#v, want an empty *DeletePayload", back.Payload)
		}
	}
	var back Remodel
	err := json.Unmarshal([]byte(`{"id":"delete:file/x","action":"frobnicate"}`), &back)
	if err == nil || !strings.Contains(err.Error(), `"frobnicate"`) {
		t.Errorf("unknown action: %v, want an error naming it", err)
	}
	err = json.Unmarshal([]byte(`{"id":"create:volume/v#1","action":"create","volume":"not an object"}`), &back)
	if err == nil || !strings.Contains(err.Error(), "create payload") {
		t.Errorf("bad payload: %v, want an error naming the action's payload", err)
	}
}

// TestPayloadOf: the accessor gives the payload as its type, and false for
// another type or none.
func TestPayloadOf(t *testing.T) {
	r := &Remodel{Action: ActionPurge, Payload: &PurgePayload{Strategy: MakeBeforeBreak}}
	if p, ok := PayloadOf[*PurgePayload](r); !ok || p.Strategy != MakeBeforeBreak {
		t.Errorf("PayloadOf[*PurgePayload] = %v, %v", p, ok)
	}
	if _, ok := PayloadOf[*CreatePayload](r); ok {
		t.Error("a purge's payload read as a create's")
	}
	if _, ok := PayloadOf[*CreatePayload](&Remodel{}); ok {
		t.Error("no payload read as a create's")
	}
}
