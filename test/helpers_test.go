package test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// processTimeout bounds every process a test starts.
const processTimeout = 60 * time.Second

// syncBuffer is a bytes.Buffer safe for a writer and readers at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// result is how a finished chatter-echo ended.
type result struct {
	code           int
	stdout, stderr string
}

// runChatterEcho runs chatter-echo with args and stdin to its end.
func runChatterEcho(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), processTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, chatterEcho, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("chatter-echo %s: did not end within %v; stderr:\n%s", strings.Join(args, " "), processTimeout, stderr.String())
	}
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("chatter-echo %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// server is a running chatter-echo serve.
type server struct {
	addr   string // the first address it listens on
	cmd    *exec.Cmd
	stdout *bufio.Reader
	stderr *syncBuffer
	done   chan struct{} // closed when the process has ended
	err    error         // cmd.Wait's result, set before done is closed
}

// startServe starts chatter-echo serve with args and waits until it listens.
// The process is killed at the end of the test if it still runs.
func startServe(t *testing.T, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), processTimeout)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{stdout: bufio.NewReader(r), stderr: new(syncBuffer), done: make(chan struct{})}
	s.cmd = exec.CommandContext(ctx, chatterEcho, append([]string{"serve"}, args...)...)
	s.cmd.Stdout, s.cmd.Stderr = w, s.stderr
	err = s.cmd.Start()
	w.Close()
	if err != nil {
		cancel()
		r.Close()
		t.Fatal(err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.done
		cancel()
		r.Close()
	})

	r.SetReadDeadline(time.Now().Add(processTimeout))
	line, err := s.stdout.ReadString('\n')
	if err != nil {
		t.Fatalf("serve %s: reading its address: %v; stderr:\n%s", strings.Join(args, " "), err, s.stderr.String())
	}
	addr, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "listening on ")
	if !ok {
		t.Fatalf("serve printed %q, want listening on ADDRESS", line)
	}
	s.addr = addr
	return s
}

// stop sends sig to the server and returns its exit status and what it
// printed on stdout after its address.
func (s *server) stop(t *testing.T, sig os.Signal) (code int, stdout string) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(processTimeout):
		t.Fatalf("serve did not stop after %v", sig)
	}
	rest, err := io.ReadAll(s.stdout)
	if err != nil {
		t.Fatal(err)
	}
	var ee *exec.ExitError
	switch {
	case errors.As(s.err, &ee):
		code = ee.ExitCode()
	case s.err != nil:
		t.Fatal(s.err)
	}
	return code, string(rest)
}

// listen starts an in-process Chatter server whose connections run
// onConn; it is shut down at the end of the test.
func listen(t *testing.T, onConn chatter.Handler) string {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := chatter.Listen(t.Context(), chatter.SBSRepository, "tcp+sbs://127.0.0.1:0", onConn, chatter.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeServer(t, srv) })
	return srv.Addresses()[0]
}

// listenMute starts a TCP server that accepts connections and never
// writes to them; it is closed at the end of the test.
func listenMute(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
	})
	return "tcp+sbs://" + l.Addr().String()
}

// writeFiles writes files (relative path to content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// writeSelfSigned writes a throwaway certificate for 127.0.0.1, ::1 and
// localhost and its key to one PEM file, and returns its path.
func writeSelfSigned(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "chatter-echo test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	data = append(data, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})...)
	path := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// ipv6Loopback reports whether ::1 can be listened on.
func ipv6Loopback() bool {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// oneLine reports whether s is exactly one line.
func oneLine(s string) bool {
	return strings.HasSuffix(s, "\n") && strings.Count(s, "\n") == 1
}
