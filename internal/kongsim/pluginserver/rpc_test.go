package pluginserver

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	kpp "github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/errlog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

// fakeServer is a scripted plugin server on a unix socket.
type fakeServer struct {
	t      *testing.T
	ln     net.Listener
	path   string
	handle func(c net.Conn, call *kpp.RpcCall) bool // false closes the connection
	mu     sync.Mutex
	calls  []*kpp.RpcCall
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newFakeServer(t *testing.T, handle func(c net.Conn, call *kpp.RpcCall) bool) *fakeServer {
	path := filepath.Join(t.TempDir(), "fake.socket")
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	s := &fakeServer{t: t, ln: ln, path: path, handle: handle}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				for {
					b, err := readFrame(c)
					if err != nil {
						return
					}
					var call kpp.RpcCall
					if proto.Unmarshal(b, &call) != nil {
						return
					}
					s.mu.Lock()
					s.calls = append(s.calls, &call)
					s.mu.Unlock()
					if !s.handle(c, &call) {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *fakeServer) received() []*kpp.RpcCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*kpp.RpcCall(nil), s.calls...)
}

func readFrame(c net.Conn) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.LittleEndian.Uint32(hdr[:]))
	_, err := io.ReadFull(c, b)
	return b, err
}

func writeFrame(c net.Conn, b []byte) {
	var hdr [4]byte
	binary.LittleEndian.PutUint32(hdr[:], uint32(len(b)))
	_, _ = c.Write(append(hdr[:], b...))
}

func reply(c net.Conn, m proto.Message) {
	b, _ := proto.Marshal(m)
	writeFrame(c, b)
}

// goPDK answers like go-pdk: instance ids from __seq__ (fixed here),
// events with one PDK call then the end-of-event frame.
func goPDK(t *testing.T, seqDelta int64) func(c net.Conn, call *kpp.RpcCall) bool {
	next := int32(0)
	var mu sync.Mutex
	return func(c net.Conn, call *kpp.RpcCall) bool {
		switch x := call.Call.(type) {
		case *kpp.RpcCall_CmdStartInstance:
			mu.Lock()
			next++
			id := next
			mu.Unlock()
			reply(c, &kpp.RpcReturn{Sequence: call.Sequence + seqDelta, Return: &kpp.RpcReturn_InstanceStatus{InstanceStatus: &kpp.InstanceStatus{Name: x.CmdStartInstance.Name, InstanceId: id}}})
		case *kpp.RpcCall_CmdCloseInstance:
			reply(c, &kpp.RpcReturn{Sequence: call.Sequence, Return: &kpp.RpcReturn_InstanceStatus{InstanceStatus: &kpp.InstanceStatus{Name: "---", InstanceId: x.CmdCloseInstance.InstanceId}}})
		case *kpp.RpcCall_CmdHandleEvent:
			writeFrame(c, []byte("kong.request.get_path"))
			writeFrame(c, nil)
			got, err := readFrame(c)
			if err != nil {
				return false
			}
			var s kpp.String
			require.NoError(t, proto.Unmarshal(got, &s))
			assert.Equal(t, "/p", s.V)
			writeFrame(c, nil)
			reply(c, &kpp.RpcReturn{Sequence: call.Sequence + seqDelta})
		}
		return true
	}
}

type pathBridge struct{ calls []string }

func (b *pathBridge) Call(method string, args []byte) ([]byte, error) {
	b.calls = append(b.calls, method)
	return proto.Marshal(&kpp.String{V: "/p"})
}

func nopLog(errlog.Level, string) {}

func TestSequencesAndInstanceLifecycle(t *testing.T) {
	srv := newFakeServer(t, goPDK(t, 0))
	p := NewPlugin(Info{Name: "fake"}, NewClient(srv.path, ClientOptions{Timeout: 5 * time.Second}))
	ctx := context.Background()
	b := &pathBridge{}
	conf1 := Conf{PluginID: "p1", Seq: 7, JSON: []byte(`{"__seq__":7}`)}
	require.NoError(t, p.HandleEvent(ctx, conf1, "access", b, nil, nopLog))
	require.NoError(t, p.HandleEvent(ctx, conf1, "access", b, nil, nopLog))
	conf2 := Conf{PluginID: "p1", Seq: 8, JSON: []byte(`{"__seq__":8}`)}
	require.NoError(t, p.HandleEvent(ctx, conf2, "access", b, nil, nopLog))

	calls := srv.received()
	var kinds []string
	var seqs []int64
	for _, c := range calls {
		seqs = append(seqs, c.Sequence)
		switch x := c.Call.(type) {
		case *kpp.RpcCall_CmdStartInstance:
			kinds = append(kinds, "start "+string(x.CmdStartInstance.Config))
		case *kpp.RpcCall_CmdCloseInstance:
			kinds = append(kinds, "close "+string(rune('0'+x.CmdCloseInstance.InstanceId)))
		case *kpp.RpcCall_CmdHandleEvent:
			kinds = append(kinds, "event "+x.CmdHandleEvent.EventName+" "+string(rune('0'+x.CmdHandleEvent.InstanceId)))
		}
	}
	assert.Equal(t, []string{
		`start {"__seq__":7}`, "event access 1", "event access 1",
		`start {"__seq__":8}`, "close 1", "event access 2",
	}, kinds, "lazy start, reuse while __seq__ holds, start the new instance then close the old")
	assert.Equal(t, []int64{2, 3, 4, 5, 6, 7}, seqs, "Kong's msg_id+1")
	assert.Equal(t, Counters{InstancesStarted: 2, InstancesClosed: 1}, p.Counters())
	assert.Equal(t, []string{"kong.request.get_path", "kong.request.get_path", "kong.request.get_path"}, b.calls)
}

