package chatter_test

import (
	"net"
	"strings"
	"testing"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// TestSupervisorStateHasOneOwner: the supervisor's state belongs to its
// goroutine, and in race builds touching it from any other panics (its
// methods assert the owner, as x/net/http2's serveG.check does). Without
// -race the assertion is compiled out, and the test is skipped.
func TestSupervisorStateHasOneOwner(t *testing.T) {
	if !raceEnabled {
		t.Skip("the ownership assertion is checked in race builds")
	}
	a, b := net.Pipe()
	defer b.Close()
	c, err := chatter.NewConn(a, testRepo, chatter.WithPingTimeout(0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer func() {
		r := recover()
		if s, _ := r.(string); !strings.Contains(s, "supervisor state touched off the supervisor's goroutine") {
			t.Fatalf("touching the supervisor's state from another goroutine: recovered %v, want the ownership panic", r)
		}
	}()
	chatter.TouchSupervisor(c)
}
