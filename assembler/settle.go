package assembler

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/remodel"
)

// Settle drops the intents a run that stopped (a killed apply or fix)
// left in flight, as an apply drops the intents its plan was made
// knowing, and changes nothing else: no file, no grace clock, no
// checkpoint, no content tree record. While intents are in flight a
// survey calls their targets' leftovers uncertain, so no fix names them;
// settled, the next check judges those leftovers as any other file.
//
// The caller has looked at fp (a survey of the root with its journal)
// and decided the leftovers are what it saw. So Settle takes the root's
// lock (ErrRootLocked while another assembler holds it, unless
// Options.WaitForLock) and refuses with a *StalePlanError, dropping
// nothing, when the root is not as fp surveyed it. It returns how many
// intents it dropped.
func (a *Assembler) Settle(ctx context.Context, fp *materials.Floorplan) (int, error) {
	s, err := a.openSession(ctx)
	if err != nil {
		return 0, err
	}
	defer s.close()
	if err := a.checkFresh(ctx, s, &remodel.Plan{Fingerprint: fp.Fingerprint}); err != nil {
		return 0, fmt.Errorf("settle: %w", err)
	}
	// No intent is of this fresh id: every one is dropped.
	n, err := s.journal.DropIntents(uuid.NewString())
	if err != nil {
		return n, fmt.Errorf("settle: journal: drop intents: %w", err)
	}
	a.log.Info("settled intents a run that stopped left in flight", zap.Int("intents", n))
	return n, nil
}
