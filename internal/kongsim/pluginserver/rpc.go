package pluginserver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	kpp "github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"google.golang.org/protobuf/proto"
)

// SocketError is a failed socket operation, worded like an OpenResty
// cosocket error ("closed", "timeout", "connection refused", ...), because
// Kong decides between "reset the instances and retry" and "500" by looking
// for "closed" or "no plugin instance" in that text.
type SocketError struct {
	Op  string // "connect", "send", "receive"
	Msg string
	Err error
}

func (e *SocketError) Error() string { return e.Msg }
func (e *SocketError) Unwrap() error { return e.Err }

// Raised marks an error Kong raises (a Lua error from assert or error())
// rather than returns; it is never retried and, in access, becomes the
// coroutine failure path.
type Raised struct{ Err error }

func (e *Raised) Error() string { return e.Err.Error() }
func (e *Raised) Unwrap() error { return e.Err }

func cosocketError(op string, err error) error {
	msg := err.Error()
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		msg = "closed"
	case errors.As(err, &ne) && ne.Timeout():
		msg = "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		msg = "connection refused"
	case errors.Is(err, syscall.ENOENT):
		msg = "no such file or directory"
	case errors.Is(err, syscall.ECONNRESET):
		msg = "connection reset by peer"
	case errors.Is(err, syscall.EPIPE):
		msg = "broken pipe"
	}
	return &SocketError{Op: op, Msg: msg, Err: err}
}

// Client talks to one pluginserver socket like pb_rpc.lua's Rpc object (one
// per plugin per worker; the stand-in has one worker).
type Client struct {
	socket  string
	timeout time.Duration
	msgID   atomic.Int64
	pool    *connPool
}

// ClientOptions tune a Client. Zero values take OpenResty's defaults.
type ClientOptions struct {
	// Timeout bounds connect and each send/receive (lua_socket_*_timeout,
	// 60 s by default).
	Timeout time.Duration
	// PoolSize is lua_socket_pool_size (256); PoolIdle the keepalive
	// timeout (60 s). A negative PoolSize disables pooling: one connection
	// per RPC, which Kong's protocol also allows.
	PoolSize int
	PoolIdle time.Duration
}

// NewClient returns a client for the unix socket at path.
func NewClient(path string, o ClientOptions) *Client {
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.PoolSize == 0 {
		o.PoolSize = 256
	}
	if o.PoolIdle <= 0 {
		o.PoolIdle = 60 * time.Second
	}
	return &Client{socket: path, timeout: o.Timeout, pool: &connPool{max: o.PoolSize, idle: o.PoolIdle}}
}

// Socket is the path the client connects to.
func (c *Client) Socket() string { return c.socket }

// Close drops the pooled connections.
func (c *Client) Close() { c.pool.closeAll() }

// Bridge answers the PDK calls of one event. Call gets the method name and
// the raw args frame and returns the raw reply frame; a non-nil error
// abandons the event (Kong returns or raises it, see HandleEvent).
type Bridge interface {
	Call(method string, args []byte) ([]byte, error)
}

// Abandon receives the connection of an event Kong stopped servicing
// (exit, error): Kong neither pools nor closes it; it goes away when the
// request (or timer) that owns it ends. The receiver closes it then.
type Abandon func(io.Closer)

// StartInstance sends CmdStartInstance and returns the instance id.
func (c *Client) StartInstance(ctx context.Context, name string, config []byte) (int32, error) {
	ret, err := c.call(ctx, &kpp.RpcCall{Call: &kpp.RpcCall_CmdStartInstance{
		CmdStartInstance: &kpp.CmdStartInstance{Name: name, Config: config},
	}}, nil, nil)
	if err != nil {
		return 0, err
	}
	st := ret.GetInstanceStatus()
	if st == nil {
		// status.instance_status.instance_id on a nil field: a Lua error.
		return 0, &Raised{Err: errors.New("attempt to index field 'instance_status' (a nil value)")}
	}
	return st.InstanceId, nil
}

// CloseInstance sends CmdCloseInstance; Kong ignores the outcome.
func (c *Client) CloseInstance(ctx context.Context, id int32) error {
	_, err := c.call(ctx, &kpp.RpcCall{Call: &kpp.RpcCall_CmdCloseInstance{
		CmdCloseInstance: &kpp.CmdCloseInstance{InstanceId: id},
	}}, nil, nil)
	return err
}

// HandleEvent sends CmdHandleEvent and services the PDK calls until the
// empty end-of-event frame, then reads the RpcReturn.
func (c *Client) HandleEvent(ctx context.Context, id int32, phase string, b Bridge, abandon Abandon) error {
	_, err := c.call(ctx, &kpp.RpcCall{Call: &kpp.RpcCall_CmdHandleEvent{
		CmdHandleEvent: &kpp.CmdHandleEvent{InstanceId: id, EventName: phase},
	}}, b, abandon)
	return err
}

