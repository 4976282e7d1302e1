package main

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
)

// tap is a transparent proxy between hat clients and their server: it
// forwards the bytes of every connection unchanged, in both directions, and
// prints every frame it sees in them, decoded.
func tap(ctx context.Context, args []string, s stdio) int {
	var f commonFlags
	fs := newFlagSet("tap")
	asJSON := fs.Bool("json", false, "print JSON lines instead of one readable line per frame")
	upstreamTLS := fs.Bool("upstream-tls", false, "speak TLS to UPSTREAM (implied by an ssl+sbs:// UPSTREAM)")
	upstreamCert := certFiles{flag: "-upstream-"}
	fs.StringVar(&upstreamCert.pem, "upstream-pem", "", "`FILE` holding the client certificate and key tap shows UPSTREAM (a server that wants one: mutual TLS)")
	fs.StringVar(&upstreamCert.cert, "upstream-cert", "", "`FILE` holding the client certificate tap shows UPSTREAM (with -upstream-key)")
	fs.StringVar(&upstreamCert.key, "upstream-key", "", "`FILE` holding the private key of -upstream-cert")
	maxFrame := fs.Int("max", chatter.DefaultMaxMessageSize, "largest frame `BYTES` to decode; bigger ones are forwarded undecoded")
	timeout := fs.Duration("timeout", 10*time.Second, "bound on connecting to UPSTREAM")
	f.register(fs)
	pos, err := parseArgs(fs, args, []string{"LISTEN", "UPSTREAM"}, 2, func() error {
		if *maxFrame <= 0 {
			return errors.New("-max must be positive")
		}
		if err := upstreamCert.check(); err != nil {
			return err
		}
		return f.tls.check()
	})
	if err != nil {
		return usageStatus(fs, "[flags] LISTEN UPSTREAM", err, s.err)
	}
	repo, err := f.repository()
	if err != nil {
		return failStatus(s.err, err)
	}
	log := f.logger(s.err)
	t := &tapper{repo: repo, max: *maxFrame, log: log, timeout: *timeout}
	t.out = newTapPrinter(s.out, *asJSON)
	listenHost, err := hostPort(pos[0])
	if err != nil {
		return failStatus(s.err, err)
	}
	if t.upstream, err = hostPort(pos[1]); err != nil {
		return failStatus(s.err, err)
	}
	if isTLS(pos[0]) {
		cfg, err := tapServerTLS(&f.tls)
		if err != nil {
			return failStatus(s.err, err)
		}
		t.clientTLS = cfg
	}
	if isTLS(pos[1]) || *upstreamTLS {
		if t.upstreamTLS, err = tapUpstreamTLS(&f.tls, &upstreamCert, t.upstream); err != nil {
			return failStatus(s.err, err)
		}
	} else if upstreamCert.named() {
		return usageStatus(fs, "[flags] LISTEN UPSTREAM",
			errors.New("-upstream-pem and -upstream-cert are for a TLS UPSTREAM (ssl+sbs://, or -upstream-tls)"), s.err)
	}
	l, err := net.Listen("tcp", listenHost)
	if err != nil {
		return failStatus(s.err, err)
	}
	scheme := "tcp+sbs://"
	if t.clientTLS != nil {
		scheme = "ssl+sbs://"
	}
	fmt.Fprintf(s.err, "listening on %s%s (forwarding to %s)\n", scheme, l.Addr(), pos[1])

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err = t.serve(ctx, l)
	if ctx.Err() != nil {
		return exitOK
	}
	return failStatus(s.err, err)
}

// hostPort is the HOST:PORT of a tcp+sbs:// or ssl+sbs:// address.
func hostPort(addr string) (string, error) {
	rest, ok := strings.CutPrefix(addr, "tcp+sbs://")
	if !ok {
		rest, ok = strings.CutPrefix(addr, "ssl+sbs://")
	}
	if _, _, err := net.SplitHostPort(rest); !ok || err != nil {
		return "", fmt.Errorf("%w %q: want tcp+sbs://HOST:PORT or ssl+sbs://HOST:PORT", chatter.ErrAddress, addr)
	}
	return rest, nil
}

func tapServerTLS(f *tlsFlags) (*tls.Config, error) {
	certs, err := f.certificates()
	if err != nil {
		return nil, err
	}
	if certs == nil {
		return nil, errors.New("an ssl+sbs LISTEN address needs -pem or -cert and -key: tap ends the clients' TLS")
	}
	return &tls.Config{Certificates: certs, MinVersion: tls.VersionTLS12}, nil
}

