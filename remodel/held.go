package remodel

import (
	"fmt"

	"github.com/edgewright/edgewright/materials"
)

// Held is a remodel a guard held back: a code a program branches on, and
// the sentence a person reads.
type Held struct {
	RemodelID ID                    `json:"remodelId"`
	Action    Action                `json:"action"`
	Target    materials.MaterialRef `json:"target"`
	Code      HoldCode              `json:"code"`
	Reason    string                `json:"reason"`
}

// HoldCode says which rule held a remodel. The set is closed: HoldCodes
// lists every code, and a plan never carries another.
type HoldCode string

const (
	// HoldNoSpace: disk admission; the remodel needs more than is free.
	HoldNoSpace HoldCode = "no-space"
	// HoldGracePeriod: an unneeded material is kept until its grace
	// period since the last reference is over.
	HoldGracePeriod HoldCode = "grace-period"
	// HoldWaitingForContent: what the remodel must know or wait for is
	// not there yet (a tag to resolve, manifests to read, the new
	// generation of a volume to make); a later round plans it.
	HoldWaitingForContent HoldCode = "waiting-for-content"
	// HoldInvalidBlueprint: the Blueprint is incomplete or has errors,
	// so nothing destructive is planned from it.
	HoldInvalidBlueprint HoldCode = "guard-invalid-blueprint"
	// HoldSurveyIncomplete: the survey could not read everything, so
	// nothing destructive is planned from it.
	HoldSurveyIncomplete HoldCode = "guard-survey-incomplete"
	// HoldMassDelete: the plan would delete more volumes than allowed.
	HoldMassDelete HoldCode = "guard-mass-delete"
	// HoldAddition: a local hold or protect Addition covers the material.
	HoldAddition HoldCode = "hold-addition"
	// HoldLimitation: a Limitation of the caller covers the remodel.
	HoldLimitation HoldCode = "limitation"
	// HoldWithheld: the config names the material but an error kept it
	// out of the Blueprint (or it is not in the Blueprint at all).
	HoldWithheld HoldCode = "withheld"
	// HoldEVERule: EVE's rules refuse it (a change without a generation
	// bump, a shrink).
	HoldEVERule HoldCode = "eve-rule"
	// HoldNeedsCleanUp: a broken file is in the way and clean-up is off.
	HoldNeedsCleanUp HoldCode = "needs-clean-up"
	// HoldUnaddressable: a content tree has neither a valid digest nor
	// a tag to resolve.
	HoldUnaddressable HoldCode = "content-unaddressable"
	// HoldDependsOnHeld: a remodel it waits for is held.
	HoldDependsOnHeld HoldCode = "depends-on-held"
	// HoldSnapshot: the volume file holds a snapshot the config lists
	// (an app's SnapshotConfig), so it is kept until the snapshot is
	// dropped from the config.
	HoldSnapshot HoldCode = "holds-snapshot"
	// HoldBacksOverlay: a containerd image record keeps a blob a space
	// overlay on disk reads through, so it is kept until the overlay goes.
	HoldBacksOverlay HoldCode = "backs-overlay"
)

// HoldCodes is every hold code, in a stable order.
var HoldCodes = []HoldCode{
	HoldNoSpace, HoldGracePeriod, HoldWaitingForContent, HoldInvalidBlueprint,
	HoldSurveyIncomplete, HoldMassDelete, HoldAddition, HoldLimitation,
	HoldWithheld, HoldEVERule, HoldNeedsCleanUp, HoldUnaddressable, HoldDependsOnHeld,
	HoldSnapshot, HoldBacksOverlay,
}

// Valid reports whether c is one of HoldCodes.
func (c HoldCode) Valid() bool {
	for _, k := range HoldCodes {
		if c == k {
			return true
		}
	}
	return false
}

// ParseHoldCode reads a hold code, refusing any other string.
func ParseHoldCode(s string) (HoldCode, error) {
	if c := HoldCode(s); c.Valid() {
		return c, nil
	}
	return "", fmt.Errorf("hold code %q: want one of %v", s, HoldCodes)
}
