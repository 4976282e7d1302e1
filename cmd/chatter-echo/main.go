package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// stdio is where a command reads and writes; tests give their own.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

const usage = `usage:
  chatter-echo serve [flags] ADDRESS         echo every message received on ADDRESS
  chatter-echo listen [flags] ADDRESS        print every message received, as JSON lines (-serve: as a server)
  chatter-echo send [flags] ADDRESS          send one-way messages from -d or standard input
  chatter-echo call [flags] ADDRESS          send requests from -d or standard input, print the answers
  chatter-echo bench [flags] [ADDRESS]       measure throughput and latency (with no ADDRESS, of an echo server here)
  chatter-echo tap [flags] LISTEN UPSTREAM   forward connections unchanged and print every frame in them
  chatter-echo types -schema PATH            list the schemas' types with SBS-JSON skeletons
  chatter-echo demo                          a server and a client exchanging messages
  chatter-echo -version                      print the version

ADDRESS is tcp+sbs://HOST:PORT or ssl+sbs://HOST:PORT. Flags may come
before or after the arguments. Run chatter-echo COMMAND -h for a command's
flags; go doc github.com/gochatter/gochatter/cmd/chatter-echo for details.
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], stdio{os.Stdin, os.Stdout, os.Stderr}))
}

// commands maps a command's name to its function.
var commands = map[string]func(context.Context, []string, stdio) int{
	"serve":  serve,
	"listen": listen,
	"send":   send,
	"call":   call,
	"bench":  bench,
	"tap":    tap,
	"types":  types,
	"demo":   demo,
}

// run runs the command named by args[0] and returns the exit status.
func run(ctx context.Context, args []string, s stdio) int {
	if len(args) == 0 {
		return demo(ctx, nil, s)
	}
	if cmd, ok := commands[args[0]]; ok {
		return cmd(ctx, args[1:], s)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(s.err, usage)
		return exitOK
	case "-version", "--version", "version":
		fmt.Fprintln(s.out, version())
		return exitOK
	}
	fmt.Fprintf(s.err, "chatter-echo: unknown command %q (chatter-echo -h for usage)\n", args[0])
	return exitUsage
}

// version is the module's version and, for a build from a checkout, its
// revision.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "chatter-echo (no build information)"
	}
	v := "chatter-echo " + bi.Main.Version
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if rev != "" {
		v += " " + rev[:min(12, len(rev))] + modified
	}
	return v + " " + bi.GoVersion
}
