// Command tracehops reads a Go execution trace (go test -trace, or
// runtime/trace) and prints, for each class of goroutine, how long it
// waited between being woken and running, and how long it ran each time:
// the hand-offs of a request's path, one hop at a time.
//
//	go test -run '^$' -bench 'RoundTripDeadline' -benchtime 20000x -trace rt.trace ./pkg/chatter
//	cd test/tracehops && go run . -match gochatter ../../pkg/chatter/rt.trace
//
// A goroutine's class is the innermost frames of its last blocking stack
// whose function names contain -match (two of them), so that the
// supervisor's read, the writer's idle wait, a Request's wait for its
// reply and an application's loop over Messages each come out as a row.
// It was written for issue 21, to find which hop of a round trip got
// slower between two builds: run it on a trace of each and compare the
// rows. It is its own module, so that golang.org/x/exp stays out of the
// library's dependencies.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"golang.org/x/exp/trace"
)

func main() {
	match := flag.String("match", "gochatter", "a goroutine's class is named by the frames of its blocking stack whose function contains this")
	minHops := flag.Int("min", 100, "leave out classes with fewer hand-offs")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: tracehops [-match S] [-min N] TRACE")
		os.Exit(2)
	}
	f, err := os.Open(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "tracehops:", err)
		os.Exit(1)
	}
	defer f.Close()
	classes, err := analyze(f, *match)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tracehops:", err)
		os.Exit(1)
	}
	write(os.Stdout, classes, *minHops)
}

// class is what the trace says of one class of goroutine.
type class struct {
	name string
	// hops counts wake-ups followed by running, waited their total time
	// in µs, and crossed those that ran on another thread than the one
	// that woke them.
	hops    int
	waited  float64
	crossed int
	// slices counts the times a goroutine of the class ran, ranFor their
	// total time in µs: a slice ends at any change of state, a syscall's
	// start included.
	slices int
	ranFor float64
}

// goroutineState is what analyze tracks of one goroutine.
type goroutineState struct {
	class     string
	readyAt   trace.Time
	readyBy   trace.ThreadID
	woken     bool
	runningAt trace.Time
	running   bool
}

// analyze reads a trace and gathers the classes' figures.
func analyze(r io.Reader, match string) (map[string]*class, error) {
	tr, err := trace.NewReader(r)
	if err != nil {
		return nil, err
	}
	goroutines := map[trace.GoID]*goroutineState{}
	classes := map[string]*class{}
	get := func(name string) *class {
		c := classes[name]
		if c == nil {
			c = &class{name: name}
			classes[name] = c
		}
		return c
	}
	for {
		ev, err := tr.ReadEvent()
		if err == io.EOF {
			return classes, nil
		}
		if err != nil {
			return nil, err
		}
		if ev.Kind() != trace.EventStateTransition {
			continue
		}
		st := ev.StateTransition()
		if st.Resource.Kind != trace.ResourceGoroutine {
			continue
		}
		id := st.Resource.Goroutine()
		g := goroutines[id]
		if g == nil {
			g = &goroutineState{}
			goroutines[id] = g
		}
		from, to := st.Goroutine()
		if from == trace.GoRunning && g.running {
			c := get(g.class)
			c.slices++
			c.ranFor += float64(ev.Time()-g.runningAt) / 1e3
			g.running = false
		}
		switch {
		case from == trace.GoRunning && to == trace.GoWaiting:
			g.class = className(st.Stack, match)
		case from == trace.GoWaiting && to == trace.GoRunnable:
			g.readyAt, g.readyBy, g.woken = ev.Time(), ev.Thread(), true
		case to == trace.GoNotExist:
			delete(goroutines, id)
			continue
		}
		if to == trace.GoRunning {
			g.runningAt, g.running = ev.Time(), true
			if g.woken {
				c := get(g.class)
				c.hops++
				c.waited += float64(ev.Time()-g.readyAt) / 1e3
				if ev.Thread() != g.readyBy {
					c.crossed++
				}
				g.woken = false
			}
		}
	}
}

// className names a goroutine by the two innermost frames of stack whose
// function contains match, without their package paths; "other" when none
// does.
func className(stack trace.Stack, match string) string {
	var names []string
	for f := range stack.Frames() {
		if !strings.Contains(f.Func, match) {
			continue
		}
		names = append(names, f.Func[strings.LastIndex(f.Func, "/")+1:])
		if len(names) == 2 {
			break
		}
	}
	if len(names) == 0 {
		return "other"
	}
	return strings.Join(names, " < ")
}

// write prints the classes with at least minHops hand-offs, most first.
func write(w io.Writer, classes map[string]*class, minHops int) {
	var list []*class
	for _, c := range classes {
		if c.hops >= minHops {
			list = append(list, c)
		}
	}
	slices.SortFunc(list, func(a, b *class) int { return b.hops - a.hops })
	fmt.Fprintf(w, "| class | hand-offs | woken→running, mean µs | on another thread | run slices | slice, mean µs |\n| --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, c := range list {
		fmt.Fprintf(w, "| %s | %d | %.2f | %d | %d | %.2f |\n", c.name, c.hops, c.waited/float64(c.hops), c.crossed, c.slices, c.ranFor/float64(max(c.slices, 1)))
	}
}
