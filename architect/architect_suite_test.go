package architect_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestArchitect(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "architect")
}
