package assembler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/foreman"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// ConvergeOptions bound and tune the reconcile loop.
type ConvergeOptions struct {
	// Foreman are the planning options; Now is set from the assembler's
	// clock each round.
	Foreman foreman.Options
	// FixedSpace keeps Foreman.Space as given; otherwise each round takes
	// the Floorplan's (the inspector's measure of the root).
	FixedSpace bool
	// MaxRounds bounds the loop (default 8). Some facts appear only while
	// building (an OCI manifest's layers), so a full reconcile may take a
	// few rounds.
	MaxRounds int
	// OnPlan, when set, sees each round's plan before it is applied.
	OnPlan func(round int, p *remodel.Plan)
	// OnSurvey, when set, sees each round's Floorplan before it is
	// planned (a reporter builds its messages on it).
	OnSurvey func(round int, fp *materials.Floorplan)
	// ScoutTimeout bounds each round's scouting: before the plan is made
	// final, the fetchers that can (device.Scout) say what the datastore
	// of each download offers (a chunk index and the bytes to fetch given
	// the local seeds), and the plan is made again with those facts
	// (foreman.Options.Offers). 0 means DefaultScoutTimeout; a negative
	// value does not scout.
	ScoutTimeout time.Duration
}

// ConvergeResult is where the loop stopped.
type ConvergeResult struct {
	// Converged is true when the last plan had no remodels left.
	Converged bool `json:"converged"`
	Rounds    int  `json:"rounds"`
	// Plan is the last plan made: empty when converged, else what is left
	// (its Held lists the remodels guards held back).
	Plan    *remodel.Plan `json:"plan"`
	Reports []*Report     `json:"reports"`
	// Failed is the last round's failed remodels, when it ended on them.
	Failed []Result `json:"failed,omitempty"`
}

// Held reports whether held remodels remain.
func (r *ConvergeResult) Held() bool { return r.Plan != nil && len(r.Plan.Held) > 0 }

// ErrNoProgress: a round changed nothing, so another would not either.
var ErrNoProgress = errors.New("reconcile made no progress")

// Converge is the level-triggered reconcile for an edge agent: survey,
// plan and apply, again and again, until the plan is empty or holds only
// held remodels. It keeps the root locked throughout. It stops with
// ErrNoProgress (and the failures in the result) when a round got nothing
// done, and with an error after MaxRounds.
func (a *Assembler) Converge(ctx context.Context, bp *materials.Blueprint, opts ConvergeOptions) (*ConvergeResult, error) {
	if bp == nil {
		return nil, errors.New("converge: Blueprint is nil")
	}
	if opts.MaxRounds <= 0 {
		opts.MaxRounds = 8
	}
	s, err := a.openSession(ctx)
	if err != nil {
		return nil, err
	}
	defer s.close()
	res := &ConvergeResult{}
	for round := 1; ; round++ {
		res.Rounds = round
		fp, err := a.opts.Survey(ctx, s.journal)
		if err != nil {
			return res, fmt.Errorf("converge round %d: survey: %w", round, err)
		}
		if opts.OnSurvey != nil {
			opts.OnSurvey(round, fp)
		}
		fo := opts.Foreman
		fo.Now = a.now()
		if fo.Store == "" {
			fo.Store = a.crafts.DefaultStore // a blob is present where downloads go
		}
		if a.opts.ContainerdContentDir != "" && fo.Store == materials.BlobStoreContainerd {
			fo.ContentDirKnown = true // its blobs are files an overlay can name
		}
		if !opts.FixedSpace {
			fo.Space = fp.Space
		}
		plan := foreman.Plan(bp, fp, fo)
		if offers := a.scout(ctx, bp, plan, opts.ScoutTimeout); len(offers) > 0 {
			fo.Offers = append(slices.Clip(fo.Offers), offers...)
			plan = foreman.Plan(bp, fp, fo)
		}
		res.Plan = plan
		if opts.OnPlan != nil {
			opts.OnPlan(round, plan)
		}
		if plan.Empty() {
			// Still record the clocks and the checkpoint of a no-op round.
			if _, err := a.apply(ctx, s, plan, bp); err != nil {
				return res, fmt.Errorf("converge round %d: %w", round, err)
			}
			res.Converged = true
			return res, nil
		}
		if round > opts.MaxRounds {
			return res, fmt.Errorf("converge: %d remodels left after %d rounds", len(plan.Remodels), opts.MaxRounds)
		}
		rep, err := a.apply(ctx, s, plan, bp)
		if rep != nil {
			res.Reports = append(res.Reports, rep)
		}
		if err != nil {
			return res, fmt.Errorf("converge round %d: %w", round, err)
		}
		a.log.Info("converge round", zap.Int("round", round), zap.Int("done", rep.Done), zap.Int("failed", rep.Failed), zap.Int("skipped", rep.Skipped))
		if rep.Failed > 0 || rep.Skipped > 0 {
			for _, r := range rep.Results {
				if r.Status == StatusFailed {
					res.Failed = append(res.Failed, r)
				}
			}
			if rep.Done == 0 || rep.Failed > 0 && !progressMade(rep) {
				return res, fmt.Errorf("converge round %d: %w: %d failed", round, ErrNoProgress, rep.Failed)
			}
		}
		res.Failed = nil
	}
}

// progressMade: something other than a clean-up got done, so another round
// may get further.
func progressMade(rep *Report) bool {
	for _, r := range rep.Results {
		if r.Status == StatusDone && r.Reason == "" {
			return true
		}
	}
	return false
}
