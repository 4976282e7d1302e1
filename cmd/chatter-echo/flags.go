package main

import (
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

// connFlags are the flags serve and call share.
type connFlags struct {
	schemas   pathList
	ping      time.Duration
	pem       string
	queue     int
	wire      wireFlag
	allowAuto bool // serve may detect the generation; a client must choose
}

func (f *connFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.schemas, "schema", "`PATH` of an .sbs file or of a directory of them (repeatable)")
	fs.DurationVar(&f.ping, "ping", chatter.DefaultPingTimeout, "keepalive period, 0 disables")
	fs.StringVar(&f.pem, "pem", "", "`FILE` holding the certificate and private key for ssl+sbs")
	fs.IntVar(&f.queue, "queue", chatter.DefaultQueueSize, "stop reading when `N` received messages wait, -1 for unbounded")
	wires := "legacy or current"
	if f.allowAuto {
		wires = "legacy, current or auto"
	}
	fs.Var(&f.wire, "wire", "hat wire `GENERATION`: "+wires)
}

func (f *connFlags) check() error {
	switch {
	case f.ping < 0:
		return errors.New("-ping must not be negative")
	case f.queue < chatter.QueueUnbounded || f.queue == 0:
		return errors.New("-queue must be positive, or -1 for unbounded")
	case f.wire.w == chatter.WireAuto && !f.allowAuto:
		return errors.New("-wire auto is for serve: a client must choose its generation")
	}
	return nil
}

// repository loads the schemas, with the Hat and HatPing modules.
func (f *connFlags) repository() (*sbs.Repository, error) {
	srcs := []sbs.Source{sbs.Repo(chatter.SBSRepository)}
	for _, p := range f.schemas {
		srcs = append(srcs, sbs.Path(p))
	}
	return sbs.NewRepository(srcs...)
}

func (f *connFlags) options(log *slog.Logger) []chatter.Option {
	// -ping is the legacy keepalive's period and the current keepalive's
	// idle delay; 0 turns either off.
	opts := []chatter.Option{
		chatter.WithLogger(log),
		chatter.WithPingTimeout(f.ping),
		chatter.WithPingDelay(f.ping),
		chatter.WithQueueSize(f.queue),
		chatter.WithWire(f.wire.w),
	}
	if f.pem != "" {
		opts = append(opts, chatter.WithPEMFile(f.pem))
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

// parseArgs parses flags followed by nArgs arguments, and runs check.
func parseArgs(fs *flag.FlagSet, args []string, nArgs int, check func() error) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() < nArgs:
		return errors.New("missing ADDRESS")
	case fs.NArg() > nArgs:
		return fmt.Errorf("unexpected argument %q", fs.Arg(nArgs))
	}
	if check != nil {
		return check()
	}
	return nil
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

// failStatus reports err, the reason a command failed, on one line and
// returns the exit status: 2 for an unusable address, else 1.
func failStatus(w io.Writer, err error) int {
	fmt.Fprintf(w, "chatter-echo: %s\n", oneLine(err.Error()))
	if errors.Is(err, chatter.ErrAddress) {
		return exitUsage
	}
	return exitFail
}

// oneLine keeps an error message on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