func tapUpstreamTLS(f *tlsFlags, client *certFiles, upstream string) (*tls.Config, error) {
	roots, err := f.pool()
	if err != nil {
		return nil, err
	}
	certs, err := client.certificates()
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(upstream)
	name := f.serverName
	if name == "" {
		name = host
	}
	return &tls.Config{RootCAs: roots, Certificates: certs, ServerName: name, InsecureSkipVerify: f.insecure, MinVersion: tls.VersionTLS12}, nil //nolint:gosec // -insecure
}

// tapper runs the proxy.
type tapper struct {
	repo        *sbs.Repository
	max         int
	log         *slog.Logger
	timeout     time.Duration
	upstream    string
	clientTLS   *tls.Config // ending the clients' TLS, when set
	upstreamTLS *tls.Config // speaking TLS to the server, when set
	out         *tapPrinter
	next        atomic.Int64 // connection numbers
}

// serve accepts clients until ctx ends, then closes every connection and
// waits for them.
func (t *tapper) serve(ctx context.Context, l net.Listener) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := map[net.Conn]struct{}{}
	stopped := context.AfterFunc(ctx, func() {
		l.Close()
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
	})
	defer stopped()
	track := func(c net.Conn, add bool) bool {
		mu.Lock()
		defer mu.Unlock()
		if add && ctx.Err() != nil {
			return false
		}
		if add {
			open[c] = struct{}{}
		} else {
			delete(open, c)
		}
		return true
	}
	var err error
	for {
		var c net.Conn
		if c, err = l.Accept(); err != nil {
			break
		}
		if !track(c, true) {
			c.Close()
			break
		}
		wg.Go(func() {
			defer track(c, false)
			t.handle(ctx, c, track)
		})
	}
	wg.Wait()
	return err
}

// handle proxies one client connection.
func (t *tapper) handle(ctx context.Context, client net.Conn, track func(net.Conn, bool) bool) {
	defer client.Close()
	id := t.next.Add(1)
	peer := client.RemoteAddr().String()
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	if t.clientTLS != nil {
		tc := tls.Server(client, t.clientTLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			t.out.event(id, peer, "tls handshake with the client failed", err)
			return
		}
		client = tc
	}
	var d net.Dialer
	server, err := d.DialContext(ctx, "tcp", t.upstream)
	if err == nil && t.upstreamTLS != nil {
		tc := tls.Client(server, t.upstreamTLS)
		if err = tc.HandshakeContext(ctx); err != nil {
			server.Close()
		}
		server = tc
	}
	if err != nil {
		t.out.event(id, peer, "upstream unreachable", err)
		return
	}
	cancel()
	if !track(server, true) {
		server.Close()
		return
	}
	defer func() {
		server.Close()
		track(server, false)
	}()
	t.out.event(id, peer, "open", nil)
	c := &tapConn{t: t, id: id, peer: peer, wire: chatter.WireAuto}
	var wg sync.WaitGroup
	var fromClient, fromServer error
	wg.Go(func() { fromClient = c.pump("c2s", client, server) })
	wg.Go(func() { fromServer = c.pump("s2c", server, client) })
	wg.Wait()
	t.out.event(id, peer, "closed", closeReasons(fromClient, fromServer))
}

// closeReasons says how each side's stream ended, for the "closed" event:
// nil when both ended theirs plainly.
func closeReasons(fromClient, fromServer error) error {
	if fromClient == nil && fromServer == nil {
		return nil
	}
	how := func(err error) string {
		if err == nil {
			return "ended its stream"
		}
		return err.Error()
	}
	return fmt.Errorf("client: %s; server: %s", how(fromClient), how(fromServer))
}

// tapConn is one proxied connection; its two directions share the wire
// generation, decided by the first frame either sends.
type tapConn struct {
	t    *tapper
	id   int64
	peer string
	mu   sync.Mutex
	wire chatter.Wire // WireAuto until decided
}

// pump forwards everything src sends to dst, as it arrives, and prints
// the frames in it. A stream that stops being Chatter is forwarded all
// the same. It returns how src's stream ended: nil for a plain end (or a
// close by tap itself), otherwise the error — a reset, a TLS alert such
// as a server's "certificate required", a frame cut short.
func (c *tapConn) pump(dir string, src, dst net.Conn) error {
	defer closeWrite(dst)
	sc := chatter.NewFrameScanner(io.TeeReader(src, dst), c.t.max)
	for {
		body, err := sc.Next()
		switch {
		case err == nil:
			c.frame(dir, body)
			continue
		case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
			return nil
		case errors.Is(err, chatter.ErrMessageTooLarge):
			c.t.out.event(c.id, c.peer, dir+": a frame over -max or not Chatter: forwarding the rest undecoded", err)
		case errors.Is(err, io.ErrUnexpectedEOF):
			c.t.out.event(c.id, c.peer, dir+": the stream ended inside a frame", nil)
			return err
		default:
			return err // a socket error: the other side's write failed, a reset, an alert
		}
		if _, err := io.Copy(dst, src); err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	}
}

