package main

import (
	"context"
	"fmt"
	"io"
	"os"
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
  chatter-echo serve [flags] ADDRESS   echo every message received on ADDRESS
  chatter-echo call [flags] ADDRESS    send JSON lines from stdin, print the answers
  chatter-echo demo                    a server and a client exchanging messages
  chatter-echo                         same as demo

ADDRESS is tcp+sbs://HOST:PORT or ssl+sbs://HOST:PORT.
Run chatter-echo COMMAND -h for a command's flags; go doc for details.
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], stdio{os.Stdin, os.Stdout, os.Stderr}))
}

// run runs the command named by args[0] and returns the exit status.
func run(ctx context.Context, args []string, s stdio) int {
	if len(args) == 0 {
		return demo(ctx, nil, s)
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return serve(ctx, rest, s)
	case "call":
		return call(ctx, rest, s)
	case "demo":
		return demo(ctx, rest, s)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(s.err, usage)
		return exitOK
	default:
		fmt.Fprintf(s.err, "chatter-echo: unknown command %q (chatter-echo -h for usage)\n", cmd)
		return exitUsage
	}
}
