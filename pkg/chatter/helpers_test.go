package chatter_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
)

const testSchema = `module Test

Num = Integer
Text = String
Blob = Bytes
Point = Tuple { x: Integer, y: Integer }
Deep = Union { leaf: Integer, node: Array(Deep) }
`

var testRepo = sbs.MustRepository(sbs.Repo(chatter.SBSRepository), sbs.NamedText("test.sbs", testSchema))

func num(v int64) chatter.Data { return chatter.Data{Module: "Test", Type: "Num", Data: v} }

// transports runs one test body over every transport.
var transports = []string{"pipe", "tcp", "tls"}

// pair returns two connected Conns over transport, closed at the end of
// the test.
func pair(t testing.TB, transport string, opts ...chatter.Option) (client, server *chatter.Conn) {
	t.Helper()
	return pairWith(t, transport, opts, opts)
}

// pairWith is pair with options of each end's own.
func pairWith(t testing.TB, transport string, clientOpts, serverOpts []chatter.Option) (client, server *chatter.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch transport {
	case "pipe":
		a, b := net.Pipe()
		var err error
		if client, err = chatter.NewConn(a, testRepo, clientOpts...); err != nil {
			t.Fatal(err)
		}
		if server, err = chatter.NewConn(b, testRepo, serverOpts...); err != nil {
			t.Fatal(err)
		}
	case "tcp", "tls", "tcp6":
		addr := "tcp+sbs://127.0.0.1:0"
		if transport == "tcp6" {
			addr = "tcp+sbs://[::1]:0"
		}
		var srvOpts, cliOpts []chatter.Option
		srvOpts = append(srvOpts, serverOpts...)
		cliOpts = append(cliOpts, clientOpts...)
		if transport == "tls" {
			addr = "ssl+sbs://127.0.0.1:0"
			pemFile := writeSelfSigned(t, "server")
			srvOpts = append(srvOpts, chatter.WithPEMFile(pemFile))
		}
		conns := make(chan *chatter.Conn, 1)
		srv, err := chatter.Listen(ctx, testRepo, addr, func(_ context.Context, c *chatter.Conn) { conns <- c }, srvOpts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { closeServer(t, srv) })
		if client, err = chatter.Connect(ctx, testRepo, srv.Addresses()[0], cliOpts...); err != nil {
			t.Fatal(err)
		}
		select {
		case server = <-conns:
		case <-ctx.Done():
			t.Fatal("no connection accepted")
		}
	default:
		t.Fatalf("unknown transport %q", transport)
	}
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	return client, server
}

// shutdown calls wait (a Wait or Shutdown method) and fails the test if
// it does not return within 10 s; the reason the thing ended is not its
// business.
func shutdown(t testing.TB, wait func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := wait(ctx); ctx.Err() != nil {
		t.Errorf("waiting for close: %v", err)
	}
}

// closeServer closes srv, failing the test if Close fails.
func closeServer(t testing.TB, srv *chatter.Server) {
	t.Helper()
	if err := srv.Close(); err != nil {
		t.Errorf("server Close: %v", err)
	}
}

// waitEnded waits until c reports that it is over (Err is set), failing
// the test after 10 s. Reading may have ended while messages are still to
// be delivered: Err is set at once, the Context only after the reply
// grace.
func waitEnded(t testing.TB, c *chatter.Conn) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.Err() == nil {
		if time.Now().After(deadline) {
			t.Fatal("connection did not end")
		}
		time.Sleep(time.Millisecond)
	}
}

func receive(t testing.TB, c *chatter.Conn) chatter.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := c.Receive(ctx)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	return m
}

func send(t testing.TB, c *chatter.Conn, d chatter.Data, opts ...chatter.SendOption) chatter.Conversation {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conv, err := c.Send(ctx, d, opts...)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	return conv
}

// writeSelfSigned writes a throwaway certificate and key to one PEM file.
func writeSelfSigned(t testing.TB, name string) string {
	t.Helper()
	certPEM, keyPEM := makeCert(t, name, nil, nil, time.Now().Add(time.Hour))
	path := filepath.Join(t.TempDir(), name+".pem")
	if err := os.WriteFile(path, append(certPEM, keyPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// makeCert creates a certificate for 127.0.0.1, ::1 and localhost, signed by
// parent (self-signed when nil), valid until notAfter.
func makeCert(t testing.TB, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, notAfter time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		DNSNames:              []string{"localhost"},
		IsCA:                  parent == nil,
		BasicConstraintsValid: true,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

// sbsRepoWith builds a repository of the test schema plus extra texts.
func sbsRepoWith(t testing.TB, texts ...string) *sbs.Repository {
	t.Helper()
	srcs := []sbs.Source{sbs.Repo(testRepo)}
	for _, s := range texts {
		srcs = append(srcs, sbs.Text(s))
	}
	r, err := sbs.NewRepository(srcs...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSchemaFile keeps testdata/test.sbs, from which sbs-gen writes
// testtypes_gen_test.go, the same as testSchema.
func TestSchemaFile(t *testing.T) {
	b, err := os.ReadFile("testdata/test.sbs")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != testSchema+"\n" && string(b) != testSchema {
		t.Errorf("testdata/test.sbs differs from testSchema:\n%s", b)
	}
}

// echo answers every message in its conversation until the connection
// ends.
func echo(c *chatter.Conn) {
	ctx := context.Background()
	for m := range c.Messages() {
		if _, err := c.Send(ctx, m.Data, chatter.InConversation(m.Conv)); err != nil {
			return
		}
	}
}
