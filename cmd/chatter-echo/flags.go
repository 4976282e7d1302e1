package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
)

// commonFlags are the flags every command that talks Chatter takes: the
// schemas, the logs, the wire and its keepalive, and TLS.
type commonFlags struct {
	schemas     pathList
	wire        wireFlag
	allowAuto   bool // serving commands may detect the generation
	ping        time.Duration
	pingTimeout time.Duration
	queue       int
	queueBytes  int
	verbose     bool
	logFormat   string
	tls         tlsFlags
}

func (f *commonFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.schemas, "schema", "`PATH` of an .sbs file or of a directory of them (repeatable)")
	wires := "legacy or current"
	if f.allowAuto {
		wires = "legacy, current or auto"
	}
	fs.Var(&f.wire, "wire", "hat wire `GENERATION`: "+wires)
	fs.DurationVar(&f.ping, "ping", chatter.DefaultPingTimeout,
		"legacy wire: ping period, and how long a ping may go unanswered; current wire: idle time before a ping; 0 disables")
	fs.DurationVar(&f.pingTimeout, "ping-timeout", chatter.DefaultPingTimeout,
		"current wire: how long after a ping the peer may stay silent")
	fs.IntVar(&f.queue, "queue", chatter.DefaultQueueSize, "stop reading when `N` received messages wait, -1 for unbounded")
	fs.IntVar(&f.queueBytes, "queue-bytes", chatter.DefaultQueueBytes, "stop reading when received payloads of `N` bytes wait, -1 for unbounded")
	fs.BoolVar(&f.verbose, "v", false, "log debug records too")
	fs.StringVar(&f.logFormat, "log-format", "text", "log `FORMAT` on standard error: text or json")
	f.tls.register(fs)
}

func (f *commonFlags) check() error {
	switch {
	case f.ping < 0:
		return errors.New("-ping must not be negative")
	case f.pingTimeout < 0:
		return errors.New("-ping-timeout must not be negative")
	case f.queue < chatter.QueueUnbounded || f.queue == 0:
		return errors.New("-queue must be positive, or -1 for unbounded")
	case f.queueBytes < chatter.QueueUnbounded || f.queueBytes == 0:
		return errors.New("-queue-bytes must be positive, or -1 for unbounded")
	case f.wire.w == chatter.WireAuto && !f.allowAuto:
		return errors.New("-wire auto is for serving: a client must choose its generation")
	case f.logFormat != "text" && f.logFormat != "json":
		return errors.New("-log-format must be text or json")
	}
	return f.tls.check()
}

// repository loads the schemas, with the Hat and HatPing modules.
func (f *commonFlags) repository() (*sbs.Repository, error) {
	srcs := []sbs.Source{sbs.Repo(chatter.SBSRepository)}
	for _, p := range f.schemas {
		srcs = append(srcs, sbs.Path(p))
	}
	return sbs.NewRepository(srcs...)
}

// logger writes to w at info level, or debug with -v, as text or JSON.
func (f *commonFlags) logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if f.verbose {
		opts.Level = slog.LevelDebug
	}
	if f.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// options are the connection options the flags ask for. -ping means what
// the library's options mean on each wire: on the legacy wire the
// keepalive's period, which is also how long a ping may go unanswered
// (WithPingTimeout); on the current wire the idle time before a ping
// (WithPingDelay), with -ping-timeout the silence allowed after it
// (WithPingTimeout). A WireAuto server gives each connection both, and the
// library's one ping timeout is then also the legacy connections' period:
// -ping-timeout. 0 turns pings off.
func (f *commonFlags) options(log *slog.Logger) []chatter.Option {
	opts := []chatter.Option{
		chatter.WithLogger(log),
		chatter.WithQueueSize(f.queue),
		chatter.WithQueueBytes(f.queueBytes),
		chatter.WithWire(f.wire.w),
		// Payloads are decoded here, not by the connection: a type the
		// schemas lack is shown (or echoed) as it is, never a reason to
		// drop the connection.
		chatter.WithRawPayloads(),
	}
	switch f.wire.w {
	case chatter.WireLegacy:
		opts = append(opts, chatter.WithPingTimeout(f.ping))
	default:
		timeout := f.pingTimeout
		if f.ping == 0 {
			timeout = 0
		}
		opts = append(opts, chatter.WithPingDelay(f.ping), chatter.WithPingTimeout(timeout))
	}
	return opts
}