// closeWrite ends the direction toward c, so that its reader sees the end
// of the stream while the other direction goes on.
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		return
	}
	c.Close()
}

// frame prints one frame body.
func (c *tapConn) frame(dir string, body []byte) {
	c.mu.Lock()
	w := c.wire
	c.mu.Unlock()
	e, decided, err := chatter.DecodeEnvelope(body, w)
	if err == nil && w == chatter.WireAuto {
		c.mu.Lock()
		c.wire = decided
		c.mu.Unlock()
	}
	c.t.out.frame(c.id, c.peer, dir, decided, body, e, err, c.t.repo)
}

// tapPrinter writes tap's lines, whole, from any goroutine.
type tapPrinter struct {
	mu    sync.Mutex
	w     io.Writer
	lines *lineWriter // with -json
}

func newTapPrinter(w io.Writer, asJSON bool) *tapPrinter {
	p := &tapPrinter{w: w}
	if asJSON {
		p.lines = newLineWriter(w)
	}
	return p
}

// eventLine is a connection's event in JSON.
type eventLine struct {
	Time  string `json:"time"`
	Event string `json:"event"`
	ID    int64  `json:"connection"`
	Conn  string `json:"conn"`
	Error string `json:"error,omitempty"`
}

func (p *tapPrinter) event(id int64, peer, what string, err error) {
	now := time.Now()
	if p.lines != nil {
		l := eventLine{Time: timestamp(now), Event: what, ID: id, Conn: peer}
		if err != nil {
			l.Error = err.Error()
		}
		p.lines.write(l)
		return
	}
	msg := fmt.Sprintf("%s #%d %s %s", now.Format("15:04:05.000000"), id, peer, what)
	if err != nil {
		msg += ": " + oneLine(err.Error())
	}
	p.println(msg)
}

// tapFrameLine is a frame in JSON: a msgLine with the connection's number.
type tapFrameLine struct {
	msgLine
	Connection int64 `json:"connection"`
}

func (p *tapPrinter) frame(id int64, peer, dir string, w chatter.Wire, body []byte, e chatter.Envelope, err error, repo *sbs.Repository) {
	now := time.Now()
	if p.lines != nil {
		l := tapFrameLine{Connection: id, msgLine: msgLine{Time: timestamp(now), Dir: dir, Conn: peer}}
		if err != nil {
			l.Raw, l.Error = hex.EncodeToString(body), err.Error()
			p.lines.write(l)
			return
		}
		l.Wire = w.String()
		l.ID = &e.ID
		l.Conv = convLine{First: e.First, Owner: e.Owner}
		l.First, l.Last, l.Token = e.Owner && e.First == e.ID, e.Last, e.Token
		if e.Control() {
			l.Module, l.Type = &e.Module, e.Type
		} else {
			l.payload(repo, e.Module, e.Type, e.Payload)
		}
		p.lines.write(l)
		return
	}
	arrow := map[string]string{"c2s": "c>s", "s2c": "s>c"}[dir]
	head := fmt.Sprintf("%s #%d %s", now.Format("15:04:05.000000"), id, arrow)
	if err != nil {
		p.println(fmt.Sprintf("%s undecodable frame (%s): %s", head, oneLine(err.Error()), shortHex(body)))
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s id %d conv %d", head, w, e.ID, e.First)
	if e.Owner {
		b.WriteString(" owner")
	}
	for _, f := range []struct {
		on   bool
		name string
	}{{e.Owner && e.First == e.ID, "first"}, {e.Last, "last"}, {e.Token, "token"}} {
		if f.on {
			b.WriteString(" " + f.name)
		}
	}
	name := e.Type
	if e.Module != "" {
		name = e.Module + "." + e.Type
	}
	b.WriteString(" " + name)
	if !e.Control() {
		if v, err := decodePayload(repo, e.Module, e.Type, e.Payload); err == nil {
			b.WriteString(" " + string(v))
		} else {
			b.WriteString(" " + shortHex(e.Payload))
		}
	}
	p.println(b.String())
}

func (p *tapPrinter) println(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.w, s)
}

// shortHex writes at most 64 bytes in hex, and the length of the rest.
func shortHex(b []byte) string {
	if len(b) <= 64 {
		return "0x" + hex.EncodeToString(b)
	}
	return fmt.Sprintf("0x%s…(%d bytes)", hex.EncodeToString(b[:64]), len(b))
}
