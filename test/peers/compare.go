package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Comparing two builds (-compare DIR): ab.sh runs this harness built
// against an older revision of the library and against the working tree,
// in turn, and writes each run's report to DIR as old-N.md and new-N.md.
// Two runs minutes apart on a busy 2-core machine differ by more than the
// builds do (raw framing alone moves by 10 % and more from run to run), so
// each figure is read as in its report: gochatter's ratio to raw, measured
// in the same process within the same seconds. A pair is the old and the
// new run of one round; its figure is the new ratio over the old, and the
// comparison is the geometric mean of the pairs' figures, with a bootstrap
// interval over the pairs.

// reportFigures is what compare reads of one report: for each workload
// title, each system's headline figure (the table's first number).
type reportFigures map[string]map[string]float64

// parsedReport is one report's figures, and which of its workloads are
// judged by a figure where less is better (latency, memory per connection)
// rather than a rate, as the tables' headers say.
type parsedReport struct {
	figures    reportFigures
	lessBetter map[string]bool
}

// parseReport reads the markdown a run writes (report.go): a "## " title,
// then a table whose header names the columns and whose rows begin with
// the system. The figure is the first column, or for the memory table the
// ΔRSS per connection (its first column counts connections). Rows that
// hold an error are skipped.
func parseReport(r io.Reader) (parsedReport, error) {
	p := parsedReport{figures: reportFigures{}, lessBetter: map[string]bool{}}
	sc := bufio.NewScanner(r)
	title, column := "", 1
	for sc.Scan() {
		line := sc.Text()
		if t, ok := strings.CutPrefix(line, "## "); ok {
			title, column = strings.TrimSpace(t), 1
			continue
		}
		if title == "" || !strings.HasPrefix(line, "| ") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if len(cells) < 3 {
			continue
		}
		if cells[0] == "system" {
			switch {
			case cells[1] == "connections":
				column = 2
				p.lessBetter[title] = true
			case strings.Contains(cells[1], "µs"):
				p.lessBetter[title] = true
			}
			continue
		}
		v, err := strconv.ParseFloat(strings.ReplaceAll(cells[column], ",", ""), 64)
		if err != nil || v <= 0 {
			continue // the separator row, or an error row
		}
		if p.figures[title] == nil {
			p.figures[title] = map[string]float64{}
		}
		p.figures[title][cells[0]] = v
	}
	return p, sc.Err()
}

// pairComparison is one workload's comparison over the pairs.
type pairComparison struct {
	title string
	pairs int
	// oldRatio and newRatio are the geometric means of gochatter's ratio to
	// the reference in the old and the new runs, arranged so that > 1
	// means gochatter is better, as in the reports.
	oldRatio, newRatio float64
	// change is the geometric mean over the pairs of new ratio ÷ old
	// ratio, and lo, hi its 95 % bootstrap interval: > 1 means the new
	// build is better.
	change, lo, hi float64
	// abs is the same for gochatter's own figure, not divided by the
	// reference's: it moves with the machine as well as with the build.
	abs, absLo, absHi float64
}

// comparePairs compares old and new reports, paired by index, for every
// workload both have a gochatter and a ref figure for.
func comparePairs(old, new []parsedReport, ref string) []pairComparison {
	var titles []string
	for _, r := range old {
		for t := range r.figures {
			if !slices.Contains(titles, t) {
				titles = append(titles, t)
			}
		}
	}
	slices.Sort(titles)
	var out []pairComparison
	for _, t := range titles {
		var oldL, newL, change, abs []float64
		for i := range min(len(old), len(new)) {
			o, n := old[i].figures[t], new[i].figures[t]
			if o["gochatter"] == 0 || o[ref] == 0 || n["gochatter"] == 0 || n[ref] == 0 {
				continue
			}
			sign := 1.0
			if old[i].lessBetter[t] {
				sign = -1 // the ratio is ref ÷ gochatter
			}
			lo := sign * math.Log(o["gochatter"]/o[ref])
			ln := sign * math.Log(n["gochatter"]/n[ref])
			oldL, newL = append(oldL, lo), append(newL, ln)
			change = append(change, ln-lo)
			abs = append(abs, sign*math.Log(n["gochatter"]/o["gochatter"]))
		}
		if len(change) == 0 {
			continue
		}
		c := pairComparison{title: t, pairs: len(change),
			oldRatio: math.Exp(mean(oldL)), newRatio: math.Exp(mean(newL))}
		c.change, c.lo, c.hi = geoInterval(change)
		c.abs, c.absLo, c.absHi = geoInterval(abs)
		out = append(out, c)
	}
	return out
}

