package test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
	"go.uber.org/goleak"
)

// The fault tests: peers that die, reset, freeze or send hostile payloads,
// each checked for a readable error on the surviving side, no goroutine
// left behind and a server that keeps serving.

// A child process of the fault tests is this test binary started again with
// helperEnv naming what it should do; init runs it before TestMain (which
// would build chatter-echo) and exits.
const (
	helperEnv     = "GOCHATTER_FAULT_HELPER"
	helperAddrEnv = "GOCHATTER_FAULT_HELPER_ADDR"
)

func init() {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode, os.Getenv(helperAddrEnv)))
	}
}

// runHelper is the child process's main.
func runHelper(mode, addr string) int {
	switch mode {
	case "half-frame":
		// One whole message, then the first half of a second one; then wait
		// to be killed.
		nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer nc.Close()
		whole := legacyFrame(1, "", "Integer", sbs.AppendInteger(nil, 1))
		next := legacyFrame(2, "", "Integer", sbs.AppendInteger(nil, 2))
		if _, err := nc.Write(append(whole, next[:len(next)/2]...)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("ready")
		waitStdinOrTimeout()
		return 0
	}
	switch mode {
	case "scale-clients":
		return scaleClients(addr)
	case "emfile-server":
		return emfileServer()
	}
	fmt.Fprintf(os.Stderr, "unknown helper mode %q\n", mode)
	return 2
}

// helperProcess is a running child process of the tests: this test
// binary started again with helperEnv naming what it should do.
type helperProcess struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{} // closed once the process has ended and been waited for
	err    error         // cmd.Wait's result, set before done is closed
}

// startHelper starts this test binary as a helper in mode, with addr to
// connect to, and returns its first line of output. It is killed and waited
// for at the end of the test if it still runs; its standard input closes
// then, which helpers take as their end.
func startHelper(t *testing.T, mode, addr string) (*helperProcess, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), processTimeout)
	r, w, err := os.Pipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	h := &helperProcess{stderr: new(syncBuffer), done: make(chan struct{})}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperAddrEnv+"="+addr)
	cmd.Stdout, cmd.Stderr = w, h.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	cmd.WaitDelay = time.Second
	err = cmd.Start()
	w.Close()
	if err != nil {
		cancel()
		r.Close()
		t.Fatal(err)
	}
	h.cmd = cmd
	go func() {
		h.err = cmd.Wait()
		close(h.done)
	}()
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		<-h.done
		cancel()
		r.Close()
	})
	r.SetReadDeadline(time.Now().Add(processTimeout))
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatalf("helper %s: read %q, %v; stderr:\n%s", mode, line, err, h.stderr.String())
	}
	return h, line
}

// startFaultHelper starts a helper that connects to addr and waits for its
// "ready" line.
func startFaultHelper(t *testing.T, mode, addr string) *helperProcess {
	t.Helper()
	h, line := startHelper(t, mode, addr)
	if line != "ready\n" {
		t.Fatalf("helper %s: read %q, want ready; stderr:\n%s", mode, line, h.stderr.String())
	}
	return h
}

// kill sends SIGKILL and waits for the process to end.
func (h *helperProcess) kill(t *testing.T) {
	t.Helper()
	if err := h.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		t.Fatal("helper process did not end after SIGKILL")
	}
}

// faultServer is an in-process server that answers requests and reports
// the connections it accepts and the other messages they receive.
type faultServer struct {
	srv   *chatter.Server
	addr  string
	conns chan *chatter.Conn
	msgs  chan chatter.Msg
}

func startFaultServer(t *testing.T, repo *sbs.Repository, opts ...chatter.Option) *faultServer {
	t.Helper()
	s := &faultServer{conns: make(chan *chatter.Conn, 16), msgs: make(chan chatter.Msg, 16)}
	s.srv = listenWith(t, repo, func(ctx context.Context, c *chatter.Conn) {
		select {
		case s.conns <- c:
		default:
		}
		answerRequests(ctx, c, s.msgs)
	}, opts...)
	s.addr = s.srv.Addresses()[0]
	return s
}

// accepted returns the next connection the server accepted.
func (s *faultServer) accepted(t *testing.T) *chatter.Conn {
	t.Helper()
	select {
	case c := <-s.conns:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("the server accepted no connection")
		return nil
	}
}

// received returns the next message that was not a request.
func (s *faultServer) received(t *testing.T) chatter.Msg {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("the server received no message")
		return chatter.Msg{}
	}
}

// stillServes checks that a new client's request is answered.
func (s *faultServer) stillServes(t *testing.T, repo *sbs.Repository, opts ...chatter.Option) {
	t.Helper()
	c := connectTo(t, repo, s.addr, opts...)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := requestEcho(ctx, c, 42); err != nil {
		t.Errorf("the server no longer serves: %v", err)
	}
}

