package main

// -many N: N idle gochatter connections to one server process, the
// clients in child processes (this machine allows 20,000 descriptors per
// process, so neither end may hold both sides of all of them). It
// reports the server's RSS per connection, and whether accepting,
// keepalive and Close stay prompt while it holds them all:
//
//   - accept: how long the server took to have all N open, and the round
//     trip of a new client's request once it has them;
//   - keepalive: every connection pings with a short period; after a few
//     periods, how many pings the server sent and had answered, and how
//     many connections ended (none should);
//   - Close: how long the server's Close takes with all N open, and how
//     long until the clients have seen every connection end.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

const (
	// manyPing is the ping period on both ends: short, so that the hold
	// sees several keepalive rounds.
	manyPing = 5 * time.Second
	// manyHold is how long all connections stay open before Close.
	manyHold = 3 * manyPing
	// manyPerProcess is the most connections one client process opens.
	manyPerProcess = 9_500
	// manySpare is the descriptors a process needs beyond its connections.
	manySpare = 256
)

// runMany measures n idle connections to this process from child
// processes, and writes the report to w.
func runMany(ctx context.Context, w io.Writer, n int) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := raiseNoFile(n + manySpare); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	var (
		mu    sync.Mutex
		conns []*chatter.Conn
	)
	opened := make(chan struct{}, n)
	srv, err := listenChatter(ctx, func(_ context.Context, c *chatter.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		opened <- struct{}{}
		for range c.Messages() {
		}
	}, chatter.WithPingTimeout(manyPing), chatter.WithMaxConnections(n+16))
	if err != nil {
		return err
	}
	defer srv.Close()
	addr := srv.Addresses()[0]
	before, err := settledRSS()
	if err != nil {
		return err
	}

	start := time.Now()
	var kids []*manyChild
	defer func() {
		for _, k := range kids {
			k.kill()
		}
	}()
	for left := n; left > 0; left -= manyPerProcess {
		k, err := startManyChild(addr, min(left, manyPerProcess))
		if err != nil {
			return err
		}
		kids = append(kids, k)
	}
	if err := waitN(ctx, opened, n); err != nil {
		return fmt.Errorf("accepting %d connections: %w", n, err)
	}
	acceptTime := time.Since(start)
	for _, k := range kids {
		if err := k.waitLine(ctx, "ready"); err != nil {
			return err
		}
	}

	// A new client while the server holds them all.
	rtt, err := oneRequest(ctx, addr)
	if err != nil {
		return fmt.Errorf("a new client's request: %w", err)
	}
	after, err := settledRSS()
	if err != nil {
		return err
	}

	// Keepalive: hold, then count.
	select {
	case <-time.After(manyHold):
	case <-ctx.Done():
		return ctx.Err()
	}
	var pingsOut, pongsIn, pingsIn uint64
	ended := -1 // the probe's connection, closed by its client, is not counted
	mu.Lock()
	for _, c := range conns {
		st := c.Stats()
		pingsOut += st.PingsOut
		pongsIn += st.PongsIn
		pingsIn += st.PingsIn
		select {
		case <-c.Done():
			ended++
		default:
		}
	}
	mu.Unlock()

	closeStart := time.Now()
	closeErr := srv.Close()
	closeTime := time.Since(closeStart)
	for _, k := range kids {
		if err := k.waitLine(ctx, "ended"); err != nil {
			return err
		}
	}
	clientsTime := time.Since(closeStart)

	perConn := float64(after-before) / float64(n) / 1024
	fmt.Fprintf(w, "# %d idle gochatter connections to one server process\n\n", n)
	fmt.Fprintf(w, "- date: %s; Go %s; GOMAXPROCS %d\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.Version(), runtime.GOMAXPROCS(0))
	fmt.Fprintf(w, "- clients in %d child processes; ping period %v on both ends; held %v\n", len(kids), manyPing, manyHold)
	fmt.Fprintf(w, "- server RSS: %.1f MiB before, %.1f MiB with all open: %.2f KiB per server-side connection (its handler goroutine included)\n",
		float64(before)/(1<<20), float64(after)/(1<<20), perConn)
	fmt.Fprintf(w, "- accept: all %d open %v after the clients started; a new client's request then took %v\n", n, acceptTime.Round(time.Millisecond), rtt.Round(time.Microsecond))
	fmt.Fprintf(w, "- keepalive over %v: the server sent %d pings and received %d pongs (%.1f per connection), answered %d of the clients' pings; %d connections ended meanwhile\n",
		manyHold, pingsOut, pongsIn, float64(pongsIn)/float64(n), pingsIn, ended)
	fmt.Fprintf(w, "- Close: the server's Close returned in %v (err %v); the clients saw every connection end %v after it began\n",
		closeTime.Round(time.Millisecond), closeErr, clientsTime.Round(time.Millisecond))
	return nil
}

// settledRSS is the process's RSS after a collection that returns what it
// can to the system.
func settledRSS() (int64, error) {
	runtime.GC()
	debug.FreeOSMemory()
	return readRSS()
}

// oneRequest makes one request on a new connection and returns its round
// trip.
func oneRequest(ctx context.Context, addr string) (time.Duration, error) {
	c, err := chatter.Connect(ctx, benchRepo, addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	start := time.Now()
	if _, err := c.Send(ctx, chatter.Data{Module: "Bench", Type: "Num", Data: int64(1)}); err != nil {
		return 0, err
	}
	if err := c.Drain(ctx); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// manyChild is a client process holding connections.
type manyChild struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines *bufio.Scanner
}

func startManyChild(addr string, n int) (*manyChild, error) {
	cmd := exec.Command(os.Args[0], "-many-client", addr, "-many", strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &manyChild{cmd: cmd, stdin: stdin, lines: bufio.NewScanner(stdout)}, nil
}

// waitLine waits for the child to print want.
func (k *manyChild) waitLine(ctx context.Context, want string) error {
	got := make(chan error, 1)
	go func() {
		for k.lines.Scan() {
			if k.lines.Text() == want {
				got <- nil
				return
			}
		}
		got <- fmt.Errorf("client process ended before %q: %v", want, k.lines.Err())
	}()
	select {
	case err := <-got:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (k *manyChild) kill() {
	k.stdin.Close()
	done := make(chan struct{})
	go func() { k.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		k.cmd.Process.Kill()
		<-done
	}
}

// manyClient is the child process: it opens n connections to addr, says
// "ready", says "ended" once every one has ended (the server closed
// them), and exits when its stdin closes.
func manyClient(addr string, n int) error {
	if err := raiseNoFile(n + manySpare); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	ctx := context.Background()
	clients, err := dialAll(ctx, n, func(ctx context.Context) (*chatter.Conn, error) {
		return chatter.Connect(ctx, benchRepo, addr, chatter.WithPingTimeout(manyPing))
	})
	if err != nil {
		for _, c := range clients {
			c.Close()
		}
		return err
	}
	fmt.Println("ready")
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() { <-c.Done() })
	}
	wg.Wait()
	fmt.Println("ended")
	var errs []error
	for _, c := range clients {
		if err := c.Close(); err != nil && !errors.Is(err, chatter.ErrClosed) {
			errs = append(errs, err)
		}
	}
	io.Copy(io.Discard, os.Stdin)
	return errors.Join(errs...)
}

// raiseNoFile raises this process's RLIMIT_NOFILE to at least need
// descriptors, within the hard limit.
func raiseNoFile(need int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur >= uint64(need) {
		return nil
	}
	if lim.Max < uint64(need) {
		return fmt.Errorf("%d descriptors needed, the hard limit is %d", need, lim.Max)
	}
	lim.Cur = uint64(need)
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}
