package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// A server that goes away mid-run: bench prints the figures of what was
// done, says they are partial, and exits 1 with the error.
func TestBenchPartialWhenThePeerLeaves(t *testing.T) {
	addr := listenServer(t, func(ctx context.Context, c *chatter.Conn) {
		n := 0
		for m := range c.Messages() {
			if n++; n == 500 {
				c.Close()
				return
			}
			c.Send(ctx, m.Data, chatter.InConversation(m.Conv))
		}
	})
	for _, inflight := range []string{"0", "4"} {
		code, stdout, stderr := runCmd(t, "", "bench", "-n", "1000000", "-inflight", inflight, "-json", addr)
		var res benchResult
		if err := json.Unmarshal([]byte(stdout), &res); err != nil {
			t.Fatalf("-inflight %s: stdout is no JSON object: %v\n%s", inflight, err, stdout)
		}
		if code != exitFail || res.Messages == 0 || res.Messages >= 1000000 || res.Error == "" ||
			!strings.Contains(stderr, "partial") || !strings.Contains(stderr, "chatter-echo: ") {
			t.Errorf("-inflight %s: exit %d, result %+v, stderr %q", inflight, code, res, stderr)
		}
		code, stdout, _ = runCmd(t, "", "bench", "-n", "1000000", "-inflight", inflight, addr)
		if code != exitFail || !strings.HasPrefix(stdout, "workload") {
			t.Errorf("-inflight %s, table: exit %d, stdout %q", inflight, code, stdout)
		}
	}
}
