package chaos

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// ProxyHost runs toxiproxy in a child process — this test binary started
// again — for a test that measures this process: the soak's memory and
// goroutines are then gochatter's alone, and toxiproxy's own leaks (see
// toxiproxyLeaks) stay in the child. The child hosts any number of
// proxies and takes one command a line on its standard input, answering
// each on its standard output, tagged with the command's number; commands
// run concurrently, so that a toxiproxy that is slow to remove a toxic
// from a flow nobody reads does not hold up the other links. It ends when
// its input does.
type ProxyHost struct {
	cmd     *exec.Cmd
	in      io.WriteCloser
	done    chan struct{} // the child has ended
	readErr chan error    // the reply reader has ended

	mu      sync.Mutex
	next    int // proxy ids, and command numbers
	waiting map[int]chan hostReply
}

const proxyHostEnv = "GOCHATTER_CHAOS_PROXY_HOST"

func init() {
	if os.Getenv(proxyHostEnv) != "" {
		os.Exit(serveProxyHost(os.Stdin, os.Stdout))
	}
}

type hostCmd struct {
	Seq      int    `json:"seq"`
	Op       string `json:"op"` // new, add, remove, start, stop
	ID       int    `json:"id"`
	Name     string `json:"name,omitempty"`
	Upstream string `json:"upstream,omitempty"`
	Toxic    string `json:"toxic,omitempty"`
}

type hostReply struct {
	Seq  int    `json:"seq"`
	Addr string `json:"addr,omitempty"`
	Err  string `json:"err,omitempty"`
}

// serveProxyHost is the child's main.
func serveProxyHost(r io.Reader, w io.Writer) int {
	var mu sync.Mutex // proxies, and w
	proxies := map[int]*localProxy{}
	enc := json.NewEncoder(w)
	var wg sync.WaitGroup
	run := func(c hostCmd) {
		defer wg.Done()
		mu.Lock()
		p := proxies[c.ID]
		mu.Unlock()
		rep := hostReply{Seq: c.Seq}
		var err error
		switch {
		case c.Op == "new":
			if p, err = newLocalProxy(c.Name, c.Upstream); err == nil {
				mu.Lock()
				proxies[c.ID] = p
				mu.Unlock()
				rep.Addr = p.addr()
			}
		case p == nil:
			err = fmt.Errorf("no proxy %d", c.ID)
		case c.Op == "add":
			err = p.addToxic(c.Toxic)
		case c.Op == "remove":
			err = p.removeToxic(c.Name)
		case c.Op == "start":
			err = p.start()
		case c.Op == "stop":
			p.stop()
		default:
			err = fmt.Errorf("unknown op %q", c.Op)
		}
		if err != nil {
			rep.Err = err.Error()
		}
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(rep)
	}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var c hostCmd
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			fmt.Fprintln(os.Stderr, "proxy host:", err)
			return 2
		}
		wg.Add(1)
		go run(c)
	}
	wg.Wait()
	for _, p := range proxies {
		p.stop()
	}
	return 0
}

// StartProxyHost starts the child process.
func StartProxyHost() (*ProxyHost, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), proxyHostEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	h := &ProxyHost{cmd: cmd, in: in, done: make(chan struct{}), readErr: make(chan error, 1), waiting: map[int]chan hostReply{}}
	go func() {
		h.readErr <- h.readReplies(out)
		cmd.Wait()
		close(h.done)
	}()
	return h, nil
}

// readReplies hands each reply to the call waiting for it.
func (h *ProxyHost) readReplies(out io.Reader) error {
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var rep hostReply
		if err := json.Unmarshal(sc.Bytes(), &rep); err != nil {
			return err
		}
		h.mu.Lock()
		ch := h.waiting[rep.Seq]
		delete(h.waiting, rep.Seq)
		h.mu.Unlock()
		if ch != nil {
			ch <- rep
		}
	}
	return sc.Err()
}

// Close ends the child and waits for it.
func (h *ProxyHost) Close() error {
	h.in.Close()
	if !within(h.done, 10*time.Second) {
		h.cmd.Process.Kill()
		<-h.done
		return errors.New("chaos: the proxy host did not end within 10 s")
	}
	select {
	case err := <-h.readErr:
		return err
	default:
		return nil // returned by an earlier Close
	}
}

func (h *ProxyHost) call(c hostCmd) (hostReply, error) {
	ch := make(chan hostReply, 1)
	h.mu.Lock()
	h.next++
	c.Seq = h.next
	h.waiting[c.Seq] = ch
	b, err := json.Marshal(c)
	if err == nil {
		_, err = h.in.Write(append(b, '\n'))
	}
	h.mu.Unlock()
	if err != nil {
		return hostReply{}, fmt.Errorf("chaos: proxy host: %w", err)
	}
	select {
	case rep := <-ch:
		if rep.Err != "" {
			return rep, errors.New(rep.Err)
		}
		return rep, nil
	case <-h.done:
		return hostReply{}, errors.New("chaos: proxy host ended")
	}
}

// NewLink starts a proxy in the child, in front of upstream.
func (h *ProxyHost) NewLink(name, upstream string) (*Link, error) {
	h.mu.Lock()
	h.next++
	id := h.next
	h.mu.Unlock()
	rep, err := h.call(hostCmd{Op: "new", ID: id, Name: name, Upstream: upstream})
	if err != nil {
		return nil, err
	}
	return &Link{name: name, proxy: &remoteProxy{h: h, id: id, address: rep.Addr}, toxics: make(map[string]Toxic)}, nil
}

// remoteProxy is a proxy in the child.
type remoteProxy struct {
	h       *ProxyHost
	id      int
	address string
}

func (r *remoteProxy) addr() string { return r.address }
func (r *remoteProxy) addToxic(json string) error {
	_, err := r.h.call(hostCmd{Op: "add", ID: r.id, Toxic: json})
	return err
}
func (r *remoteProxy) removeToxic(name string) error {
	_, err := r.h.call(hostCmd{Op: "remove", ID: r.id, Name: name})
	return err
}
func (r *remoteProxy) start() error {
	_, err := r.h.call(hostCmd{Op: "start", ID: r.id})
	return err
}
func (r *remoteProxy) stop() { _, _ = r.h.call(hostCmd{Op: "stop", ID: r.id}) }
