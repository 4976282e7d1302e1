package chaos

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
)

// RSS is the process's resident set, in bytes, from /proc/self/statm (0
// where there is none).
func RSS() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}

// Heap is the bytes of live and not yet swept heap objects.
func Heap() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// Goroutines counts the process's goroutines by the side label Do gave
// them; those without one count under "".
func Goroutines() map[Side]int {
	var buf bytes.Buffer
	// debug=1 groups goroutines by stack and labels: "N @ pcs" lines, each
	// followed by "# labels: {...}" when the group has labels.
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		return nil
	}
	counts := map[Side]int{}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	pending := 0
	flush := func(side Side) {
		if pending > 0 {
			counts[side] += pending
			pending = 0
		}
	}
	for sc.Scan() {
		line := sc.Text()
		if n, _, ok := strings.Cut(line, " @ "); ok && !strings.HasPrefix(line, "#") {
			flush("")
			pending, _ = strconv.Atoi(n)
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# labels: "); ok {
			var labels map[string]string
			_ = json.Unmarshal([]byte(rest), &labels)
			flush(Side(labels["side"]))
		}
	}
	flush("")
	return counts
}
