package gotest_test

import (
	"net"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/faultline-dev/faultline/examples/gotest"
	"github.com/faultline-dev/faultline/experiments"
)

// TestChaos runs the Ginkgo suite: `go test ./examples/gotest/` or
// `ginkgo --junit-report=junit.xml ./examples/gotest/` (each experiment's verdict,
// checks and report directory are in the JUnit properties).
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs five experiments against real services, about 30 s")
	}
	RegisterFailHandler(Fail)
	RunSpecs(t, "Chaos tests in Go")
}

// registries returns fresh registries with Faultline's built-ins plus this suite's
// own fault (flipFlag) and probe (catalogItems), usable from YAML from then on.
func registries() experiments.Registries {
	GinkgoHelper()
	reg, err := experiments.DefaultRegistries()
	Expect(err).NotTo(HaveOccurred())
	Expect(gotest.RegisterFlag(reg.Injectors)).To(Succeed())
	Expect(gotest.RegisterItems(reg.Probes)).To(Succeed())
	return reg
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr() string {
	GinkgoHelper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer ln.Close()
	return ln.Addr().String()
}
