package chatter_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// A reply that comes after its Request gave up reaches Messages marked
// Late, and only the reply: the conversation's next message, and others,
// are not. WithDropLateReplies drops it; both count it.
func TestLateReplies(t *testing.T) {
	for _, drop := range []bool{false, true} {
		name := "marked"
		opts := []chatter.Option{chatter.WithPingTimeout(0)}
		if drop {
			name = "dropped"
			opts = append(opts, chatter.WithDropLateReplies())
		}
		t.Run(name, func(t *testing.T) {
			client, server := pairWith(t, "pipe", opts, []chatter.Option{chatter.WithPingTimeout(0)})
			ctx := t.Context()

			short, cancel := context.WithCancel(ctx)
			defer cancel()
			requested := make(chan error, 1)
			go func() {
				_, err := client.Request(short, num(1))
				requested <- err
			}()
			req := receive(t, server)
			cancel() // the Request gives up before its reply is sent
			if err := <-requested; !errors.Is(err, context.Canceled) {
				t.Fatalf("Request = %v, want its ctx's error", err)
			}
			// The answer, a second message of the conversation, and one of
			// a conversation of its own.
			send(t, server, num(10), chatter.InConversation(req.Conv), chatter.Last(false))
			send(t, server, num(11), chatter.InConversation(req.Conv))
			send(t, server, num(12))

			var got []chatter.Msg
			for range 3 - btoi(drop) {
				got = append(got, receive(t, client))
			}
			if !drop {
				if m := got[0]; m.Data.Data != int64(10) || !m.Late || m.Conv.FirstID != req.Conv.FirstID {
					t.Errorf("late reply %v, Late %v, conversation %d", m.Data.Data, m.Late, m.Conv.FirstID)
				}
				got = got[1:]
			}
			if m := got[0]; m.Data.Data != int64(11) || m.Late {
				t.Errorf("next message of the conversation %v, Late %v", m.Data.Data, m.Late)
			}
			if m := got[1]; m.Data.Data != int64(12) || m.Late {
				t.Errorf("unrelated message %v, Late %v", m.Data.Data, m.Late)
			}
			if n := client.Stats().LateReplies; n != 1 {
				t.Errorf("Stats.LateReplies = %d, want 1", n)
			}

			// A reply in time is no late one.
			go func() {
				m := receive(t, server)
				send(t, server, num(20), chatter.InConversation(m.Conv))
			}()
			if r, err := client.Request(ctx, num(2)); err != nil || r.Late || r.Data.Data != int64(20) {
				t.Errorf("Request in time = %v (Late %v), %v", r.Data.Data, r.Late, err)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Every reply goes to exactly one place, its own Request or Messages
// (marked Late), while Requests give up at random around the time their
// replies come: reply channels are reused (replyChans), and one still
// known to the supervisor must never serve another Request. Requests with
// a generous deadline must all get their own reply.
func TestRepliesGoToOnePlace(t *testing.T) {
	opts := []chatter.Option{chatter.WithPingTimeout(0)}
	client, server := pairWith(t, "tcp", opts, opts)
	ctx := t.Context()
	go func() {
		// Replies in their own time, so that some come as their Requests
		// give up.
		i := 0
		for m := range server.Messages() {
			i++
			go func(m chatter.Msg, delay time.Duration) {
				time.Sleep(delay)
				server.Send(ctx, m.Data, chatter.InConversation(m.Conv))
			}(m, time.Duration(i%7)*100*time.Microsecond)
		}
	}()
	const workers, each = 8, 150
	var (
		mu        sync.Mutex
		answered  = map[int64]bool{} // by Request, with its own value
		gaveUp    = map[int64]bool{}
		failures  []string
		wg        sync.WaitGroup
		generous  = 10 * time.Second
		deadlines = []time.Duration{50 * time.Microsecond, 200 * time.Microsecond, 400 * time.Microsecond, generous}
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				v := int64(w*each + i)
				d := deadlines[(w+i)%len(deadlines)]
				rctx, cancel := context.WithTimeout(ctx, d)
				m, err := client.Request(rctx, num(v))
				cancel()
				mu.Lock()
				switch {
				case err == nil && m.Data.Data == v:
					answered[v] = true
				case err == nil:
					failures = append(failures, fmt.Sprintf("Request %d got the reply %v", v, m.Data.Data))
				case d == generous:
					failures = append(failures, fmt.Sprintf("Request %d with a %v deadline: %v", v, d, err))
				default:
					gaveUp[v] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	// The replies of the Requests that gave up come to Messages, marked.
	for range len(gaveUp) {
		m := receive(t, client)
		v, _ := m.Data.Data.(int64)
		switch {
		case !m.Late:
			t.Errorf("reply %v in Messages not marked Late", m.Data.Data)
		case !gaveUp[v]:
			t.Errorf("late reply %v: its Request did not give up, or it came twice", m.Data.Data)
		}
		delete(gaveUp, v)
	}
	t.Logf("%d answered, %d given up", len(answered), workers*each-len(answered))
	if len(answered) == 0 || len(answered) == workers*each {
		t.Errorf("%d of %d Requests answered in time: the test needs both kinds", len(answered), workers*each)
	}
}
