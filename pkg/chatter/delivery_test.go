package chatter_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// TestDeliveryOrderAcrossPaths: received messages reach Messages in the
// order they were read whether the reader puts them there itself (nothing
// tracked, the channel has room) or hands them to the supervisor (a
// Request or a conversation timeout is pending, a ping waits, the channel
// is full), and the paths alternate many times within one stream.
func TestDeliveryOrderAcrossPaths(t *testing.T) {
	for _, tr := range []string{"pipe", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			const n = 4000
			// The server pings often, so that pongs are awaited now and then;
			// the client does not, because the server's pauses stop its
			// reader, and the client would rightly give up on it.
			client, server := pairWith(t, tr, []chatter.Option{chatter.WithPingTimeout(0)},
				[]chatter.Option{chatter.WithPingTimeout(20 * time.Millisecond), chatter.WithQueueSize(64)})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			// The client answers the server's Requests and sends n numbered
			// messages.
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				for m := range client.Messages() {
					if _, err := client.Send(ctx, m.Data, chatter.InConversation(m.Conv)); err != nil {
						return
					}
				}
			}()
			go func() {
				defer wg.Done()
				for i := range n {
					if _, err := client.Send(ctx, num(int64(i))); err != nil {
						t.Errorf("send %d: %v", i, err)
						return
					}
				}
			}()
			// The server keeps Requests and conversation timeouts coming and
			// going meanwhile.
			stop := make(chan struct{})
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if i%2 == 0 {
						rctx, rcancel := context.WithTimeout(ctx, time.Second)
						server.Request(rctx, num(-1))
						rcancel()
					} else {
						server.Send(ctx, num(-2), chatter.Last(false), chatter.ConversationTimeout(time.Millisecond, func(chatter.Conversation) {}))
						time.Sleep(time.Millisecond)
					}
				}
			}()
			// The server reads with pauses, so the channel fills now and then.
			for want := int64(0); want < n; {
				m, err := server.Receive(ctx)
				if err != nil {
					t.Fatalf("after %d messages: %v", want, err)
				}
				v, _ := m.Data.Data.(int64)
				if v < 0 {
					continue // the client's answer to a timed-out Request or to a plain send
				}
				if v != want {
					t.Fatalf("message %d arrived where %d was due", v, want)
				}
				want++
				if want%500 == 0 {
					time.Sleep(10 * time.Millisecond)
				}
			}
			close(stop)
			client.Close()
			server.Close()
			wg.Wait()
		})
	}
}
