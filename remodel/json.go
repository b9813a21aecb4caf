package remodel

import (
	"encoding/json"
	"fmt"

	"github.com/edgewright/edgewright/materials"
)

// MarshalJSON renders empty lists as [] rather than null, so programs can
// range over `remodels`, `held`, `diagnostics` and every `dependsOn`
// without a null check.
func (p Plan) MarshalJSON() ([]byte, error) {
	type plain Plan // no methods: no recursion
	q := plain(p)
	if q.Remodels == nil {
		q.Remodels = []Remodel{}
	}
	if q.Held == nil {
		q.Held = []Held{}
	}
	if q.Diagnostics == nil {
		q.Diagnostics = materials.Diagnostics{}
	}
	if q.Summary.Counts == nil {
		q.Summary.Counts = map[Action]int{}
	}
	if q.Summary.HeldByCode == nil {
		q.Summary.HeldByCode = map[HoldCode]int{}
	}
	return json.Marshal(q)
}

// remodelHead and remodelTail are a Remodel's common fields, before and
// after its payload's in the JSON form.
type remodelHead struct {
	ID        ID                    `json:"id"`
	Action    Action                `json:"action"`
	Target    materials.MaterialRef `json:"target"`
	Reason    string                `json:"reason"`
	DependsOn []ID                  `json:"dependsOn"`
	Stage     int                   `json:"stage"`
}

type remodelTail struct {
	Bytes    int64 `json:"bytes,omitempty"`
	Reclaims int64 `json:"reclaims,omitempty"`
}

// MarshalJSON writes one object: the header, the payload's fields, then
// bytes and reclaims (the form of the days before typed payloads, so
// programs reading `volume`, `blob` or `replaces` read them as before).
// A nil DependsOn is rendered as [].
func (r Remodel) MarshalJSON() ([]byte, error) {
	h := remodelHead{ID: r.ID, Action: r.Action, Target: r.Target, Reason: r.Reason, DependsOn: r.DependsOn, Stage: r.Stage}
	if h.DependsOn == nil {
		h.DependsOn = []ID{}
	}
	out, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	out = out[:len(out)-1] // reopen the object
	if r.Payload != nil {
		b, err := json.Marshal(r.Payload)
		if err != nil {
			return nil, fmt.Errorf("remodel %s: payload: %w", r.ID, err)
		}
		if out, err = appendFields(out, b); err != nil {
			return nil, fmt.Errorf("remodel %s: payload %T: %w", r.ID, r.Payload, err)
		}
	}
	b, err := json.Marshal(remodelTail{Bytes: r.Bytes, Reclaims: r.Reclaims})
	if err != nil {
		return nil, err
	}
	if out, err = appendFields(out, b); err != nil {
		return nil, err
	}
	return append(out, '}'), nil
}

// appendFields appends the fields of the JSON object obj to an open one.
func appendFields(open, obj []byte) ([]byte, error) {
	if len(obj) < 2 || obj[0] != '{' || obj[len(obj)-1] != '}' {
		return nil, fmt.Errorf("not a JSON object: %.40s", obj)
	}
	if inner := obj[1 : len(obj)-1]; len(inner) > 0 {
		open = append(append(open, ','), inner...)
	}
	return open, nil
}

// UnmarshalJSON reads the header, then the payload of the type the
// action's row names; an action edgewright does not know is refused.
func (r *Remodel) UnmarshalJSON(b []byte) error {
	var v struct {
		remodelHead
		remodelTail
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	f, ok := v.Action.Facts()
	if !ok {
		return fmt.Errorf("remodel %s: unknown action %q", v.ID, v.Action)
	}
	p := f.NewPayload()
	if err := json.Unmarshal(b, p); err != nil {
		return fmt.Errorf("remodel %s: %s payload: %w", v.ID, v.Action, err)
	}
	*r = Remodel{ID: v.ID, Action: v.Action, Target: v.Target, Reason: v.Reason, DependsOn: v.DependsOn, Stage: v.Stage,
		Payload: p, Bytes: v.Bytes, Reclaims: v.Reclaims}
	return nil
}
