package main

import (
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// report writes the markdown output.
type report struct {
	w     io.Writer
	notes []string
}

func (r *report) printf(format string, args ...any) { fmt.Fprintf(r.w, format, args...) }

func (r *report) header(cfg config) {
	mode := "full"
	if cfg.quick {
		mode = "quick"
	}
	r.printf("# gochatter and its peers\n\n")
	r.printf("- date: %s\n", time.Now().Format("2006-01-02 15:04:05 MST"))
	r.printf("- Go: %s %s/%s; CPUs: %d (GOMAXPROCS %d)\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	r.printf("- run: %s; each measurement bounded by %v of sending or its message count, whichever comes first\n", mode, cfg.dur)
	if cfg.trials > 1 {
		r.printf("- each timed row is the median of %d trials, the systems' order rotated each trial; \"range\" is the lowest–highest of the trials (idle memory is measured once)\n", cfg.trials)
	}
	r.printf("- a one-way sender may queue %s on its connection (gochatter's send buffer, raw's channel bound; `-queue`)\n", sizeText(queueBytes))
	r.printf("- both ends of every connection in this one process, over 127.0.0.1\n")
	r.printf("- ratios are arranged so that **> 1 means gochatter is better** (faster, or smaller)\n\n")
}

func (r *report) footer() {
	r.printf("## Notes\n\n")
	r.printf("- gochatter: default options, except pings off (`WithPingTimeout(0)`) in workloads 1–4; Integer and Bytes payloads in a Hat.Msg envelope; the receiver hands each message back with `Msg.Release` (which reuses the buffers of frames of 32 KiB or more, and does nothing for smaller ones).\n")
	r.printf("- gochatter-keep: gochatter whose receiver keeps every message (no `Msg.Release`), as most applications do: each large body is a fresh allocation, as in the raw row. Large payloads only.\n")
	r.printf("- grpc: one bidirectional stream of `wrapperspb.Int64Value`/`BytesValue` for one-way traffic, unary calls for round trips, default proto codec.\n")
	r.printf("- nats: embedded nats-server and nats.go; every message crosses the broker (two TCP hops, three in-process parties); one responder connection serves all requests.\n")
	r.printf("- raw: the same length-prefixed frames over one TCP connection with no protocol, shaped as a library connection is: a writer goroutine fed by a channel (1,024 bodies, at most %s of them, gochatter's send buffer in this run) coalesces frames into a `bufio.Writer`; the reader reads each body into a fresh slice and hands it to the consumer; bodies are the bare payload (8 bytes for an integer); round trips pipeline through a FIFO. The goals' ratios are to this row.\n", sizeText(queueBytes))
	r.printf("- raw-parse: the old, lower bar, for reference only: one-way frames written straight into a `bufio.Writer` by the sender and parsed in place by the reader, which hands nothing to anyone.\n")
	r.printf("- idle: ΔRSS, Δheap (`HeapInuse`) and Δstacks (`StackInuse`) after `runtime.GC` and `debug.FreeOSMemory`, before vs after opening, divided by connections; they include **both ends** of each connection (and, for nats, the broker's per-client state). Keepalive: gochatter pings every 20 s (default); grpc keepalive 20 s on both ends; nats defaults (2 min pings); raw none, 4 KiB buffers.\n")
	for _, n := range r.notes {
		r.printf("- %s\n", n)
	}
}

func (r *report) table(wl *workload, rows []row) {
	r.printf("## %s\n\n", wl.title)
	var base *row
	for i := range rows {
		if rows[i].system == "gochatter" && rows[i].err == nil {
			base = &rows[i]
		}
	}
	switch wl.kind {
	case throughputKind:
		r.printf("| system | %s | range | count | time | gochatter ÷ system |\n| --- | ---: | ---: | ---: | ---: | ---: |\n", wl.unit)
		rate := func(x *row) float64 {
			if wl.bytes {
				return float64(x.bytes) / 1e6 / x.elapsed.Seconds()
			}
			return float64(x.ops) / x.elapsed.Seconds()
		}
		for _, x := range rows {
			if x.err != nil {
				r.errorRow(x, 5)
				continue
			}
			ratio := "–"
			if base != nil {
				ratio = times(rate(base) / rate(&x))
			}
			r.printf("| %s | %s | %s | %s | %s | %s |\n", x.system, number(rate(&x)), spread(x), group(x.ops), x.elapsed.Round(time.Millisecond), ratio)
		}
	case latencyKind:
		r.printf("| system | p50 µs | p50 range | p99 µs | round trips | system ÷ gochatter, p50 | system ÷ gochatter, p99 |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, x := range rows {
			if x.err != nil {
				r.errorRow(x, 6)
				continue
			}
			r50, r99 := "–", "–"
			if base != nil {
				r50 = times(micros(percentile(x.lat, 50)) / micros(percentile(base.lat, 50)))
				r99 = times(micros(percentile(x.lat, 99)) / micros(percentile(base.lat, 99)))
			}
			r.printf("| %s | %s | %s | %s | %s | %s | %s |\n", x.system, number(micros(percentile(x.lat, 50))), spread(x), number(micros(percentile(x.lat, 99))), group(x.ops), r50, r99)
		}
	case memoryKind:
		r.printf("| system | connections | ΔRSS KiB/conn (both ends) | Δheap KiB/conn | Δstacks KiB/conn | goroutines/conn | system ÷ gochatter (ΔRSS) |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		perConn := func(b int64, n int) float64 { return float64(b) / 1024 / float64(n) }
		for _, x := range rows {
			if x.err != nil {
				r.errorRow(x, 6)
				continue
			}
			ratio := "–"
			if base != nil {
				ratio = times(perConn(x.rss, x.conns) / perConn(base.rss, base.conns))
			}
			r.printf("| %s | %s | %s | %s | %s | %s | %s |\n", x.system, group(int64(x.conns)), number(perConn(x.rss, x.conns)),
				number(perConn(x.heap, x.conns)), number(perConn(x.stacks, x.conns)), number(float64(x.goroutines)/float64(x.conns)), ratio)
		}
	}
	r.printf("\n")
}

func (r *report) errorRow(x row, cols int) {
	msg := strings.ReplaceAll(x.err.Error(), "\n", "; ")
	msg = strings.ReplaceAll(msg, "|", "/")
	r.printf("| %s | error: %s |%s\n", x.system, msg, strings.Repeat(" |", cols-1))
}

// spread formats the range of a row's trials, "–" for a single trial.
func spread(x row) string {
	if x.trials < 2 {
		return "–"
	}
	return number(x.lo) + "–" + number(x.hi)
}

// percentile returns the p-th percentile of sorted samples.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)*p/100, len(sorted)-1)]
}

func micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// times formats a ratio as "2.31×".
func times(x float64) string { return strconv.FormatFloat(x, 'f', 2, 64) + "×" }

// number formats a figure with three significant digits, grouping
// thousands.
func number(x float64) string {
	switch {
	case x >= 1000:
		return group(int64(x + 0.5))
	case x >= 100:
		return strconv.FormatFloat(x, 'f', 0, 64)
	case x >= 10:
		return strconv.FormatFloat(x, 'f', 1, 64)
	default:
		return strconv.FormatFloat(x, 'f', 2, 64)
	}
}

// group writes n with thousands separated by commas.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
