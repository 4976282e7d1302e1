// Package test holds the end-to-end tests: they build cmd/chatter-echo and
// drive it as a user would, over loopback sockets.
package test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// chatterEcho is the binary under test, built by TestMain.
var chatterEcho string

// buildFlags are the flags of go build; race_test.go adds -race.
var buildFlags []string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chatter-echo-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	chatterEcho = filepath.Join(dir, "chatter-echo")
	if err := build(chatterEcho); err != nil {
		fmt.Fprintf(os.Stderr, "building chatter-echo: %v\n", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		os.RemoveAll(dir)
		os.Exit(code)
	}))
}

// build compiles cmd/chatter-echo to out with the go command running the
// tests (go test puts its GOROOT/bin first in PATH).
func build(out string) error {
	gocmd, err := exec.LookPath("go")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append([]string{"build", "-o", out}, buildFlags...)
	args = append(args, "github.com/gochatter/gochatter/cmd/chatter-echo")
	cmd := exec.CommandContext(ctx, gocmd, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}
