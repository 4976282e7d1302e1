package chatter_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

func TestAddressErrors(t *testing.T) {
	ctx := context.Background()
	cases := map[string]string{
		"127.0.0.1:1":             "missing scheme",
		"http://127.0.0.1:1":      `unknown scheme "http"`,
		"tcp+sbs://127.0.0.1":     "missing port",
		"tcp+sbs://::1:23012":     "brackets",
		"tcp+sbs://127.0.0.1:x":   `invalid port "x"`,
		"tcp+sbs://127.0.0.1:-1":  "invalid port",
		"ssl+sbs://127.0.0.1:1e9": "invalid port",
	}
	for addr, want := range cases {
		t.Run(addr, func(t *testing.T) {
			_, err := chatter.Connect(ctx, testRepo, addr)
			var ae *chatter.AddressError
			if !errors.Is(err, chatter.ErrAddress) || !errors.As(err, &ae) || !strings.Contains(err.Error(), want) {
				t.Errorf("Connect = %v, want an address error saying %q", err, want)
			}
			_, err = chatter.Listen(ctx, testRepo, addr, nil)
			if !errors.Is(err, chatter.ErrAddress) {
				t.Errorf("Listen = %v, want an address error", err)
			}
		})
	}
}

func TestConnectNothingListening(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = chatter.Connect(context.Background(), testRepo, "tcp+sbs://"+addr)
	var opErr *net.OpError
	if err == nil || !errors.As(err, &opErr) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Connect = %v, want a wrapped connection-refused dial error", err)
	}
}

