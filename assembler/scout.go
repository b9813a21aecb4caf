package assembler

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// Scout is the role of a fetcher that tells what a datastore offers before
// a plan is made (package device's).
type Scout = device.Scout

// DefaultScoutTimeout bounds the scouting of one round: an index is small,
// and a datastore that does not answer in time leaves the plan without
// facts, not the device without a plan.
const DefaultScoutTimeout = time.Minute

// scout is ScoutOffers over the assembler's fetchers.
func (a *Assembler) scout(ctx context.Context, bp *materials.Blueprint, plan *remodel.Plan, timeout time.Duration) []materials.ChunkOffer {
	return ScoutOffers(ctx, a.crafts.Fetchers, bp, plan, timeout, a.log)
}

// ScoutOffers asks, for each download of plan whose tree's first
// datastore has a fetcher that scouts, what that datastore offers for it
// (a chunk index, and what it costs given the local seeds), as the
// executor will fetch it: the same datastore, blob and resume offset.
// Like Terraform's refresh before a plan, it only gathers facts: a scout
// that fails or takes longer than timeout (0: DefaultScoutTimeout;
// negative: no scouting) means no facts, never a failed round. A download
// that carries an offer already is not asked again. Converge runs it
// between survey and plan; `wright plan --scout` too.
func ScoutOffers(ctx context.Context, fetchers map[materials.DatastoreType]Fetcher, bp *materials.Blueprint, plan *remodel.Plan, timeout time.Duration, log *zap.Logger) []materials.ChunkOffer {
	if timeout < 0 {
		return nil
	}
	if timeout == 0 {
		timeout = DefaultScoutTimeout
	}
	if log == nil {
		log = zap.NewNop()
	}
	type ask struct {
		id  remodel.ID
		sc  Scout
		req FetchRequest
		off int64
	}
	var asks []ask
	for i := range plan.Remodels {
		r := &plan.Remodels[i]
		pl, ok := remodel.PayloadOf[*remodel.DownloadPayload](r)
		if !ok || pl.Offer != nil || len(pl.ContentTree.Datastores) == 0 {
			continue
		}
		ds, ok := datastoreOf(bp, pl.ContentTree.Datastores[0])
		if !ok {
			continue
		}
		if sc, ok := fetchers[ds.Type].(Scout); ok {
			asks = append(asks, ask{r.ID, sc, FetchRequest{Datastore: ds, ContentTree: pl.ContentTree, Blob: pl.Blob}, pl.Offset})
		}
	}
	if len(asks) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var offers []materials.ChunkOffer
	for _, q := range asks {
		o, ok, err := q.sc.Scout(ctx, q.req, q.off)
		switch {
		case err != nil:
			log.Info("scout: no facts for a download", zap.String("remodel", string(q.id)), zap.String("datastore", q.req.Datastore.ID), zap.Error(err))
		case ok:
			log.Info("scout: chunk offer", zap.String("remodel", string(q.id)), zap.String("datastore", q.req.Datastore.ID),
				zap.Int64("size", o.Size), zap.Int64("fetch", o.FetchBytes), zap.Int("fetchChunks", o.FetchChunks), zap.Bool("whole", o.Whole))
			offers = append(offers, o)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return offers
}

func datastoreOf(bp *materials.Blueprint, id string) (materials.Datastore, bool) {
	for _, ds := range bp.Datastores {
		if ds.ID == id {
			return ds, true
		}
	}
	return materials.Datastore{}, false
}