// call is Rpc:call. Kong increments msg_id, then sends msg_id+1 (a quirk:
// the sequence numbers on the wire start at 2).
func (c *Client) call(ctx context.Context, msg *kpp.RpcCall, b Bridge, abandon Abandon) (*kpp.RpcReturn, error) {
	seq := c.msgID.Add(1) + 1
	msg.Sequence = seq
	conn, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	drop := func() {
		if abandon != nil {
			abandon(conn)
		} else {
			_ = conn.Close()
		}
	}
	payload, err := proto.Marshal(msg)
	if err != nil {
		_ = conn.Close()
		return nil, &Raised{Err: fmt.Errorf("encoding RpcCall: %w", err)}
	}
	if err := c.writeFrame(conn, payload); err != nil {
		drop()
		return nil, &Raised{Err: err} // assert(c:send(...))
	}
	if b != nil {
		for {
			method, err := c.readFrame(conn)
			if err != nil {
				drop()
				return nil, err
			}
			if len(method) == 0 {
				break
			}
			args, err := c.readFrame(conn)
			if err != nil {
				drop()
				return nil, err
			}
			reply, err := b.Call(string(method), args)
			if err != nil {
				drop()
				return nil, err
			}
			if err := c.writeFrame(conn, reply); err != nil {
				drop()
				return nil, &Raised{Err: err} // write_frame asserts
			}
		}
	}
	raw, err := c.readFrame(conn)
	if err != nil {
		drop()
		return nil, err
	}
	c.pool.put(conn) // c:setkeepalive()
	var ret kpp.RpcReturn
	if err := proto.Unmarshal(raw, &ret); err != nil {
		return nil, &Raised{Err: fmt.Errorf("decoding RpcReturn: %w", err)}
	}
	if ret.Sequence != seq {
		// assert(msg.sequence == msg_id)
		return nil, &Raised{Err: fmt.Errorf("assertion failed! (RpcReturn sequence %d, sent %d)", ret.Sequence, seq)}
	}
	return &ret, nil
}

func (c *Client) connect(ctx context.Context) (net.Conn, error) {
	if conn := c.pool.get(); conn != nil {
		return conn, nil
	}
	d := net.Dialer{Timeout: c.timeout}
	conn, err := d.DialContext(ctx, "unix", c.socket)
	if err != nil {
		return nil, cosocketError("connect", err)
	}
	return conn, nil
}

func (c *Client) readFrame(conn net.Conn) ([]byte, error) {
	_ = conn.SetReadDeadline(time.Now().Add(c.timeout))
	var hdr [4]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return nil, cosocketError("receive", err)
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	buf := make([]byte, n)
	if _, err := io.ReadFull(conn, buf); err != nil {
		return nil, cosocketError("receive", err)
	}
	return buf, nil
}

func (c *Client) writeFrame(conn net.Conn, payload []byte) error {
	_ = conn.SetWriteDeadline(time.Now().Add(c.timeout))
	buf := make([]byte, 4+len(payload))
	binary.LittleEndian.PutUint32(buf, uint32(len(payload)))
	copy(buf[4:], payload)
	if _, err := conn.Write(buf); err != nil {
		return cosocketError("send", err)
	}
	return nil
}

// connPool is the cosocket keepalive pool: idle connections are reused in
// LIFO order, dropped after the idle timeout, and a pooled connection the
// peer closed is noticed and discarded before reuse (nginx watches idle
// pooled connections and closes them on EOF).
type connPool struct {
	mu    sync.Mutex
	max   int
	idle  time.Duration
	conns []pooled
}

type pooled struct {
	conn  net.Conn
	since time.Time
}

func (p *connPool) get() net.Conn {
	if p.max < 0 {
		return nil
	}
	for {
		p.mu.Lock()
		n := len(p.conns)
		if n == 0 {
			p.mu.Unlock()
			return nil
		}
		pc := p.conns[n-1]
		p.conns = p.conns[:n-1]
		p.mu.Unlock()
		if time.Since(pc.since) > p.idle || !alive(pc.conn) {
			_ = pc.conn.Close()
			continue
		}
		return pc.conn
	}
}

func (p *connPool) put(conn net.Conn) {
	if p.max < 0 {
		_ = conn.Close()
		return
	}
	_ = conn.SetDeadline(time.Time{})
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.conns) >= p.max {
		old := p.conns[0]
		p.conns = p.conns[1:]
		_ = old.conn.Close()
	}
	p.conns = append(p.conns, pooled{conn: conn, since: time.Now()})
}

func (p *connPool) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pc := range p.conns {
		_ = pc.conn.Close()
	}
	p.conns = nil
}

// alive peeks at an idle connection: readable data or EOF on an idle
// pooled connection means the peer is gone (or out of sync) for good.
func alive(conn net.Conn) bool {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return true
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return false
	}
	ok = true
	var buf [1]byte
	rerr := raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case n > 0:
			ok = false // unexpected bytes on an idle connection
		case n == 0 && err == nil:
			ok = false // EOF
		case err != nil && !errors.Is(err, syscall.EAGAIN):
			ok = false
		}
		return true
	})
	if rerr != nil {
		return false
	}
	return ok
}
