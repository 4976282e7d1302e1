package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// readRSS returns the process's resident set size (VmRSS) in bytes.
func readRSS() (int64, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("reading RSS: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:"))
		if !ok {
			continue
		}
		fields := bytes.Fields(rest)
		if len(fields) != 2 || string(fields[1]) != "kB" {
			return 0, fmt.Errorf("reading RSS: unexpected line %q", sc.Text())
		}
		kb, err := strconv.ParseInt(string(fields[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("reading RSS: %w", err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("reading RSS: no VmRSS in /proc/self/status")
}

// fdSpare is the file descriptors kept aside for everything but the idle
// connections when the limit can be raised; fdMargin, beyond those already
// open, when it cannot.
const (
	fdSpare  = 1024
	fdMargin = 64
)

// raiseFileLimit raises RLIMIT_NOFILE so that conns connections, both of
// whose ends are in this process, fit. It returns how many connections fit
// and, if that is fewer than asked, a note saying why.
func raiseFileLimit(conns int) (int, string) {
	need := uint64(2*conns + fdSpare)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Sprintf("idle: cannot read RLIMIT_NOFILE (%v); skipping", err)
	}
	if lim.Cur >= need {
		return conns, ""
	}
	want := syscall.Rlimit{Cur: need, Max: max(lim.Max, need)}
	err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want)
	if err == nil {
		return conns, ""
	}
	if lim.Max > lim.Cur {
		// Not allowed past the hard limit: go as far as it.
		want = syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
			lim.Cur = lim.Max
		}
	}
	n := 0
	if spare := uint64(countFDs() + fdMargin); lim.Cur > spare {
		n = int(lim.Cur-spare) / 2
	}
	return n, fmt.Sprintf("idle: RLIMIT_NOFILE is %d and could not be raised to %d (%v); measuring %d connections instead of %d", lim.Cur, need, err, n, conns)
}
