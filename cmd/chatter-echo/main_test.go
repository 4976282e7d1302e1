package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is a bytes.Buffer that goroutines may write at once, as a
// command's loggers do.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runCmd runs the command line args with stdin in and returns its exit
// status and output.
func runCmd(t *testing.T, in string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut syncBuffer
	code = run(t.Context(), args, stdio{strings.NewReader(in), &out, &errOut})
	return code, out.String(), errOut.String()
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string // in the one line on stderr
	}{
		{[]string{"bogus"}, exitUsage, `unknown command "bogus"`},
		{[]string{"serve"}, exitUsage, "missing ADDRESS"},
		{[]string{"call"}, exitUsage, "missing ADDRESS"},
		{[]string{"serve", "-nope", "tcp+sbs://127.0.0.1:0"}, exitUsage, "-nope"},
		{[]string{"serve", "tcp+sbs://127.0.0.1:0", "extra"}, exitUsage, `unexpected argument "extra"`},
		{[]string{"serve", "-ping", "soon", "tcp+sbs://127.0.0.1:0"}, exitUsage, "-ping"},
		{[]string{"serve", "-ping", "-1s", "tcp+sbs://127.0.0.1:0"}, exitUsage, "-ping must not be negative"},
		{[]string{"serve", "-queue", "-2", "tcp+sbs://127.0.0.1:0"}, exitUsage, "-queue must be positive, or -1 for unbounded"},
		{[]string{"serve", "-queue", "0", "tcp+sbs://127.0.0.1:0"}, exitUsage, "-queue must be positive"},
		{[]string{"serve", "-queue-bytes", "-2", "tcp+sbs://127.0.0.1:0"}, exitUsage, "-queue-bytes must be positive, or -1 for unbounded"},
		{[]string{"call", "-timeout", "0s", "tcp+sbs://127.0.0.1:1"}, exitUsage, "-timeout must be positive"},
		{[]string{"demo", "extra"}, exitUsage, `unexpected argument "extra"`},
		{[]string{"serve", "http://127.0.0.1:0"}, exitUsage, "invalid address"},
		{[]string{"call", "tcp+sbs://127.0.0.1"}, exitUsage, "invalid address"},
		{[]string{"serve", "-schema", "does-not-exist.sbs", "tcp+sbs://127.0.0.1:0"}, exitFail, "does-not-exist.sbs"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCmd(t, "", tt.args...)
			if code != tt.code {
				t.Errorf("exit status %d, want %d", code, tt.code)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") || !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q, want one line containing %q", stderr, tt.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"help"}, {"serve", "-h"}, {"call", "-help"}, {"demo", "-h"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, stdout, stderr := runCmd(t, "", args...)
			if code != exitOK || stdout != "" || !strings.HasPrefix(stderr, "usage:") {
				t.Errorf("exit status %d, stdout %q, stderr %q; want 0, nothing, the usage", code, stdout, stderr)
			}
		})
	}
}
