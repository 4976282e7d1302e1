package main

import (
	"bytes"
	"runtime/trace"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const rounds = 1000

// pinger and ponger hand a token back and forth: each round wakes each of
// them once.
func pinger(ping, pong chan int) {
	for i := range rounds {
		ping <- i
		<-pong
	}
	close(ping)
}

func ponger(ping, pong chan int) {
	for i := range ping {
		pong <- i
	}
}

// A trace of a ping-pong, made in this process, shows both goroutines'
// classes with a hand-off per round.
func TestAnalyzeFindsTheHandOffs(t *testing.T) {
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Fatal(err)
	}
	ping, pong := make(chan int), make(chan int)
	done := make(chan struct{})
	go func() { ponger(ping, pong); close(done) }()
	pinger(ping, pong)
	<-done
	trace.Stop()

	classes, err := analyze(&buf, "tracehops")
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]*class{}
	for name, c := range classes {
		for _, f := range []string{"pinger", "ponger"} {
			if strings.Contains(name, f) {
				found[f] = c
			}
		}
	}
	for _, f := range []string{"pinger", "ponger"} {
		c := found[f]
		if c == nil {
			t.Fatalf("no class for %s among %v", f, keys(classes))
		}
		// Each round wakes each side once, unless the other was already
		// waiting: most rounds are hand-offs.
		if c.hops < rounds/2 || c.hops > rounds+2 {
			t.Errorf("%s: %d hand-offs, want about %d", f, c.hops, rounds)
		}
		if c.waited < 0 || c.ranFor <= 0 || c.slices < c.hops {
			t.Errorf("%s: waited %v µs, ran %v µs in %d slices for %d hand-offs", f, c.waited, c.ranFor, c.slices, c.hops)
		}
	}
	var out bytes.Buffer
	write(&out, classes, rounds/2)
	if !strings.Contains(out.String(), "pinger") || !strings.Contains(out.String(), "ponger") {
		t.Errorf("table lacks the two classes:\n%s", out.String())
	}
}

func TestAnalyzeRejectsWhatIsNoTrace(t *testing.T) {
	if _, err := analyze(strings.NewReader("not a trace"), "x"); err == nil {
		t.Error("no error for a file that is not a trace")
	}
}

func keys(m map[string]*class) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
