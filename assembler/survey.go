package assembler

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/journal"
	"github.com/edgewright/edgewright/materials"
)

// defaultSurvey surveys the root with the inspector, reading the journal
// this assembler holds open.
func defaultSurvey(root string, log *zap.Logger) SurveyFunc {
	return func(ctx context.Context, j *journal.Journal) (*materials.Floorplan, error) {
		return nil, errors.New("no survey configured")
	}
}
