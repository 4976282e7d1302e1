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

// TestRepliesBesideBackPressure: with Requests in flight from several
// goroutines while the peer also streams plain messages, every reply goes
// to its own Request exactly once and never to Messages, and the plain
// messages arrive complete and in order, whether the reader routes them
// itself or the supervisor does (the application reads with pauses into a
// small queue, so the channel is full now and then and replies come through
// behind it).
func TestRepliesBesideBackPressure(t *testing.T) {
	for _, tr := range []string{"pipe", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			const (
				plain     = 5000
				callers   = 8
				perCaller = 300
				base      = 1_000_000 // request values; plain messages are 0..plain-1
			)
			client, server := pairWith(t, tr,
				[]chatter.Option{chatter.WithPingTimeout(0), chatter.WithQueueSize(32)},
				[]chatter.Option{chatter.WithPingTimeout(0)})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			var wg sync.WaitGroup
			wg.Add(2)
			go func() { // the server answers every Request in its conversation
				defer wg.Done()
				echo(server)
			}()
			go func() { // and streams numbered messages meanwhile
				defer wg.Done()
				for i := range plain {
					if _, err := server.Send(ctx, num(int64(i))); err != nil {
						t.Errorf("plain send %d: %v", i, err)
						return
					}
				}
			}()

			var callersWG sync.WaitGroup
			for g := range callers {
				callersWG.Add(1)
				go func() {
					defer callersWG.Done()
					for i := range perCaller {
						v := int64(base + g*perCaller + i)
						r, err := client.Request(ctx, num(v))
						if err != nil {
							t.Errorf("request %d: %v", v, err)
							return
						}
						if r.Data.Data != v {
							t.Errorf("request %d got the reply %v", v, r.Data.Data)
							return
						}
					}
				}()
			}

			for want := int64(0); want < plain; want++ {
				m, err := client.Receive(ctx)
				if err != nil {
					t.Fatalf("after %d plain messages: %v", want, err)
				}
				if v := m.Data.Data.(int64); v != want {
					t.Fatalf("Messages got %d where %d was due (a reply, or out of order)", v, want)
				}
				if want%250 == 0 {
					time.Sleep(2 * time.Millisecond)
				}
			}
			callersWG.Wait()
			select {
			case m := <-client.Messages():
				t.Errorf("a message beyond the plain stream reached Messages: %v", m.Data.Data)
			default:
			}
			client.Close()
			server.Close()
			wg.Wait()
		})
	}
}