func mean(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

// bootstrapRounds is how many resamples geoInterval draws.
const bootstrapRounds = 10000

// geoInterval returns exp of the mean of logs and its 95 % percentile
// bootstrap interval. The generator is seeded with a constant, so that the
// same reports always give the same interval.
func geoInterval(logs []float64) (mid, lo, hi float64) {
	rng := rand.New(rand.NewPCG(1, 2))
	means := make([]float64, bootstrapRounds)
	sample := make([]float64, len(logs))
	for i := range means {
		for j := range sample {
			sample[j] = logs[rng.IntN(len(logs))]
		}
		means[i] = mean(sample)
	}
	slices.Sort(means)
	return math.Exp(mean(logs)), math.Exp(means[bootstrapRounds*25/1000]), math.Exp(means[bootstrapRounds*975/1000-1])
}

// loadPairs reads dir's old-N.md and new-N.md, the pairs in order of N;
// a round with only one of the two is left out.
func loadPairs(dir string) (old, new []parsedReport, err error) {
	olds, err := filepath.Glob(filepath.Join(dir, "old-*.md"))
	if err != nil {
		return nil, nil, err
	}
	type round struct {
		n    int
		path string
	}
	var rounds []round
	for _, p := range olds {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "old-"), ".md"))
		if err != nil {
			continue
		}
		rounds = append(rounds, round{n, p})
	}
	slices.SortFunc(rounds, func(a, b round) int { return a.n - b.n })
	read := func(path string) (parsedReport, error) {
		f, err := os.Open(path)
		if err != nil {
			return parsedReport{}, err
		}
		defer f.Close()
		return parseReport(f)
	}
	for _, r := range rounds {
		np := filepath.Join(dir, fmt.Sprintf("new-%d.md", r.n))
		if _, err := os.Stat(np); err != nil {
			continue
		}
		o, err := read(r.path)
		if err != nil {
			return nil, nil, err
		}
		n, err := read(np)
		if err != nil {
			return nil, nil, err
		}
		old, new = append(old, o), append(new, n)
	}
	if len(old) == 0 {
		return nil, nil, fmt.Errorf("-compare %s: no pair of old-N.md and new-N.md reports", dir)
	}
	return old, new, nil
}

// writeComparison prints the comparison as a markdown table.
func writeComparison(w io.Writer, dir string, cs []pairComparison, ref string) {
	fmt.Fprintf(w, "# gochatter, old build against new, paired runs (%s)\n\n", dir)
	fmt.Fprintf(w, "- figure: gochatter's ratio to %s in each run, > 1 meaning gochatter is better (rates: gochatter ÷ %s; latency and memory: %s ÷ gochatter)\n", ref, ref, ref)
	fmt.Fprintf(w, "- new ÷ old: the geometric mean over the pairs of the new run's figure over the old run's, > 1 meaning the new build is better; 95 %% bootstrap interval over the pairs\n")
	fmt.Fprintf(w, "- gochatter alone: the same for gochatter's own figure, which moves with the machine as well as with the build\n\n")
	fmt.Fprintf(w, "| workload | pairs | old | new | new ÷ old [95 %%] | gochatter alone, new ÷ old [95 %%] |\n| --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, c := range cs {
		fmt.Fprintf(w, "| %s | %d | %.3f | %.3f | %.3f [%.3f, %.3f] | %.3f [%.3f, %.3f] |\n",
			c.title, c.pairs, c.oldRatio, c.newRatio, c.change, c.lo, c.hi, c.abs, c.absLo, c.absHi)
	}
}