// expectEnded waits for c to end by itself and checks that its error and
// what Send and Receive return afterwards all say why.
func expectEnded(t *testing.T, c *chatter.Conn, match func(error) bool, want string) error {
	t.Helper()
	waitEnded(t, c, 10*time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// What was read before the end is still delivered; then, after the
	// reply grace, the connection closes by itself.
	for {
		if _, err := c.Receive(ctx); err != nil {
			break
		}
	}
	if err := c.Wait(ctx); ctx.Err() != nil {
		t.Fatalf("connection's goroutines did not end: %v", err)
	}
	err := c.Err()
	if !match(err) {
		t.Errorf("Err() = %v, want %s", err, want)
	}
	if _, serr := c.Send(ctx, intPayload(1)); !errors.Is(serr, chatter.ErrClosed) || !match(serr) {
		t.Errorf("Send after the end = %v, want ErrClosed and %s", serr, want)
	}
	if _, rerr := c.Receive(ctx); !errors.Is(rerr, chatter.ErrClosed) {
		t.Errorf("Receive after the end = %v, want ErrClosed", rerr)
	}
	return err
}

// verifyNoLeaks checks, after every other cleanup of the test, that no
// goroutine was left behind.
func verifyNoLeaks(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// TestKilledPeerMidFrame: a peer process killed after sending half a frame.
// The kernel closes its socket with a FIN after the bytes it sent, so the
// server reads the half frame and then the end of the stream.
func TestKilledPeerMidFrame(t *testing.T) {
	verifyNoLeaks(t)
	s := startFaultServer(t, chatter.SBSRepository)
	child := startFaultHelper(t, "half-frame", tcpHostPort(t, s.addr))
	conn := s.accepted(t)
	if m := s.received(t); m.Data.Data != int64(1) {
		t.Fatalf("the whole frame before the half arrived as %+v", m.Data)
	}
	child.kill(t)
	err := expectEnded(t, conn, func(err error) bool {
		return errors.Is(err, chatter.ErrProtocol) && errors.Is(err, io.ErrUnexpectedEOF)
	}, "ErrProtocol wrapping io.ErrUnexpectedEOF")
	t.Logf("server connection ended with: %v", err)
	if conn.Stats().MessagesIn != 1 {
		t.Errorf("MessagesIn = %d, want 1", conn.Stats().MessagesIn)
	}
	s.stillServes(t, chatter.SBSRepository)
}

// TestResetMidFrame: a peer that sends a frame and a half and then resets
// the connection (SO_LINGER 0). Depending on when the RST overtakes the
// reader, the server sees the reset or the truncated frame; either way the
// connection ends with that reason and the server serves on.
func TestResetMidFrame(t *testing.T) {
	verifyNoLeaks(t)
	s := startFaultServer(t, chatter.SBSRepository)
	nc, err := net.DialTimeout("tcp", tcpHostPort(t, s.addr), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	conn := s.accepted(t)
	whole := legacyFrame(1, "", "Integer", sbs.AppendInteger(nil, 1))
	if _, err := nc.Write(whole); err != nil {
		t.Fatal(err)
	}
	s.received(t) // the server is reading
	next := legacyFrame(2, "", "Integer", sbs.AppendInteger(nil, 2))
	if _, err := nc.Write(next[:len(next)/2]); err != nil {
		t.Fatal(err)
	}
	if err := nc.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	if err := nc.Close(); err != nil {
		t.Fatal(err)
	}
	err = expectEnded(t, conn, func(err error) bool {
		return errors.Is(err, syscall.ECONNRESET) ||
			(errors.Is(err, chatter.ErrProtocol) && errors.Is(err, io.ErrUnexpectedEOF))
	}, "ECONNRESET or ErrProtocol wrapping io.ErrUnexpectedEOF")
	t.Logf("server connection ended with: %v", err)
	s.stillServes(t, chatter.SBSRepository)
}

// TestFrozenPeerPingTimeout: a chatter-echo serve process stopped with
// SIGSTOP keeps its socket open but answers nothing; the client's keepalive
// must notice within two ping periods (the next ping, then its timeout).
func TestFrozenPeerPingTimeout(t *testing.T) {
	verifyNoLeaks(t)
	const ping = 500 * time.Millisecond
	srv := startServe(t, "tcp+sbs://127.0.0.1:0")
	// Runs before startServe's cleanup kills it: a stopped process is
	// killed all the same, but leave it runnable.
	t.Cleanup(func() { srv.cmd.Process.Signal(syscall.SIGCONT) })
	c := connectTo(t, chatter.SBSRepository, srv.addr, chatter.WithPingTimeout(ping))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := requestEcho(ctx, c, 7); err != nil {
		t.Fatal(err)
	}
	// Let a few pings be answered first.
	time.Sleep(3 * ping)
	if err := c.Err(); err != nil {
		t.Fatalf("connection ended before the peer froze: %v", err)
	}
	if st := c.Stats(); st.PongsIn == 0 {
		t.Fatalf("no pong in %v with a ping timeout of %v: %+v", 3*ping, ping, st)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	waitEnded(t, c, 10*time.Second)
	detected := time.Since(frozen)
	if !errors.Is(c.Err(), chatter.ErrPingTimeout) {
		t.Errorf("Err() = %v, want ErrPingTimeout", c.Err())
	}
	t.Logf("frozen peer detected after %v (ping timeout %v; pings out %d, pongs in %d)",
		detected.Round(time.Millisecond), ping, c.Stats().PingsOut, c.Stats().PongsIn)
	if limit := 2*ping + 300*time.Millisecond; detected > limit {
		t.Errorf("frozen peer detected after %v, want within %v", detected, limit)
	}
}

// deepPayload is a Load.Deep value nested levels deep: node([node([...
// leaf(0)])]), two bytes a level.
func deepPayload(levels int) []byte {
	b := make([]byte, 0, 2*levels+2)
	for range levels {
		b = append(b, 0x81, 0x81) // union index 1 (node), array count 1
	}
	return append(b, 0x80, 0x80) // union index 0 (leaf), Integer 0
}

// TestDeeplyNestedPayload: a hostile peer sends a payload of a recursive
// type nested 100,000 levels deep (200 KB). The decoder's depth limit must
// refuse it without exhausting the stack: the legacy wire ends the
// connection with ErrProtocol wrapping sbs.ErrTooDeep, the current wire
// delivers the message with DecodeErr set and carries on.
func TestDeeplyNestedPayload(t *testing.T) {
	const levels = 100_000
	payload := deepPayload(levels)
	// The same schema shape decodes a shallow value, so the refusal is the
	// depth's, not the encoding's.
	if _, err := loadRepo.Decode("Load", "Deep", deepPayload(10)); err != nil {
		t.Fatalf("a value 10 levels deep does not decode: %v", err)
	}
	t.Run("legacy", func(t *testing.T) {
		verifyNoLeaks(t)
		s := startFaultServer(t, loadRepo)
		nc, err := net.DialTimeout("tcp", tcpHostPort(t, s.addr), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		go io.Copy(io.Discard, nc)
		conn := s.accepted(t)
		if _, err := nc.Write(legacyFrame(1, "Load", "Deep", payload)); err != nil {
			t.Fatal(err)
		}
		err = expectEnded(t, conn, func(err error) bool {
			return errors.Is(err, chatter.ErrProtocol) && errors.Is(err, sbs.ErrTooDeep)
		}, "ErrProtocol wrapping sbs.ErrTooDeep")
		logDeepError(t, err)
		s.stillServes(t, loadRepo)
	})
	t.Run("current", func(t *testing.T) {
		verifyNoLeaks(t)
		s := startFaultServer(t, loadRepo, chatter.WithWire(chatter.WireCurrent))
		nc, err := net.DialTimeout("tcp", tcpHostPort(t, s.addr), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		go io.Copy(io.Discard, nc)
		conn := s.accepted(t)
		if _, err := nc.Write(currentFrame(1, "Load", "Deep", payload)); err != nil {
			t.Fatal(err)
		}
		m := s.received(t)
		if !errors.Is(m.DecodeErr, sbs.ErrTooDeep) {
			t.Errorf("DecodeErr = %v, want sbs.ErrTooDeep", m.DecodeErr)
		}
		if m.Data.Data != nil || len(m.Raw) != len(payload) {
			t.Errorf("delivered Data %T, %d raw bytes; want nil and the %d payload bytes", m.Data.Data, len(m.Raw), len(payload))
		}
		logDeepError(t, m.DecodeErr)
		if err := conn.Err(); err != nil {
			t.Errorf("connection ended: %v", err)
		}
		s.stillServes(t, loadRepo, chatter.WithWire(chatter.WireCurrent))
	})
}

// logDeepError reports where the depth limit struck and how long the
// error's text is (it names the path down to the failing field).
func logDeepError(t *testing.T, err error) {
	t.Helper()
	var de *sbs.DataError
	if !errors.As(err, &de) {
		t.Errorf("%v is not an *sbs.DataError", err)
		return
	}
	text := err.Error()
	t.Logf("refused at offset %d; error text %d bytes, path %d bytes: %s...%s",
		de.Offset, len(text), len(de.Path), text[:min(len(text), 60)], text[max(0, len(text)-40):])
	if strings.Count(de.Path, "node") == 0 {
		t.Errorf("path %q does not lead into the nesting", de.Path[:min(len(de.Path), 80)])
	}
}
