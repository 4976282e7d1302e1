// Command peers runs the same workloads against gochatter and its peers —
// gRPC-go, NATS (embedded server) and raw length-prefixed framing over TCP —
// and prints one markdown table per workload with gochatter's ratio to each.
//
// Both ends of every connection run in this process, over 127.0.0.1.
//
//	go run . [-quick] [-only oneway,rtt,...] [-systems gochatter,grpc,...] [-o FILE]
//		[-cpuprofile PREFIX] [-memprofile PREFIX] [-d DURATION] [-idle N]
//
// ab.sh (make bench-peers-ab) runs it built against an older revision of
// the library and against the working tree, in turn, and then compares the
// two builds pair by pair (-compare DIR; see compare.go).
//
// It is its own module so that grpc and nats stay out of gochatter's
// dependencies; `make bench-peers` at the repository root runs it.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"
)

// config is what the flags select.
type config struct {
	quick      bool
	workloads  []*workload
	systems    []system
	cpuprofile string
	memprofile string
	idleConns  int
	// trials is how many times each timed workload runs; the systems take
	// turns going first, and each system's median trial is reported.
	trials int
	// dur bounds the sending phase of each measurement; max* bound the
	// operation counts, whichever is reached first.
	dur time.Duration
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		quick   = flag.Bool("quick", false, "a short smoke run (~20 s): short durations, 1,000 idle connections")
		only    = flag.String("only", "", "comma-separated workloads to run (default all): "+strings.Join(workloadNames(), ","))
		systems = flag.String("systems", "", "comma-separated systems to run (default all): "+strings.Join(systemNames(), ","))
		out     = flag.String("o", "", "also write the report to this file")
		cpuprof = flag.String("cpuprofile", "", "write a CPU profile of each workload to PREFIX.WORKLOAD.pprof for gochatter, PREFIX.WORKLOAD.SYSTEM.pprof for the other systems")
		memprof = flag.String("memprofile", "", "write a heap profile of gochatter's idle connections to PREFIX.idle.pprof")
		dur     = flag.Duration("d", 0, "duration bound of each measurement (default 2s, 400ms with -quick)")
		idle    = flag.Int("idle", 0, "connections for the idle-memory workload (default 10000, 1000 with -quick)")
		trials  = flag.Int("trials", 0, "trials of each timed workload, the systems' order rotated each trial; the median is reported (default 3, 1 with -quick)")
		queue   = flag.Int("queue", queueBytes, "bytes a one-way sender may queue on its connection: gochatter's WithSendBufferSize and raw's channel bound alike (default gochatter's default)")
		many    = flag.Int("many", 0, "instead of the workloads: this many idle connections to one server process, the clients in child processes (see many.go)")
		manyCli = flag.String("many-client", "", "internal: be a -many client process for this server address")
		compare = flag.String("compare", "", "instead of the workloads: compare the reports DIR/old-N.md with DIR/new-N.md, run in pairs by ab.sh (make bench-peers-ab)")
		ref     = flag.String("ref", "raw", "with -compare: the system gochatter's figures are divided by")
	)
	flag.Parse()
	if *compare != "" {
		old, new, err := loadPairs(*compare)
		if err != nil {
			return err
		}
		writeComparison(os.Stdout, *compare, comparePairs(old, new, *ref), *ref)
		return nil
	}
	if *queue <= 0 {
		return fmt.Errorf("-queue %d: want a positive number of bytes", *queue)
	}
	queueBytes = *queue
	if *manyCli != "" {
		return manyClient(*manyCli, *many)
	}
	if *many > 0 {
		return runMany(context.Background(), os.Stdout, *many)
	}
	cfg := config{quick: *quick, cpuprofile: *cpuprof, memprofile: *memprof, dur: 2 * time.Second, idleConns: 10000, trials: 3}
	if cfg.quick {
		cfg.dur, cfg.idleConns, cfg.trials = 400*time.Millisecond, 1000, 1
	}
	if *trials > 0 {
		cfg.trials = *trials
	}
	if *dur > 0 {
		cfg.dur = *dur
	}
	if *idle > 0 {
		cfg.idleConns = *idle
	}
	var err error
	if cfg.workloads, err = selectWorkloads(*only); err != nil {
		return err
	}
	if cfg.systems, err = selectSystems(*systems); err != nil {
		return err
	}

	var w io.Writer = os.Stdout
	var f *os.File
	if *out != "" {
		if f, err = os.Create(*out); err != nil {
			return err
		}
		defer f.Close()
		w = io.MultiWriter(os.Stdout, f)
	}
	rep := &report{w: w}
	rep.header(cfg)
	for _, wl := range cfg.workloads {
		if wl.name == "idle" {
			n, note := raiseFileLimit(cfg.idleConns)
			cfg.idleConns = n
			if note != "" {
				fmt.Fprintln(os.Stderr, "peers:", note)
				rep.notes = append(rep.notes, note)
			}
		}
		rows := runTrials(cfg, wl)
		rep.table(wl, rows)
	}
	rep.footer()
	if f != nil {
		return f.Close()
	}
	return nil
}