// wireFlag is the -wire flag's value.
type wireFlag struct{ w chatter.Wire }

func (f *wireFlag) String() string { return f.w.String() }

func (f *wireFlag) Set(s string) error {
	w, err := chatter.ParseWire(s)
	if err != nil {
		return errors.New("want legacy, current or auto")
	}
	f.w = w
	return nil
}

// pathList is a repeatable flag.
type pathList []string

func (p *pathList) String() string { return strings.Join(*p, ",") }

func (p *pathList) Set(s string) error {
	*p = append(*p, s)
	return nil
}

// newFlagSet returns a flag set that reports nothing itself: see
// usageStatus.
func newFlagSet(cmd string) *flag.FlagSet {
	fs := flag.NewFlagSet("chatter-echo "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseArgs parses args, flags and positional arguments in any order,
// wants between min and max positional ones (named by names, for the
// error), and runs check.
func parseArgs(fs *flag.FlagSet, args []string, names []string, min int, check func() error) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if args = fs.Args(); len(args) == 0 {
			break
		}
		pos, args = append(pos, args[0]), args[1:]
	}
	switch {
	case len(pos) < min:
		return nil, fmt.Errorf("missing %s", names[len(pos)])
	case len(pos) > len(names):
		return nil, fmt.Errorf("unexpected argument %q", pos[len(names)])
	}
	if check != nil {
		if err := check(); err != nil {
			return nil, err
		}
	}
	return pos, nil
}

// usageStatus reports an error of parseArgs and returns the exit status:
// after -h, the usage and 0; otherwise one line and 2.
func usageStatus(fs *flag.FlagSet, synopsis string, err error, w io.Writer) int {
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(w, "usage: %s\n", strings.TrimSpace(fs.Name()+" "+synopsis))
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		return exitOK
	}
	fmt.Fprintf(w, "%s: %v (%s -h for usage)\n", fs.Name(), err, fs.Name())
	return exitUsage
}

// failStatus reports err, the reason a command failed, on one line, with a
// hint on the next when one helps, and returns the exit status: 2 for an
// unusable address, else 1.
func failStatus(w io.Writer, err error) int {
	fmt.Fprintf(w, "chatter-echo: %s\n", oneLine(err.Error()))
	if h := hint(err); h != "" {
		fmt.Fprintf(w, "chatter-echo: hint: %s\n", h)
	}
	if errors.Is(err, chatter.ErrAddress) {
		return exitUsage
	}
	return exitFail
}

// oneLine keeps an error message on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// isTLS reports whether addr is an ssl+sbs address.
func isTLS(addr string) bool { return strings.HasPrefix(addr, "ssl+sbs://") }

// connect dials addr as the flags say, within timeout.
func (f *commonFlags) connect(ctx context.Context, repo *sbs.Repository, addr string, timeout time.Duration, log *slog.Logger, stderr io.Writer, extra ...chatter.Option) (*chatter.Conn, error) {
	opts := append(f.options(log), extra...)
	if err := f.tls.forAddress(addr, false); err != nil {
		return nil, err
	}
	if isTLS(addr) {
		o, err := f.tls.clientOption(stderr)
		if err != nil {
			return nil, err
		}
		opts = append(opts, o)
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return chatter.Connect(cctx, repo, addr, opts...)
}

// serverOptions are the options of a server on addr.
func (f *commonFlags) serverOptions(addr string, log *slog.Logger) ([]chatter.Option, error) {
	opts := f.options(log)
	if err := f.tls.forAddress(addr, true); err != nil {
		return nil, err
	}
	if isTLS(addr) {
		o, err := f.tls.serverOption()
		if err != nil {
			return nil, err
		}
		opts = append(opts, o)
	}
	return opts, nil
}
