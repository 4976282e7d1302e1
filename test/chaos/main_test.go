package chaos

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// toxiproxyLeaks ignores goroutines of toxiproxy itself that it never
// ends: when a limit_data toxic has closed its direction, the link's
// reader and the stubs before the toxic stay blocked sending the bytes
// that came after the cut into a channel nobody reads, and stopping the
// proxy does not free them (toxiproxy v2.12.0, link.go and toxics/noop.go).
// Only goroutines with toxiproxy's link reader or toxic stubs on their
// stack are ignored: every goroutine of gochatter is still checked.
var toxiproxyLeaks = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2.(*ToxicLink).read"),
	goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2/toxics.(*ToxicStub).Run"),
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, toxiproxyLeaks...) }

// scale is how big the scenarios are: CHAOS_SCALE=full runs them at the
// sizes the issue that asked for them gives; otherwise (make test) they
// are small enough for a busy 2-core CI machine, bounded by counts.
var scale = func() scaleConfig {
	if os.Getenv("CHAOS_SCALE") == "full" {
		return scaleConfig{full: true, latencyRequests: 2000, slicerMessages: 10000, cuts: 100, flaps: 50}
	}
	return scaleConfig{latencyRequests: 400, slicerMessages: 1500, cuts: 16, flaps: 8}
}()

type scaleConfig struct {
	full            bool
	latencyRequests int // TestLatency: requests, 64 in flight
	slicerMessages  int // TestSlicer: one-way messages per variant
	cuts            int // TestCut: cuts of each kind
	flaps           int // TestFlap: times the link goes down and up
}