func TestServerAddressesAndIPv6(t *testing.T) {
	ctx := context.Background()
	srv, err := chatter.Listen(ctx, testRepo, "tcp+sbs://127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeServer(t, srv)
	addrs := srv.Addresses()
	if len(addrs) != 1 || !strings.HasPrefix(addrs[0], "tcp+sbs://127.0.0.1:") || strings.HasSuffix(addrs[0], ":0") {
		t.Errorf("Addresses = %v, want one resolved tcp+sbs://127.0.0.1:PORT", addrs)
	}
	if !hasIPv6Loopback() {
		t.Skip("no IPv6 loopback")
	}
	srv6, err := chatter.Listen(ctx, testRepo, "tcp+sbs://[::1]:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeServer(t, srv6)
	if a := srv6.Addresses(); len(a) != 1 || !strings.HasPrefix(a[0], "tcp+sbs://[::1]:") {
		t.Errorf("IPv6 Addresses = %v", a)
	}
	c, err := chatter.Connect(ctx, testRepo, srv6.Addresses()[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.LocalAddress(), "tcp+sbs://[::1]:") || c.RemoteAddress() != srv6.Addresses()[0] {
		t.Errorf("addresses %s -> %s", c.LocalAddress(), c.RemoteAddress())
	}
	c.Close()
	shutdown(t, c.Wait)
}

func TestServerNameWithSeveralAddresses(t *testing.T) {
	ips, err := net.DefaultResolver.LookupIPAddr(context.Background(), "localhost")
	if err != nil || len(ips) < 2 || !hasIPv6Loopback() {
		t.Skip("localhost does not resolve to both loopbacks here")
	}
	srv, err := chatter.Listen(context.Background(), testRepo, "tcp+sbs://localhost:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeServer(t, srv)
	if len(srv.Addresses()) != len(ips) {
		t.Errorf("Addresses = %v for %v", srv.Addresses(), ips)
	}
}

func TestServerCloseClosesConnections(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	accepted := make(chan *chatter.Conn, 4)
	srv, err := chatter.Listen(ctx, testRepo, "tcp+sbs://127.0.0.1:0", func(_ context.Context, c *chatter.Conn) { accepted <- c })
	if err != nil {
		t.Fatal(err)
	}
	client, err := chatter.Connect(ctx, testRepo, srv.Addresses()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sc := <-accepted
	srv.Close()
	shutdown(t, srv.Wait)
	select {
	case <-sc.Done():
	default:
		t.Fatal("server closed before its connection")
	}
	if _, err := sc.Send(ctx, num(1)); !errors.Is(err, chatter.ErrClosed) {
		t.Errorf("Send on a closed server's connection = %v", err)
	}
	// The client sees the end.
	if _, err := client.Receive(ctx); !errors.Is(err, chatter.ErrClosed) {
		t.Errorf("client Receive = %v", err)
	}
	// And nothing listens any more.
	if _, err := chatter.Connect(ctx, testRepo, srv.Addresses()[0]); err == nil {
		t.Error("connected to a closed server")
	}
}

func TestServerKeepConnections(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	accepted := make(chan *chatter.Conn, 1)
	srv, err := chatter.Listen(ctx, testRepo, "tcp+sbs://127.0.0.1:0", func(_ context.Context, c *chatter.Conn) { accepted <- c }, chatter.WithKeepConnections(), chatter.WithPingTimeout(0))
	if err != nil {
		t.Fatal(err)
	}
	client, err := chatter.Connect(ctx, testRepo, srv.Addresses()[0], chatter.WithPingTimeout(0))
	if err != nil {
		t.Fatal(err)
	}
	sc := <-accepted
	closeServer(t, srv)
	send(t, client, num(5))
	if m := receive(t, sc); m.Data.Data != int64(5) {
		t.Errorf("got %+v", m)
	}
	client.Close()
	sc.Close()
	shutdown(t, client.Wait)
	shutdown(t, sc.Wait)
}

func TestTwoHundredConnections(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := chatter.Listen(ctx, testRepo, "tcp+sbs://127.0.0.1:0", func(_ context.Context, c *chatter.Conn) {
		for m := range c.Messages() {
			c.Send(ctx, m.Data, chatter.InConversation(m.Conv))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer closeServer(t, srv)
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := chatter.Connect(ctx, testRepo, srv.Addresses()[0])
			if err != nil {
				errs <- err
				return
			}
			defer func() { c.Close(); <-c.Done() }()
			for j := range 10 {
				v := int64(i*100 + j)
				r, err := c.Request(ctx, num(v))
				if err != nil {
					errs <- err
					return
				}
				if r.Data.Data != v {
					errs <- errors.New("wrong echo")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestTLSClientPEMFile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	serverPEM := writeSelfSigned(t, "server")
	clientPEM := writeSelfSigned(t, "client")
	peerCerts := make(chan int, 1)
	srv, err := chatter.Listen(ctx, testRepo, "ssl+sbs://127.0.0.1:0", func(_ context.Context, c *chatter.Conn) {
		m, err := c.Receive(ctx)
		if err == nil {
			c.Send(ctx, m.Data, chatter.InConversation(m.Conv))
		}
	}, chatter.WithTLSConfig(&tls.Config{
		Certificates: mustLoadPair(t, serverPEM),
		ClientAuth:   tls.RequestClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			peerCerts <- len(cs.PeerCertificates)
			return nil
		},
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer closeServer(t, srv)
	if !strings.HasPrefix(srv.Addresses()[0], "ssl+sbs://") {
		t.Errorf("address %s", srv.Addresses()[0])
	}
	c, err := chatter.Connect(ctx, testRepo, srv.Addresses()[0], chatter.WithPEMFile(clientPEM))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n := <-peerCerts; n != 1 {
		t.Errorf("server saw %d client certificates, want the PEM file's one", n)
	}
	r, err := c.Request(ctx, num(9))
	if err != nil || r.Data.Data != int64(9) {
		t.Errorf("request over TLS: %+v %v", r, err)
	}
	if !strings.HasPrefix(c.LocalAddress(), "ssl+sbs://") {
		t.Errorf("local address %s", c.LocalAddress())
	}
}

func TestTLSServerNeedsCertificate(t *testing.T) {
	_, err := chatter.Listen(context.Background(), testRepo, "ssl+sbs://127.0.0.1:0", nil)
	if err == nil {
		t.Fatal("ssl+sbs server without a certificate started")
	}
}

func mustLoadPair(t *testing.T, pemFile string) []tls.Certificate {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(pemFile, pemFile)
	if err != nil {
		t.Fatal(err)
	}
	return []tls.Certificate{cert}
}

// Listen's ctx: its values reach the handler's ctx, and its end does not
// stop the server. Connect's values reach the connection's context too.
func TestListenContext(t *testing.T) {
	type key struct{}
	ctx, cancel := context.WithCancel(context.WithValue(t.Context(), key{}, "listen"))
	values := make(chan any, 2)
	srv, err := chatter.Listen(ctx, testRepo, "tcp+sbs://127.0.0.1:0", func(ctx context.Context, c *chatter.Conn) {
		values <- ctx.Value(key{})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cancel()
	cctx := context.WithValue(t.Context(), key{}, "connect")
	c, err := chatter.Connect(cctx, testRepo, srv.Addresses()[0])
	if err != nil {
		t.Fatalf("Connect after Listen's ctx ended: %v", err)
	}
	defer c.Close()
	if v := c.Context().Value(key{}); v != "connect" {
		t.Errorf("the connection's ctx value %v, want Connect's", v)
	}
	select {
	case v := <-values:
		if v != "listen" {
			t.Errorf("the handler's ctx value %v, want Listen's", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no handler ran")
	}
	if err := srv.Err(); err != nil {
		t.Errorf("server Err after Listen's ctx ended: %v", err)
	}
}