func TestSequenceMismatchIsRaised(t *testing.T) {
	srv := newFakeServer(t, goPDK(t, 1))
	c := NewClient(srv.path, ClientOptions{Timeout: 5 * time.Second})
	_, err := c.StartInstance(context.Background(), "fake", []byte(`{}`))
	var raised *Raised
	require.ErrorAs(t, err, &raised)
	assert.Contains(t, err.Error(), "assertion failed!")
}

func TestClosedConnectionResetsAndRetries(t *testing.T) {
	var events int
	var mu sync.Mutex
	base := goPDK(t, 0)
	srv := newFakeServer(t, func(c net.Conn, call *kpp.RpcCall) bool {
		if _, ok := call.Call.(*kpp.RpcCall_CmdHandleEvent); ok {
			mu.Lock()
			events++
			n := events
			mu.Unlock()
			if n == 1 {
				return false // "no plugin instance": go-pdk closes without a word
			}
		}
		return base(c, call)
	})
	p := NewPlugin(Info{Name: "fake"}, NewClient(srv.path, ClientOptions{Timeout: 5 * time.Second}))
	var warned []string
	logf := func(level errlog.Level, msg string) {
		if level == errlog.Warn {
			warned = append(warned, msg)
		}
	}
	require.NoError(t, p.HandleEvent(context.Background(), Conf{PluginID: "p", Seq: 1, JSON: []byte(`{}`)}, "access", &pathBridge{}, nil, logf))
	c := p.Counters()
	assert.Equal(t, int64(1), c.EventRetries)
	assert.Equal(t, int64(1), c.InstanceResets)
	assert.Equal(t, int64(2), c.InstancesStarted, "the instance is started again after the reset")
	assert.Equal(t, []string{"[kong] pb_rpc.lua:378 closed"}, warned)
}

func TestRetriesAreCapped(t *testing.T) {
	base := goPDK(t, 0)
	srv := newFakeServer(t, func(c net.Conn, call *kpp.RpcCall) bool {
		if _, ok := call.Call.(*kpp.RpcCall_CmdHandleEvent); ok {
			return false // always drops: Kong would loop for ever
		}
		return base(c, call)
	})
	p := NewPlugin(Info{Name: "fake"}, NewClient(srv.path, ClientOptions{Timeout: 5 * time.Second}))
	p.MaxRetries = 2
	err := p.HandleEvent(context.Background(), Conf{PluginID: "p", Seq: 1, JSON: []byte(`{}`)}, "access", &pathBridge{}, nil, nopLog)
	require.ErrorIs(t, err, ErrRetriesExhausted)
	assert.Equal(t, int64(2), p.Counters().EventRetries)
	assert.Equal(t, int64(1), p.Counters().RetriesExhausted)
}

func TestConnectFailureIsRaisedByStart(t *testing.T) {
	p := NewPlugin(Info{Name: "fake"}, NewClient(filepath.Join(t.TempDir(), "none.socket"), ClientOptions{}))
	var logged []string
	err := p.HandleEvent(context.Background(), Conf{PluginID: "p", Seq: 1}, "access", &pathBridge{}, nil, func(_ errlog.Level, m string) { logged = append(logged, m) })
	var raised *Raised
	require.ErrorAs(t, err, &raised, "get_instance_id raises error(err)")
	assert.Equal(t, "no such file or directory", err.Error())
	assert.Equal(t, []string{"[kong] plugin.lua:283 starting instance: no such file or directory"}, logged)
}

func TestBridgeErrorAbandonsTheConnection(t *testing.T) {
	srv := newFakeServer(t, goPDK(t, 0))
	p := NewPlugin(Info{Name: "fake"}, NewClient(srv.path, ClientOptions{Timeout: 5 * time.Second}))
	fail := errors.New("method not found")
	var abandoned []io.Closer
	err := p.HandleEvent(context.Background(), Conf{PluginID: "p", Seq: 1, JSON: []byte(`{}`)}, "access",
		bridgeFunc(func(string, []byte) ([]byte, error) { return nil, fail }), func(c io.Closer) { abandoned = append(abandoned, c) }, nopLog)
	require.ErrorIs(t, err, fail)
	assert.Len(t, abandoned, 1, "Kong neither pools nor closes it before the request ends")
	for _, c := range abandoned {
		_ = c.Close()
	}
}

type bridgeFunc func(string, []byte) ([]byte, error)

func (f bridgeFunc) Call(m string, a []byte) ([]byte, error) { return f(m, a) }

func TestCosocketErrorWording(t *testing.T) {
	assert.Equal(t, "closed", cosocketError("receive", io.EOF).Error())
	assert.Equal(t, "closed", cosocketError("receive", io.ErrUnexpectedEOF).Error())
	_, err := net.Dial("unix", filepath.Join(t.TempDir(), "x"))
	assert.Equal(t, "no such file or directory", cosocketError("connect", err).Error())
}
