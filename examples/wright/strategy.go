package main

import (
	"flag"

	"github.com/edgewright/edgewright/materials"
)

// strategyValue is --strategy: how VM volumes are made from content.
type strategyValue materials.Strategy

func (s *strategyValue) String() string { return string(*s) }

func (s *strategyValue) Set(v string) error {
	st, err := materials.ParseStrategy(v)
	if err != nil {
		return err
	}
	*s = strategyValue(st)
	return nil
}

// strategyFlag adds --strategy to a command's flags; unset is
// performance, and the plan then does not mention it.
func strategyFlag(fs *flag.FlagSet) *materials.Strategy {
	var v strategyValue
	fs.Var(&v, "strategy", "how VM volumes are made from raw or qcow2 content: `space` (a qcow2 overlay on the verified blob, in milliseconds) or performance (a full copy, the default); a strategy addition overrides it per volume")
	return (*materials.Strategy)(&v)
}
