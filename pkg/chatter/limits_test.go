package chatter_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

func TestFrameReadTimeoutClosesTrickler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		c, err := chatter.NewConn(a, testRepo, chatter.WithPingTimeout(0), chatter.WithFrameReadTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		go io.Copy(io.Discard, b)
		// A whole frame is fine however long the connection was idle before.
		time.Sleep(time.Minute)
		b.Write(frameOf(t, "Test", "Num", []byte{0x81}))
		if m := receive(t, c); m.Data.Data != int64(1) {
			t.Fatalf("got %+v", m)
		}
		// A header, then one byte a second.
		start := time.Now()
		trickled := make(chan struct{})
		go func() {
			defer close(trickled)
			frame := frameOf(t, "Test", "Num", []byte{0x82})
			for _, x := range frame {
				if _, err := b.Write([]byte{x}); err != nil {
					return
				}
				time.Sleep(time.Second)
			}
		}()
		waitEnded(t, c)
		if !errors.Is(c.Err(), chatter.ErrFrameTimeout) {
			t.Errorf("Err = %v, want ErrFrameTimeout", c.Err())
		}
		if d := time.Since(start); d > 6*time.Second {
			t.Errorf("closed after %v, want within the 5s timeout of the first byte", d)
		}
		c.Close()
		<-c.Done()
		b.Close()
		<-trickled
	})
}

func TestFrameReadTimeoutDoesNotDelayClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		c, err := chatter.NewConn(a, testRepo, chatter.WithPingTimeout(0), chatter.WithFrameReadTimeout(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		go io.Copy(io.Discard, b)
		b.Write([]byte{1, 20, 0x81}) // part of a frame: the timer is armed
		synctest.Wait()
		start := time.Now()
		c.Close()
		<-c.Done()
		if d := time.Since(start); d != 0 {
			t.Errorf("Close took %v with a frame timer armed", d)
		}
		b.Close()
	})
}

