package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var stdout, stderr syncBuffer
	plan := demoPlan{oneWay: 2000, requests: 200, conversations: 3, rounds: 4}
	if err := runDemo(ctx, plan, stdio{strings.NewReader(""), &stdout, &stderr}); err != nil {
		t.Fatalf("demo: %v\nstderr:\n%s", err, stderr.String())
	}
	// Client to server: 2000 one-way, 200 requests, 3 × 5 conversation
	// moves, 2 syncs; server to client: 200 answers, 3 × 4 moves, 2 syncs.
	for _, re := range []string{
		`(?m)^messages: +2431 exchanged .*\(2217 sent by the client, 214 by the server\)$`,
		`(?m)^one-way: +\d+ msg/s \(2000 Integer messages in .*\)$`,
		`(?m)^round trip: +p50 \S+, p99 \S+ \(200 sequential requests\)$`,
		`(?m)^conversations: +3, the token passed 9 times in each$`,
	} {
		if !regexp.MustCompile(re).MatchString(stdout.String()) {
			t.Errorf("stdout does not match %s:\n%s", re, stdout.String())
		}
	}
	for _, phase := range []string{"one-way: 2000 done", "requests: 200 done", "conversations: 3 done"} {
		if !strings.Contains(stderr.String(), phase) {
			t.Errorf("stderr does not show %q:\n%s", phase, stderr.String())
		}
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i > 0; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if p := percentile(ds, 50); p != 50*time.Millisecond {
		t.Errorf("p50 = %v, want 50ms", p)
	}
	if p := percentile(ds, 99); p != 99*time.Millisecond {
		t.Errorf("p99 = %v, want 99ms", p)
	}
	if p := percentile([]time.Duration{time.Second}, 99); p != time.Second {
		t.Errorf("p99 of one = %v, want 1s", p)
	}
	if p := percentile(nil, 50); p != 0 {
		t.Errorf("p50 of none = %v, want 0", p)
	}
}
