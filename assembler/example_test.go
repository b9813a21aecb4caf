package assembler_test

import (
	"context"
	"errors"
	"log"
	"os"

	"go.uber.org/zap"

	"github.com/edgewright/edgewright/architect"
	"github.com/edgewright/edgewright/assembler"
)

// An edge agent's reconcile: draw the Blueprint from the controller's
// config and converge the root on it.
func ExampleAssembler_Converge() {
	config, err := os.ReadFile("/config/checkpoint/lastconfig")
	if err != nil {
		log.Fatal(err)
	}
	logger, _ := zap.NewProduction()
	a, err := assembler.New(assembler.Options{Root: "/", Logger: logger, WaitForLock: true})
	if err != nil {
		log.Fatal(err)
	}
	res, err := a.Converge(context.Background(), architect.Load(config), assembler.ConvergeOptions{})
	switch {
	case errors.Is(err, assembler.ErrRootLocked):
		log.Print("another assembler holds the root")
	case err != nil:
		log.Printf("reconcile failed: %v (%d remodels failed)", err, len(res.Failed))
	case res.Held():
		log.Printf("converged except %d held remodels", len(res.Plan.Held))
	}
}
