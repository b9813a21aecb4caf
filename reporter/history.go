package reporter

import "github.com/edgewright/edgewright/journal"

// FailuresFromHistory turns the journal's history into the failures still
// standing: a material whose latest finished remodel failed. A later
// success clears an earlier failure.
func FailuresFromHistory(records []journal.Record) []Failure {
	latest := map[string]journal.Record{}
	var order []string
	for _, r := range records {
		k := string(r.Target.Kind) + "/" + r.Target.ID
		if _, ok := latest[k]; !ok {
			order = append(order, k)
		}
		latest[k] = r
	}
	var out []Failure
	for _, k := range order {
		r := latest[k]
		if r.Outcome != journal.OutcomeFailed {
			continue
		}
		out = append(out, Failure{Target: r.Target, Description: r.Error, At: r.FinishedAt,
			RetryCondition: "retried at the next reconcile"})
	}
	return out
}
