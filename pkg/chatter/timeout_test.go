package chatter_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// pipePair is pair over net.Pipe without cleanup, for use inside a synctest
// bubble, which must end its own goroutines.
func pipePair(t *testing.T, clientOpts, serverOpts []chatter.Option) (client, server *chatter.Conn) {
	a, b := net.Pipe()
	var err error
	if client, err = chatter.NewConn(a, testRepo, clientOpts...); err != nil {
		t.Fatal(err)
	}
	if server, err = chatter.NewConn(b, testRepo, serverOpts...); err != nil {
		t.Fatal(err)
	}
	return client, server
}

func closeAll(conns ...*chatter.Conn) {
	for _, c := range conns {
		c.Close()
	}
	for _, c := range conns {
		<-c.Done()
	}
}

func TestConversationTimeoutFiresOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		off := []chatter.Option{chatter.WithPingTimeout(0)}
		client, server := pipePair(t, off, off)
		defer closeAll(client, server)
		var fired atomic.Int32
		var firedConv atomic.Value
		start := time.Now()
		var firedAt atomic.Int64
		conv := send(t, client, num(1), chatter.Last(false), chatter.ConversationTimeout(time.Second, func(c chatter.Conversation) {
			fired.Add(1)
			firedConv.Store(c)
			firedAt.Store(int64(time.Since(start)))
		}))
		receive(t, server) // the server reads but never answers
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if fired.Load() != 1 {
			t.Fatalf("callback ran %d times, want 1", fired.Load())
		}
		if got := firedConv.Load().(chatter.Conversation); got != conv {
			t.Errorf("callback got %+v, want %+v", got, conv)
		}
		if d := time.Duration(firedAt.Load()); d != time.Second {
			t.Errorf("fired after %v, want 1s", d)
		}
	})
}

func TestConversationTimeoutCancelledByReply(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		off := []chatter.Option{chatter.WithPingTimeout(0)}
		client, server := pipePair(t, off, off)
		defer closeAll(client, server)
		var fired atomic.Int32
		send(t, client, num(1), chatter.Last(false), chatter.ConversationTimeout(time.Second, func(chatter.Conversation) { fired.Add(1) }))
		m := receive(t, server)
		time.Sleep(500 * time.Millisecond)
		send(t, server, num(2), chatter.InConversation(m.Conv), chatter.Last(false))
		receive(t, client)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if fired.Load() != 0 {
			t.Fatalf("callback ran %d times after a reply", fired.Load())
		}
	})
}

func TestConversationTimeoutCancelledBySending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		off := []chatter.Option{chatter.WithPingTimeout(0)}
		client, server := pipePair(t, off, off)
		defer closeAll(client, server)
		var fired atomic.Int32
		conv := send(t, client, num(1), chatter.Last(false), chatter.ConversationTimeout(time.Second, func(chatter.Conversation) { fired.Add(1) }))
		time.Sleep(500 * time.Millisecond)
		send(t, client, num(2), chatter.InConversation(conv), chatter.Last(false))
		receive(t, server)
		receive(t, server)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if fired.Load() != 0 {
			t.Fatalf("callback ran %d times after another send", fired.Load())
		}
	})
}

func TestConversationTimeoutDroppedOnClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		off := []chatter.Option{chatter.WithPingTimeout(0)}
		client, server := pipePair(t, off, off)
		var fired atomic.Int32
		send(t, client, num(1), chatter.Last(false), chatter.ConversationTimeout(time.Second, func(chatter.Conversation) { fired.Add(1) }))
		receive(t, server)
		closeAll(client, server)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if fired.Load() != 0 {
			t.Fatalf("callback ran %d times after close", fired.Load())
		}
	})
}

func TestPingKeepsConnectionAliveAndIsInvisible(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client, server := pipePair(t,
			[]chatter.Option{chatter.WithPingTimeout(time.Second)},
			[]chatter.Option{chatter.WithPingTimeout(0)})
		defer closeAll(client, server)
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if err := client.Err(); err != nil {
			t.Fatalf("client ended: %v", err)
		}
		for _, c := range []*chatter.Conn{client, server} {
			select {
			case m := <-c.Messages():
				t.Errorf("ping traffic delivered to the application: %+v", m)
			default:
			}
		}
		// User ids continue after the pings: the client has sent 30 pings
		// (ids 1..30), the server 30 pongs.
		conv := send(t, client, num(1))
		if conv.FirstID < 30 {
			t.Errorf("client's next id %d, want it after ~30 pings", conv.FirstID)
		}
		if m := receive(t, server); m.Data.Data != int64(1) {
			t.Errorf("server got %+v", m)
		}
	})
}

func TestPingTimeoutDropsSilentPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		// The peer reads everything and never answers.
		go io.Copy(io.Discard, b)
		const T = time.Second
		client, err := chatter.NewConn(a, testRepo, chatter.WithPingTimeout(T))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		<-client.Context().Done()
		elapsed := time.Since(start)
		if !errors.Is(client.Err(), chatter.ErrPingTimeout) {
			t.Errorf("Err = %v, want ErrPingTimeout", client.Err())
		}
		if elapsed < T || elapsed > 2*T {
			t.Errorf("dropped after %v, want within (T, 2T] for T = %v", elapsed, T)
		}
		client.Close()
		<-client.Done()
		b.Close()
	})
}

func TestRequestHonoursContextUnderFakeTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		off := []chatter.Option{chatter.WithPingTimeout(0)}
		client, server := pipePair(t, off, off)
		defer closeAll(client, server)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		start := time.Now()
		_, err := client.Request(ctx, num(1))
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 3*time.Second {
			t.Errorf("Request = %v after %v", err, time.Since(start))
		}
	})
}

// TestConversationTimeoutFiresUnderSteadyTraffic: a conversation timeout
// fires while the peer sends a message every millisecond. After a batch
// the supervisor goes straight to its next read, without looking at its
// timers, and relies on that read's deadline (the next timer's due time)
// to end the read once one is due; a read that waited for the next
// message instead would never see the timeout, as the next message always
// comes first. The receiver keeps up, so that no backlog makes the
// supervisor look at its timers another way.
func TestConversationTimeoutFiresUnderSteadyTraffic(t *testing.T) {
	client, server := pair(t, "tcp", chatter.WithPingTimeout(0))
	fired := make(chan struct{})
	send(t, client, num(1), chatter.Last(false), chatter.ConversationTimeout(200*time.Millisecond, func(chatter.Conversation) {
		close(fired)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	var read atomic.Int64
	done := make(chan struct{}, 2)
	go func() { // bounded: 30,000 messages, 30 s at most
		defer func() { done <- struct{}{} }()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for i := range int64(30_000) {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
			if _, err := server.Send(ctx, num(i)); err != nil {
				return
			}
		}
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		for {
			select {
			case <-client.Messages():
				read.Add(1)
			case <-ctx.Done():
				return
			}
		}
	}()
	select {
	case <-fired:
	case <-time.After(20 * time.Second):
		t.Error("the conversation timeout did not fire within 20 s while messages kept arriving")
	}
	got := read.Load()
	cancel()
	<-done
	<-done
	if got == 0 {
		t.Error("no message arrived before the timeout fired: the connection was not busy")
	}
}
