package reporter

import "github.com/edgewright/edgewright/materials/eve"

// rank orders the states a material passes through on its way to being
// ready. EVE's enum values are not in that order (VERIFYING=16 comes after
// CREATING_VOLUME=14), so progress through the pipeline is judged by rank.
func rank(s eve.ZSwState) int {
	switch s {
	case eve.ZSwState_INITIAL:
		return 1
	case eve.ZSwState_RESOLVING_TAG:
		return 2
	case eve.ZSwState_RESOLVED_TAG:
		return 3
	case eve.ZSwState_DOWNLOAD_STARTED:
		return 4
	case eve.ZSwState_DOWNLOADED:
		return 5
	case eve.ZSwState_VERIFYING:
		return 6
	case eve.ZSwState_VERIFIED:
		return 7
	case eve.ZSwState_LOADING:
		return 8
	case eve.ZSwState_LOADED:
		return 9
	case eve.ZSwState_CREATING_VOLUME:
		return 10
	case eve.ZSwState_CREATED_VOLUME:
		return 11
	case eve.ZSwState_ERROR:
		return 12
	}
	return 0
}

// pipeline is the order of states a volume made from downloaded content
// goes through; a blank volume skips straight from INITIAL to
// CREATING_VOLUME.
var pipeline = []eve.ZSwState{
	eve.ZSwState_INITIAL,
	eve.ZSwState_RESOLVING_TAG,
	eve.ZSwState_RESOLVED_TAG,
	eve.ZSwState_DOWNLOAD_STARTED,
	eve.ZSwState_DOWNLOADED,
	eve.ZSwState_VERIFYING,
	eve.ZSwState_VERIFIED,
	eve.ZSwState_LOADING,
	eve.ZSwState_LOADED,
	eve.ZSwState_CREATING_VOLUME,
	eve.ZSwState_CREATED_VOLUME,
}

// Before reports whether state a comes before state b in the pipeline.
func Before(a, b eve.ZSwState) bool { return rank(a) < rank(b) }