// runTrials runs wl against every system cfg.trials times (the idle
// workload once: it measures memory, not time), rotating the order so that
// no system always runs first on a cold or last on a hot machine, and
// returns each system's median trial, with the range it came from.
func runTrials(cfg config, wl *workload) []row {
	trials := cfg.trials
	if wl.kind == memoryKind {
		trials = 1
	}
	runs := make([][]row, len(cfg.systems))
	for t := range trials {
		for k := range cfg.systems {
			i := (k + t) % len(cfg.systems)
			s := cfg.systems[i]
			fmt.Fprintf(os.Stderr, "peers: %-10s %-10s trial %d/%d ...\n", wl.name, s.name(), t+1, trials)
			r := runOne(cfg, wl, s)
			if r.err != nil && !errors.Is(r.err, errNotMeasured) {
				fmt.Fprintf(os.Stderr, "peers: %s %s: %v\n", wl.name, s.name(), r.err)
			}
			runs[i] = append(runs[i], r)
		}
	}
	rows := make([]row, 0, len(cfg.systems))
	for _, rs := range runs {
		if errors.Is(rs[0].err, errNotMeasured) {
			continue
		}
		rows = append(rows, median(wl, rs))
	}
	return rows
}

// median returns the trial whose figure (rate, p50 or RSS) is the median
// of rs, with the lowest and highest figure recorded in it; a failed trial
// makes the whole result that failure.
func median(wl *workload, rs []row) row {
	for _, r := range rs {
		if r.err != nil {
			return r
		}
	}
	slices.SortFunc(rs, func(a, b row) int { return cmp.Compare(wl.figure(&a), wl.figure(&b)) })
	m := rs[len(rs)/2]
	m.trials, m.lo, m.hi = len(rs), wl.figure(&rs[0]), wl.figure(&rs[len(rs)-1])
	return m
}

// runOne runs one workload against one system, profiling it if asked, and
// checks that it left no goroutine or file descriptor behind.
func runOne(cfg config, wl *workload, s system) row {
	if cfg.cpuprofile != "" {
		name := fmt.Sprintf("%s.%s.pprof", cfg.cpuprofile, wl.name)
		if s.name() != "gochatter" {
			name = fmt.Sprintf("%s.%s.%s.pprof", cfg.cpuprofile, wl.name, s.name())
		}
		f, err := os.Create(name)
		if err != nil {
			return row{system: s.name(), err: err}
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return row{system: s.name(), err: err}
		}
		defer pprof.StopCPUProfile()
	}
	before := snapshotResources()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r := wl.run(ctx, cfg, s)
	r.system = s.name()
	if err := before.waitReleased(10 * time.Second); err != nil && r.err == nil {
		r.err = err
	}
	return r
}

// snapshot counts the goroutines and open file descriptors of the process.
type snapshot struct {
	goroutines, fds int
}

func snapshotResources() snapshot {
	return snapshot{goroutines: runtime.NumGoroutine(), fds: countFDs()}
}

// waitReleased waits until the process is back to (at most) s's
// goroutines and file descriptors, and reports a leak if it is not within d.
func (s snapshot) waitReleased(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		now := snapshotResources()
		if now.goroutines <= s.goroutines && now.fds <= s.fds {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("leak: %d goroutines and %d fds before, %d and %d after", s.goroutines, s.fds, now.goroutines, now.fds)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func countFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(ents)
}
