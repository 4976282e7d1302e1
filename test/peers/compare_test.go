package main

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func workloadNamed(t *testing.T, name string) *workload {
	t.Helper()
	for _, wl := range workloads {
		if wl.name == name {
			return wl
		}
	}
	t.Fatalf("no workload %q", name)
	return nil
}

// A report as report.go writes it is read back figure for figure: rates,
// latencies and memory, with which of them are better lower, and without
// the rows that hold an error.
func TestParseReportReadsWhatReportWrites(t *testing.T) {
	var b bytes.Buffer
	r := &report{w: &b}
	r.header(config{dur: time.Second, trials: 3})
	r.table(workloadNamed(t, "conns"), []row{
		{system: "gochatter", ops: 61_234, elapsed: 2 * time.Second},
		{system: "raw", ops: 70_000, elapsed: 2 * time.Second},
		{system: "nats", err: errors.New("broker | gone")},
	})
	us := time.Microsecond
	r.table(workloadNamed(t, "rtt"), []row{
		{system: "gochatter", lat: []time.Duration{20 * us, 31 * us, 40 * us}, ops: 3},
		{system: "raw", lat: []time.Duration{20 * us, 27 * us, 40 * us}, ops: 3},
	})
	r.table(workloadNamed(t, "payload1k"), []row{
		{system: "gochatter", bytes: 1_000_000_000, elapsed: 2 * time.Second},
		{system: "raw", bytes: 1_100_000_000, elapsed: 2 * time.Second},
	})
	r.table(workloadNamed(t, "idle"), []row{
		{system: "gochatter", conns: 1000, rss: 19_800 * 1024},
		{system: "raw", conns: 1000, rss: 9_000 * 1024},
	})
	r.footer()

	p, err := parseReport(&b)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]float64{
		workloadNamed(t, "conns").title:     {"gochatter": 30_617, "raw": 35_000},
		workloadNamed(t, "rtt").title:       {"gochatter": 31, "raw": 27},
		workloadNamed(t, "payload1k").title: {"gochatter": 500, "raw": 550},
		workloadNamed(t, "idle").title:      {"gochatter": 19.8, "raw": 9},
	}
	if len(p.figures) != len(want) {
		t.Errorf("parsed %d workloads, want %d: %v", len(p.figures), len(want), p.figures)
	}
	for title, systems := range want {
		got := p.figures[title]
		if len(got) != len(systems) {
			t.Errorf("%s: parsed %v, want %v", title, got, systems)
		}
		for s, v := range systems {
			if math.Abs(got[s]-v) > 0.5 {
				t.Errorf("%s, %s: parsed %v, want %v", title, s, got[s], v)
			}
		}
	}
	for _, name := range []string{"rtt", "idle"} {
		if !p.lessBetter[workloadNamed(t, name).title] {
			t.Errorf("%s: not read as less-is-better", name)
		}
	}
	for _, name := range []string{"conns", "payload1k"} {
		if p.lessBetter[workloadNamed(t, name).title] {
			t.Errorf("%s: read as less-is-better", name)
		}
	}
}

// fakeReport is a report of one rate and one latency workload.
func fakeReport(gochatterRate, rawRate, gochatterP50, rawP50 float64) parsedReport {
	return parsedReport{
		figures: reportFigures{
			"rate":    {"gochatter": gochatterRate, "raw": rawRate},
			"latency": {"gochatter": gochatterP50, "raw": rawP50},
		},
		lessBetter: map[string]bool{"latency": true},
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// The machine's speed moves both systems of a run alike and drops out of
// the ratio: a new build 10 % slower than the old in every pair is 0.9,
// with no spread, whatever each pair's speed; a latency 10 % longer is
// 1/1.1. gochatter alone moves with the machine.
func TestComparePairsDividesOutTheMachine(t *testing.T) {
	var old, new []parsedReport
	for _, speed := range []float64{1, 0.7, 1.3, 0.9} {
		old = append(old, fakeReport(100*speed, 125*speed, 30/speed, 27/speed))
		// The next run is on a machine 20 % faster, the build 10 % slower.
		s := speed * 1.2
		new = append(new, fakeReport(90*s, 125*s, 33/s, 27/s))
	}
	cs := comparePairs(old, new, "raw")
	if len(cs) != 2 {
		t.Fatalf("got %d comparisons, want 2: %+v", len(cs), cs)
	}
	for _, c := range cs {
		want := 0.9
		if c.title == "latency" {
			want = 1 / 1.1
		}
		if c.pairs != 4 || !near(c.change, want) || !near(c.lo, want) || !near(c.hi, want) {
			t.Errorf("%s: %d pairs, change %v [%v, %v], want 4 pairs, %v with no spread", c.title, c.pairs, c.change, c.lo, c.hi, want)
		}
		if !near(c.abs, want*1.2) {
			t.Errorf("%s: gochatter alone %v, want %v", c.title, c.abs, want*1.2)
		}
	}
	if c := cs[1]; c.title != "rate" || !near(c.oldRatio, 0.8) || !near(c.newRatio, 0.72) {
		t.Errorf("rate: ratios %v → %v, want 0.8 → 0.72", c.oldRatio, c.newRatio)
	}
}

// Pairs that differ give an interval around their mean, and a pair missing
// a figure is left out.
func TestComparePairsInterval(t *testing.T) {
	var old, new []parsedReport
	for _, f := range []float64{0.9, 1.0, 1.1, 0.95, 1.05} {
		old = append(old, fakeReport(100, 100, 10, 10))
		new = append(new, fakeReport(100*f, 100, 10, 10))
	}
	old = append(old, fakeReport(100, 100, 10, 10))
	new = append(new, parsedReport{figures: reportFigures{"rate": {"gochatter": 50}}})
	cs := comparePairs(old, new, "raw")
	var rate *pairComparison
	for i := range cs {
		if cs[i].title == "rate" {
			rate = &cs[i]
		}
	}
	if rate == nil || rate.pairs != 5 {
		t.Fatalf("rate: %+v, want 5 pairs", rate)
	}
	if !(rate.lo < rate.change && rate.change < rate.hi) || rate.lo < 0.9 || rate.hi > 1.1 {
		t.Errorf("rate: %v [%v, %v], want an interval within [0.9, 1.1] around the mean", rate.change, rate.lo, rate.hi)
	}
}

func TestLoadPairs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := loadPairs(dir); err == nil || !strings.Contains(err.Error(), "no pair") {
		t.Errorf("empty directory: err = %v, want no pair", err)
	}
	table := func(g, r int) string {
		return "## 4. conns\n\n| system | req/s | range |\n| --- | ---: | ---: |\n| gochatter | " +
			group(int64(g)) + " | – |\n| raw | " + group(int64(r)) + " | – |\n"
	}
	write("old-1.md", table(1000, 2000))
	write("new-1.md", table(1100, 2000))
	write("old-2.md", table(1000, 2000)) // no new-2: left out
	write("old-10.md", table(1000, 1000))
	write("new-10.md", table(900, 1000))
	old, new, err := loadPairs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(old) != 2 || len(new) != 2 {
		t.Fatalf("loaded %d and %d reports, want 2 pairs", len(old), len(new))
	}
	if g := new[1].figures["4. conns"]["gochatter"]; g != 900 {
		t.Errorf("second pair's new gochatter figure %v, want 900 (round 10)", g)
	}
	var b bytes.Buffer
	writeComparison(&b, dir, comparePairs(old, new, "raw"), "raw")
	if !strings.Contains(b.String(), "| 4. conns | 2 |") {
		t.Errorf("comparison table lacks the conns row:\n%s", b.String())
	}
}
