package chaos

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
)

// Repo holds no types of its own: every message of the harness is a
// builtin Bytes value (see payload.go).
var Repo = sbs.MustRepository(sbs.Text("module Chaos\n"))

// bytesData wraps a payload for Send.
func bytesData(p []byte) chatter.Data { return chatter.Data{Type: "Bytes", Data: p} }

// Variant is one way the two ends talk: a wire generation, with or
// without TLS.
type Variant struct {
	Wire chatter.Wire
	TLS  bool
}

func (v Variant) String() string {
	s := v.Wire.String() + "/tcp"
	if v.TLS {
		s = v.Wire.String() + "/tls"
	}
	return s
}

// Variants are every combination; scenarios run over all of them.
var Variants = []Variant{
	{chatter.WireLegacy, false}, {chatter.WireLegacy, true},
	{chatter.WireCurrent, false}, {chatter.WireCurrent, true},
}

// scheme is the address scheme of a variant.
func (v Variant) scheme() string {
	if v.TLS {
		return "ssl+sbs://"
	}
	return "tcp+sbs://"
}

// tlsPair is a certificate authority and a server certificate for
// 127.0.0.1 made by it, generated once per process.
var tlsPair = sync.OnceValues(func() (*tls.Config, *tls.Config) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "chaos"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	server := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}}
	client := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
	return server, client
})