func TestMaxConnections(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := chatter.Listen(ctx, testRepo, "tcp+sbs://127.0.0.1:0", func(_ context.Context, c *chatter.Conn) {
		for m := range c.Messages() {
			c.Send(ctx, m.Data, chatter.InConversation(m.Conv))
		}
	}, chatter.WithMaxConnections(3))
	if err != nil {
		t.Fatal(err)
	}
	defer closeServer(t, srv)
	var conns []*chatter.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
			shutdown(t, c.Wait)
		}
	}()
	for range 3 {
		c, err := chatter.Connect(ctx, testRepo, srv.Addresses()[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Request(ctx, num(1)); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// The fourth is accepted and closed at once; the others keep working.
	extra, err := chatter.Connect(ctx, testRepo, srv.Addresses()[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := extra.Request(ctx, num(2)); !errors.Is(err, chatter.ErrClosed) {
		t.Errorf("request over the limit = %v, want the connection closed", err)
	}
	extra.Close()
	shutdown(t, extra.Wait)
	for _, c := range conns {
		if r, err := c.Request(ctx, num(3)); err != nil || r.Data.Data != int64(3) {
			t.Errorf("connection under the limit: %v %v", r.Data.Data, err)
		}
	}
	if n := srv.OpenConnections(); n != 3 {
		t.Errorf("OpenConnections = %d", n)
	}
	// Closing one frees a place.
	conns[0].Close()
	shutdown(t, conns[0].Wait)
	deadline := time.Now().Add(5 * time.Second)
	for srv.OpenConnections() != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	c, err := chatter.Connect(ctx, testRepo, srv.Addresses()[0])
	if err != nil {
		t.Fatal(err)
	}
	conns[0] = c
	if _, err := c.Request(ctx, num(4)); err != nil {
		t.Errorf("after a place freed: %v", err)
	}
}

func TestStats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client, server := pipePair(t,
			[]chatter.Option{chatter.WithPingTimeout(time.Second)},
			[]chatter.Option{chatter.WithPingTimeout(0)})
		defer closeAll(client, server)
		for i := range int64(10) {
			send(t, client, num(i))
		}
		send(t, client, num(99), chatter.Last(false), chatter.ConversationTimeout(time.Hour, func(chatter.Conversation) {}))
		for range 11 {
			receive(t, server)
		}
		time.Sleep(3500 * time.Millisecond) // three pings
		synctest.Wait()
		cs, ss := client.Stats(), server.Stats()
		if cs.MessagesOut != 11 || ss.MessagesIn != 11 {
			t.Errorf("messages out %d, in %d; want 11", cs.MessagesOut, ss.MessagesIn)
		}
		if cs.PingsOut != 3 || ss.PingsIn != 3 || cs.PongsIn != 3 {
			t.Errorf("pings out %d, in %d, pongs in %d; want 3", cs.PingsOut, ss.PingsIn, cs.PongsIn)
		}
		if cs.BytesOut == 0 || cs.BytesOut != ss.BytesIn || ss.BytesOut != cs.BytesIn {
			t.Errorf("bytes: client out %d in %d, server out %d in %d", cs.BytesOut, cs.BytesIn, ss.BytesOut, ss.BytesIn)
		}
		if cs.OpenConversations != 1 {
			t.Errorf("client tracks %d conversations, want 1 (the timeout)", cs.OpenConversations)
		}
	})
}

// tlsFiles writes a CA, a server and a client certificate signed by it,
// and an expired server certificate, as PEM files.
type tlsFiles struct {
	caPool                  *x509.CertPool
	otherCAPool             *x509.CertPool
	server, client, expired tls.Certificate
}

func makeTLSFiles(t *testing.T) tlsFiles {
	t.Helper()
	caPEM, caKeyPEM := makeCert(t, "test CA", nil, nil, time.Now().Add(time.Hour))
	ca, caKey := parsePair(t, caPEM, caKeyPEM)
	otherPEM, _ := makeCert(t, "other CA", nil, nil, time.Now().Add(time.Hour))
	var f tlsFiles
	f.caPool = x509.NewCertPool()
	f.caPool.AppendCertsFromPEM(caPEM)
	f.otherCAPool = x509.NewCertPool()
	f.otherCAPool.AppendCertsFromPEM(otherPEM)
	pair := func(name string, notAfter time.Time) tls.Certificate {
		c, k := makeCert(t, name, ca, caKey, notAfter)
		cert, err := tls.X509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	f.server = pair("server", time.Now().Add(time.Hour))
	f.client = pair("client", time.Now().Add(time.Hour))
	f.expired = pair("server", time.Now().Add(-time.Minute))
	return f
}

func parsePair(t *testing.T, certPEM, keyPEM []byte) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	cb, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := pem.Decode(keyPEM)
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func TestVerifiedTLS(t *testing.T) {
	f := makeTLSFiles(t)
	mutual := func(serverCert tls.Certificate) *tls.Config {
		return &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: f.caPool, ClientAuth: tls.RequireAndVerifyClientCert}
	}
	cases := []struct {
		name       string
		server     *tls.Config
		client     *tls.Config
		wantRefuse bool
	}{
		{"mutual TLS", mutual(f.server), &tls.Config{RootCAs: f.caPool, Certificates: []tls.Certificate{f.client}}, false},
		{"server verified by name", &tls.Config{Certificates: []tls.Certificate{f.server}}, &tls.Config{RootCAs: f.caPool, ServerName: "localhost"}, false},
		{"wrong CA", &tls.Config{Certificates: []tls.Certificate{f.server}}, &tls.Config{RootCAs: f.otherCAPool}, true},
		{"wrong server name", &tls.Config{Certificates: []tls.Certificate{f.server}}, &tls.Config{RootCAs: f.caPool, ServerName: "elsewhere.example"}, true},
		{"expired certificate", &tls.Config{Certificates: []tls.Certificate{f.expired}}, &tls.Config{RootCAs: f.caPool}, true},
		{"missing client certificate", mutual(f.server), &tls.Config{RootCAs: f.caPool}, true},
		{"TLS 1.1 only", &tls.Config{Certificates: []tls.Certificate{f.server}}, &tls.Config{RootCAs: f.caPool, MaxVersion: tls.VersionTLS11}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			srv, err := chatter.Listen(ctx, testRepo, "ssl+sbs://127.0.0.1:0", func(_ context.Context, conn *chatter.Conn) {
				for m := range conn.Messages() {
					conn.Send(ctx, m.Data, chatter.InConversation(m.Conv))
				}
			}, chatter.WithTLSConfig(c.server))
			if err != nil {
				t.Fatal(err)
			}
			defer closeServer(t, srv)
			conn, err := chatter.Connect(ctx, testRepo, srv.Addresses()[0], chatter.WithTLSConfig(c.client))
			if err == nil {
				// TLS 1.3 reports a refused client certificate after the
				// handshake: the first exchange fails.
				_, err = conn.Request(ctx, num(1))
				conn.Close()
				shutdown(t, conn.Wait)
			}
			if c.wantRefuse && err == nil {
				t.Fatal("connection was not refused")
			}
			if !c.wantRefuse && err != nil {
				t.Fatalf("refused: %v", err)
			}
		})
	}
}

func TestPEMFileErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o600)
	_, err := chatter.Listen(context.Background(), testRepo, "ssl+sbs://127.0.0.1:0", nil, chatter.WithPEMFile(bad))
	if err == nil || !strings.Contains(err.Error(), "bad.pem") {
		t.Errorf("Listen with a bad PEM file = %v", err)
	}
}
