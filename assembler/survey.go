package assembler

import (
	"context"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/device"
	"github.com/edgewright/edgewright/inspector"
	"github.com/edgewright/edgewright/materials"
)

// InspectorSurvey surveys the root with the inspector, reading the journal
// the assembler holds open (containerd too when ctr is set).
func InspectorSurvey(root string, ctr inspector.ContentStore, log *zap.Logger) SurveyFunc {
	return func(ctx context.Context, j device.Journal) (*materials.Floorplan, error) {
		opts := inspector.Options{Root: root, Containerd: ctr, Logger: log}
		if j != nil {
			opts.Journal = j
		}
		return inspector.Survey(ctx, opts)
	}
}