// quiet is the logger of every gochatter end: the faults make them log
// a great deal that is expected.
var quiet = func() *slog.Logger {
	if os.Getenv("CHAOS_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}()

// Side labels the goroutines of one side, so that their number can be
// told apart from the other side's in one process (see Goroutines).
type Side string

const (
	ClientSide Side = "client"
	ServerSide Side = "server"
)

// Do runs f with its goroutines, and every goroutine they start, labelled
// as side's.
func Do(ctx context.Context, side Side, f func(context.Context)) {
	pprof.Do(ctx, pprof.Labels("side", string(side)), f)
}

// Server is a gochatter server of the harness: it checks every message it
// receives against the ledger, answers requests by echoing their payload,
// and can push one-way messages of its own to every client.
type Server struct {
	*chatter.Server
	ledger *Ledger
	// push, if set, is how often the server sends each client a one-way
	// message; greet sends one as the client connects.
	push  time.Duration
	greet bool

	mu       sync.Mutex
	received uint64
	last     string // how the last connection ended
	// links are those the server's clients reach it through, for the
	// records of the server's own sending connections.
	links    []*Link
	handlers int           // running
	idle     chan struct{} // closed when handlers drops to 0, then replaced
}

// ServerConfig says how a harness server behaves.
type ServerConfig struct {
	Variant Variant
	// Wire overrides Variant.Wire for the server (WireAuto).
	Wire chatter.Wire
	// Push makes the server send each client a one-way message this often.
	Push time.Duration
	// Greet makes the server send each client one message as soon as it
	// connects.
	Greet bool
	Opts  []chatter.Option
}

// NewServer starts a harness server on 127.0.0.1.
func NewServer(ctx context.Context, ledger *Ledger, cfg ServerConfig) (*Server, error) {
	s := &Server{ledger: ledger, push: cfg.Push, greet: cfg.Greet, idle: make(chan struct{})}
	close(s.idle)
	w := cfg.Variant.Wire
	if cfg.Wire != 0 {
		w = cfg.Wire
	}
	opts := append([]chatter.Option{chatter.WithLogger(quiet), chatter.WithWire(w)}, cfg.Opts...)
	if cfg.Variant.TLS {
		server, _ := tlsPair()
		opts = append(opts, chatter.WithTLSConfig(server))
	}
	var err error
	Do(ctx, ServerSide, func(ctx context.Context) {
		s.Server, err = chatter.Listen(ctx, Repo, cfg.Variant.scheme()+"127.0.0.1:0", s.serve, opts...)
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// HostPort is the server's HOST:PORT, for a Link's upstream.
func (s *Server) HostPort() string {
	a := s.Addresses()[0]
	return a[strings.Index(a, "://")+3:]
}

// Received is how many messages the server has taken from its
// connections.
func (s *Server) Received() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received
}

// WaitIdle waits until no connection is left: every client has gone and
// the server has delivered what each sent. It reports false if that took
// longer than d.
func (s *Server) WaitIdle(d time.Duration) bool {
	s.mu.Lock()
	idle := s.idle
	s.mu.Unlock()
	return within(idle, d)
}

// serve is the handler: check, echo requests, push, and at the end check
// that everything the connection decoded was delivered.
func (s *Server) serve(ctx context.Context, c *chatter.Conn) {
	s.mu.Lock()
	if s.handlers++; s.handlers == 1 {
		s.idle = make(chan struct{})
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.handlers--; s.handlers == 0 {
			close(s.idle)
		}
		s.mu.Unlock()
	}()
	var pushDone chan struct{}
	if s.push > 0 || s.greet {
		pushDone = make(chan struct{})
		go func() {
			defer close(pushDone)
			s.pushTo(ctx, c)
		}()
	}
	var senders []*ConnRecord
	n := uint64(0)
	for m := range c.Messages() {
		n++
		p, _ := m.Data.Data.([]byte)
		h, ln := s.ledger.Receive(p)
		if ln != nil && (len(senders) == 0 || senders[len(senders)-1] != ln.conn) {
			senders = append(senders, ln.conn)
		}
		if !m.Last && h.flags&(flagHold|flagIgnore) == 0 {
			// A request, or a conversation to answer: echo the payload.
			_, _ = c.Send(ctx, m.Data, chatter.InConversation(m.Conv))
		}
		m.Release()
	}
	res := c.Wait(context.Background())
	s.mu.Lock()
	s.received += n
	s.last = classify(res)
	s.mu.Unlock()
	if pushDone != nil {
		<-pushDone
	}
	st := c.Stats()
	for _, r := range senders {
		r.Peer(st, res)
	}
	// A connection that ended for any reason but a local close delivers
	// everything it decoded.
	if res != nil && st.MessagesIn != n {
		s.ledger.Problem("server connection %s: decoded %d messages, delivered %d (ended: %v)", c.RemoteAddress(), st.MessagesIn, n, res)
	}
}

// lastEnd says how the last connection to end ended (see classify).
func (s *Server) lastEnd() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// SetLinks names the links the server's clients come through, for the
// records of what the server sends them: a fault on any of them counts
// against each connection.
func (s *Server) SetLinks(l ...*Link) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.links = l
}

// pushTo greets c and sends it one-way messages until it ends.
func (s *Server) pushTo(ctx context.Context, c *chatter.Conn) {
	s.mu.Lock()
	links := s.links
	s.mu.Unlock()
	rec := s.ledger.Conn("server→"+c.RemoteAddress(), links...)
	ln := s.ledger.Lane("push "+c.RemoteAddress(), rec)
	sizes := NewSizes(uint64(time.Now().UnixNano()))
	send := func() bool {
		p, seq := ln.Next(sizes.Small(2048), 0)
		_, err := c.Send(ctx, bytesData(p))
		ln.Sent(seq, err)
		return err == nil
	}
	if s.greet {
		send()
	}
	if s.push > 0 {
		pace(ctx, s.push, send)
	}
	rec.End(c.Wait(context.Background()), c.Stats())
}

// ClientOpts are the options of a client of variant v: the wire, TLS with
// verification, a quiet log.
func ClientOpts(v Variant, extra ...chatter.Option) []chatter.Option {
	opts := []chatter.Option{chatter.WithLogger(quiet), chatter.WithWire(v.Wire)}
	if v.TLS {
		_, client := tlsPair()
		opts = append(opts, chatter.WithTLSConfig(client))
	}
	return append(opts, extra...)
}

// Address is the address of link for a client of variant v.
func Address(v Variant, l *Link) string { return v.scheme() + l.Addr() }

// Receiver reads a client connection's Messages (the server's pushes)
// into the ledger until they close, and then, if the connection ended for
// any reason but a local close, checks that it delivered everything it
// decoded (its replies included, which Requests took).
//
// Messages in conversations this side started are answers — to a
// conversation with a timeout, or to a Request that gave up before its
// reply came — and are collected in answers rather than checked as the
// peer's own messages.
type Receiver struct {
	ledger  *Ledger
	done    chan struct{}
	n       uint64
	answers map[chatter.Conversation]bool
	senders map[*ConnRecord]bool // whose lanes came on this connection
}

// Receive starts reading c.
func Receive(ledger *Ledger, c *chatter.Conn) *Receiver {
	r := &Receiver{ledger: ledger, done: make(chan struct{}), answers: map[chatter.Conversation]bool{}, senders: map[*ConnRecord]bool{}}
	go func() {
		defer close(r.done)
		for m := range c.Messages() {
			r.n++
			p, ok := m.Data.Data.([]byte)
			switch {
			case !ok:
				ledger.Problem("client %s: received a %s.%s", c.LocalAddress(), m.Data.Module, m.Data.Type)
			case m.Conv.Owner:
				if _, err := parsePayload(p); err != nil {
					ledger.Problem("client %s: answer: %v", c.LocalAddress(), err)
				}
				r.answers[m.Conv] = true
			default:
				if _, ln := ledger.Receive(p); ln != nil {
					r.senders[ln.conn] = true
				}
			}
			m.Release()
		}
	}()
	return r
}

// Check waits for the reader to finish and checks the count: replies is
// how many replies Requests took from the connection.
func (r *Receiver) Check(c *chatter.Conn, res error, replies uint64) {
	<-r.done
	st := c.Stats()
	for s := range r.senders {
		s.Peer(st, res)
	}
	if res != nil && st.MessagesIn != r.n+replies {
		r.ledger.Problem("client connection %s: decoded %d messages, delivered %d and %d replies (ended: %v)",
			c.LocalAddress(), st.MessagesIn, r.n, replies, res)
	}
}

// within waits for done until d passes; it reports whether done came.
func within(done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// checkReply checks a Request's reply: the payload it sent, echoed.
func checkReply(ledger *Ledger, sent []byte, reply chatter.Msg) {
	got, _ := reply.Data.Data.([]byte)
	if string(got) != string(sent) {
		h, _ := parsePayload(sent)
		ledger.Problem("lane %d: reply to request %d is not its echo (%d bytes, want %d)", h.lane, h.seq, len(got), len(sent))
	}
}

// errString shortens an error for a log line.
func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	s := err.Error()
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// classify names how a connection ended, for the summary, and is the
// check that the error is one of the clean ones a cut may give.
func classify(err error) string {
	switch {
	case err == nil:
		return "nil"
	case errors.Is(err, chatter.ErrPeerClosed):
		return "ErrPeerClosed"
	case errors.Is(err, io.ErrUnexpectedEOF) && errors.Is(err, chatter.ErrProtocol):
		return "ErrProtocol (stream ended inside a frame)"
	case errors.Is(err, syscall.ECONNRESET):
		return "ECONNRESET"
	case errors.Is(err, syscall.EPIPE):
		return "EPIPE"
	case errors.Is(err, chatter.ErrProtocol):
		return "ErrProtocol: " + errString(err)
	}
	return "other: " + errString(err)
}
