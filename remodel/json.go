package remodel

import (
	"encoding/json"

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

// MarshalJSON renders a nil DependsOn as [].
func (r Remodel) MarshalJSON() ([]byte, error) {
	type plain Remodel
	q := plain(r)
	if q.DependsOn == nil {
		q.DependsOn = []ID{}
	}
	return json.Marshal(q)
}
