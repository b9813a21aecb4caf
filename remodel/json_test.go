package remodel

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/edgewright/edgewright/materials"
)

// filled is a payload of the action's type with every field set (by
// reflection, so a new action's payload is covered without a sample).
func filled(a Action) Payload {
	f, _ := a.Facts()
	p := f.NewPayload()
	fill(reflect.ValueOf(p).Elem(), string(a))
	return p
}

// fill sets every exported field of v to a value that is not its zero.
func fill(v reflect.Value, seed string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(seed + "-" + strings.ToLower(v.Type().Name()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(len(seed)) + 1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(len(seed)) + 2)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), seed)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0), seed)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), seed+"."+v.Type().Field(i).Name)
			}
		}
	}
}

// TestRemodelJSONRoundTrip: every action's remodel decodes into the
// payload type its row names, equal to what was encoded, and the payload's
// fields sit between the header's and bytes/reclaims as they always did.
func TestRemodelJSONRoundTrip(t *testing.T) {
	for _, a := range Actions {
		t.Run(string(a), func(t *testing.T) {
			p := filled(a)
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
			if empty := reflect.New(f.PayloadType().Elem()).Interface(); reflect.DeepEqual(p, empty) {
				t.Errorf("the filled payload is empty: %#v", p)
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
