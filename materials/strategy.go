package materials

import "fmt"

// Strategy says how a VM volume is made from its content tree's blob
// (VDSM's storage API calls the same choice "strategy"): a full copy of
// the data, or a thin qcow2 overlay whose backing file is the verified,
// immutable content blob. Container and blank volumes have none.
type Strategy string

const (
	// StrategyUnset is no choice made: performance.
	StrategyUnset Strategy = ""
	// StrategyPerformance copies all the data (qemu-img convert, or a
	// sparse copy for raw): the volume stands alone, in the format EVE
	// expects, and outlives its blob. The default.
	StrategyPerformance Strategy = "performance"
	// StrategySpace makes the volume a qcow2 overlay on the content blob
	// (raw or qcow2) in the blob directory: created in milliseconds,
	// taking only what the guest writes, for as long as the blob is kept.
	StrategySpace Strategy = "space"
)

// ParseStrategy reads a strategy's name; "" is StrategyUnset.
func ParseStrategy(s string) (Strategy, error) {
	switch st := Strategy(s); st {
	case StrategyUnset, StrategyPerformance, StrategySpace:
		return st, nil
	}
	return "", fmt.Errorf("strategy %q: want %s or %s", s, StrategySpace, StrategyPerformance)
}
