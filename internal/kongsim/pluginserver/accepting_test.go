package pluginserver

import (
	"context"
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWaitForSocketNeedsListen: a socket file that is bound but not yet
// listening (the moment between go-pdk's bind and listen, when a connect is
// refused) is not ready; the same socket once listening is.
func TestWaitForSocketNeedsListen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.socket")
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	require.NoError(t, err)
	defer syscall.Close(fd)
	require.NoError(t, syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}))

	require.False(t, accepting(path), "bound but not listening")
	_, err = net.Dial("unix", path)
	require.Error(t, err, "a connect before listen is refused: the race the wait avoids")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	require.Error(t, WaitForSocket(ctx, path, nil))

	require.NoError(t, syscall.Listen(fd, 1))
	require.True(t, accepting(path))
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	require.NoError(t, WaitForSocket(ctx2, path, nil))
}
