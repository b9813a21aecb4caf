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
	return inspectorSurvey(inspector.Options{Root: root, Containerd: ctr, Logger: log})
}

// inspectorSurvey surveys with base, reading the journal the assembler
// holds open.
func inspectorSurvey(base inspector.Options) SurveyFunc {
	return func(ctx context.Context, j device.Journal) (*materials.Floorplan, error) {
		opts := base
		if j != nil {
			opts.Journal = j
		}
		return inspector.Survey(ctx, opts)
	}
}
