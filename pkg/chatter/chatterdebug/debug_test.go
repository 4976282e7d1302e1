package chatterdebug_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/chatter/chatterdebug"
	"github.com/gochatter/gochatter/pkg/sbs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var repo = sbs.MustRepository(sbs.Text("module T\nN = Integer\n"))

func TestServeCountersAndProfiles(t *testing.T) {
	srv, err := chatter.Listen(t.Context(), repo, "tcp+sbs://127.0.0.1:0", func(ctx context.Context, c *chatter.Conn) {
		for m := range c.Messages() {
			c.Send(ctx, m.Data, chatter.InConversation(m.Conv))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	chatterdebug.PublishServer("chatter_test_server", srv)
	c, err := chatter.Connect(t.Context(), repo, srv.Addresses()[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Request(t.Context(), chatter.Data{Module: "T", Type: "N", Data: int64(5)}); err != nil {
		t.Fatal(err)
	}
	c.Close()

	l, err := chatterdebug.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- chatterdebug.Serve(ctx, l) }()
	base := "http://" + l.Addr().String()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(path string) []byte {
		t.Helper()
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
		}
		return b
	}
	var vars struct {
		Server chatter.ServerStats `json:"chatter_test_server"`
	}
	if err := json.Unmarshal(get("/debug/vars"), &vars); err != nil {
		t.Fatal(err)
	}
	if vars.Server.Accepted != 1 || vars.Server.MessagesIn != 1 || vars.Server.MessagesOut != 1 {
		t.Errorf("published stats = %+v, want 1 accepted, 1 message in and out", vars.Server)
	}
	if len(get("/debug/pprof/")) == 0 {
		t.Error("no pprof index")
	}
	cancel()
	if err := <-served; err != nil {
		t.Errorf("Serve = %v", err)
	}
}

func TestListenRefusesOtherInterfaces(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:0"} {
		if l, err := chatterdebug.Listen(addr); !errors.Is(err, chatterdebug.ErrNotLoopback) {
			if l != nil {
				l.Close()
			}
			t.Errorf("Listen(%q) = %v, want ErrNotLoopback", addr, err)
		}
	}
}
