package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// grpcSystem runs gRPC-go client and server over 127.0.0.1: bidirectional
// streams of wrapper messages for one-way traffic, unary calls for round
// trips. The service is registered by hand, so no generated code is needed;
// messages go through gRPC's default proto codec.
type grpcSystem struct{}

func (grpcSystem) name() string { return "grpc" }

// grpcService is what the handlers need of the registered implementation.
type grpcService interface {
	receive(seq int64, size int)
}

// grpcImpl is the service implementation of one measurement.
type grpcImpl struct{ rx func(seq int64, size int) }

func (g *grpcImpl) receive(seq int64, size int) { g.rx(seq, size) }

const grpcServiceName = "peers.Bench"

var grpcDesc = grpc.ServiceDesc{
	ServiceName: grpcServiceName,
	HandlerType: (*grpcService)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Echo", Handler: grpcEcho}},
	Streams: []grpc.StreamDesc{
		{StreamName: "Sink", Handler: grpcSink, ServerStreams: true, ClientStreams: true},
		{StreamName: "SinkBytes", Handler: grpcSinkBytes, ServerStreams: true, ClientStreams: true},
	},
}

const (
	grpcEchoMethod      = "/" + grpcServiceName + "/Echo"
	grpcSinkMethod      = "/" + grpcServiceName + "/Sink"
	grpcSinkBytesMethod = "/" + grpcServiceName + "/SinkBytes"
)

func grpcEcho(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	in := new(wrapperspb.Int64Value)
	if err := dec(in); err != nil {
		return nil, err
	}
	return in, nil
}

func grpcSink(srv any, stream grpc.ServerStream) error {
	s := srv.(grpcService)
	m := new(wrapperspb.Int64Value)
	for {
		if err := stream.RecvMsg(m); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		s.receive(m.Value, 0)
	}
}

func grpcSinkBytes(srv any, stream grpc.ServerStream) error {
	s := srv.(grpcService)
	m := new(wrapperspb.BytesValue)
	for {
		if err := stream.RecvMsg(m); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		s.receive(seqOf(m.Value), len(m.Value))
	}
}

// grpcServer is a gRPC server serving on a loopback port.
type grpcServer struct {
	gs   *grpc.Server
	addr string
	done chan error
}

func startGRPC(rx func(int64, int), opts ...grpc.ServerOption) (*grpcServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &grpcServer{gs: grpc.NewServer(opts...), addr: l.Addr().String(), done: make(chan error, 1)}
	s.gs.RegisterService(&grpcDesc, &grpcImpl{rx: rx})
	go func() { s.done <- s.gs.Serve(l) }()
	return s, nil
}

// stop closes the server's connections and waits for Serve to return.
func (s *grpcServer) stop() error {
	s.gs.Stop()
	return <-s.done
}

func (s *grpcServer) dial(opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	return grpc.NewClient("passthrough:///"+s.addr, opts...)
}

// closeGRPC closes clients and the server.
func closeGRPC(srv *grpcServer, clients ...*grpc.ClientConn) error {
	var errs []error
	for _, c := range clients {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := srv.stop(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (grpcSystem) oneWay(ctx context.Context, size int, rx func(int64, int)) (sender, error) {
	srv, err := startGRPC(rx)
	if err != nil {
		return nil, err
	}
	cc, err := srv.dial()
	if err != nil {
		return nil, errors.Join(err, closeGRPC(srv))
	}
	s := &grpcSender{srv: srv, cc: cc}
	method, desc := grpcSinkMethod, &grpcDesc.Streams[0]
	if size > 0 {
		method, desc = grpcSinkBytesMethod, &grpcDesc.Streams[1]
		s.buf = make([]byte, size)
		s.bytes = &wrapperspb.BytesValue{Value: s.buf}
	} else {
		s.num = new(wrapperspb.Int64Value)
	}
	if s.stream, err = cc.NewStream(ctx, desc, method); err != nil {
		return nil, errors.Join(err, closeGRPC(srv, cc))
	}
	return s, nil
}

type grpcSender struct {
	srv    *grpcServer
	cc     *grpc.ClientConn
	stream grpc.ClientStream
	num    *wrapperspb.Int64Value
	buf    []byte
	bytes  *wrapperspb.BytesValue
}

func (s *grpcSender) send(_ context.Context, seq int64) error {
	// SendMsg has serialised the previous message: reuse is safe.
	if s.bytes != nil {
		putSeq(s.buf, seq)
		return s.stream.SendMsg(s.bytes)
	}
	s.num.Value = seq
	return s.stream.SendMsg(s.num)
}

// flush has nothing to do: SendMsg has handed the message to the
// transport, and the receiver's count says when it arrived.
func (s *grpcSender) flush(context.Context) error { return nil }

func (s *grpcSender) close() error {
	err := s.stream.CloseSend()
	// Wait for the handler to return.
	if rerr := s.stream.RecvMsg(new(emptypb.Empty)); rerr != io.EOF {
		err = errors.Join(err, fmt.Errorf("ending stream: %w", rerr))
	}
	return errors.Join(err, closeGRPC(s.srv, s.cc))
}

func (grpcSystem) echo(_ context.Context, conns int) ([]caller, func() error, error) {
	srv, err := startGRPC(nil)
	if err != nil {
		return nil, nil, err
	}
	var clients []*grpc.ClientConn
	closeAll := func() error { return closeGRPC(srv, clients...) }
	var callers []caller
	for range conns {
		cc, err := srv.dial()
		if err != nil {
			return nil, nil, errors.Join(err, closeAll())
		}
		clients = append(clients, cc)
		callers = append(callers, grpcCaller{cc})
	}
	return callers, closeAll, nil
}

type grpcCaller struct{ cc *grpc.ClientConn }

func (g grpcCaller) call(ctx context.Context, v int64) (int64, error) {
	out := new(wrapperspb.Int64Value)
	if err := g.cc.Invoke(ctx, grpcEchoMethod, wrapperspb.Int64(v), out); err != nil {
		return 0, err
	}
	return out.Value, nil
}

// Keepalive like gochatter's default: each end pings every 20 s and gives
// up 20 s later, with or without active calls.
const grpcKeepalive = 20 * time.Second

func (grpcSystem) idle(ctx context.Context, n int) (func() error, error) {
	srv, err := startGRPC(nil,
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: grpcKeepalive, Timeout: grpcKeepalive}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: grpcKeepalive / 2, PermitWithoutStream: true}),
	)
	if err != nil {
		return nil, err
	}
	clients, err := dialAll(ctx, n, func(ctx context.Context) (*grpc.ClientConn, error) {
		cc, err := srv.dial(grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time: grpcKeepalive, Timeout: grpcKeepalive, PermitWithoutStream: true,
		}))
		if err != nil {
			return nil, err
		}
		if err := waitReady(ctx, cc); err != nil {
			return nil, errors.Join(err, cc.Close())
		}
		return cc, nil
	})
	closeAll := func() error { return closeGRPC(srv, clients...) }
	if err != nil {
		return nil, errors.Join(err, closeAll())
	}
	return closeAll, nil
}

// waitReady connects cc and waits until its transport is up (the HTTP/2
// handshake with the server is done).
func waitReady(ctx context.Context, cc *grpc.ClientConn) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cc.Connect()
	for {
		s := cc.GetState()
		if s == connectivity.Ready {
			return nil
		}
		if !cc.WaitForStateChange(ctx, s) {
			return fmt.Errorf("grpc: connection stuck in %v: %w", s, ctx.Err())
		}
	}
}
