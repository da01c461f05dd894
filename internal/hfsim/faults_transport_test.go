package hfsim

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// rawRequest sends a chat request on a plain TCP connection, so the test
// sees bytes as they arrive (net/http would wait for the whole head).
func rawRequest(t *testing.T, url string, body string, headers map[string]string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	var b strings.Builder
	b.WriteString("POST /v1/chat/completions HTTP/1.1\r\nHost: hfsim\r\nContent-Type: application/json\r\nAuthorization: Bearer " + testToken + "\r\n")
	for k, v := range headers {
		b.WriteString(k + ": " + v + "\r\n")
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	_, err = conn.Write([]byte(b.String()))
	require.NoError(t, err)
	return conn
}

// TestFaultSlowHeaders: the head arrives a byte at a time over about
// Trickle-For, then the normal answer, whole and parseable.
func TestFaultSlowHeaders(t *testing.T) {
	_, url := startServer(t, Options{Token: testToken})
	start := time.Now()
	conn := rawRequest(t, url, chatBody(testModel, "slowly", ""), map[string]string{
		"X-Hfsim-Fault": FaultSlowHeaders, "X-Hfsim-Trickle-Interval": "5ms", "X-Hfsim-Trickle-For": "400ms"})
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	// The first read gets a single byte: nothing is buffered up.
	var one [64]byte
	n, err := conn.Read(one[:])
	require.NoError(t, err)
	assert.LessOrEqual(t, n, 2, "the head is trickled, not sent at once: got %q", one[:n])
	rest, err := io.ReadAll(conn)
	require.NoError(t, err)
	elapsed := time.Since(start)
	res, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(one[:n])+string(rest))), nil)
	require.NoError(t, err)
	defer res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.NotEmpty(t, res.Header.Get("X-Hfsim-Pad"))
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	assert.Equal(t, Reply("slowly"), gjson.GetBytes(body, "choices.0.message.content").String(), "the normal answer follows the head")
	// Loose bound (the machine is shared): at least most of the trickle.
	assert.GreaterOrEqual(t, elapsed, 200*time.Millisecond, "the head took about Trickle-For")
}

// TestFaultEndless: 200, then a body that keeps coming and never ends
// cleanly: the JSON object is never closed, the stream never says [DONE];
// at Trickle-For the connection is cut.
func TestFaultEndless(t *testing.T) {
	_, url := startServer(t, Options{Token: testToken})
	for _, stream := range []bool{false, true} {
		name, body, piece := "json", chatBody(testModel, "forever", ""), EndlessChunk
		if stream {
			name, body, piece = "stream", `{"stream":true,`+chatBody(testModel, "forever", "")[1:], EndlessEvent
		}
		t.Run(name, func(t *testing.T) {
			conn := rawRequest(t, url, body, map[string]string{
				"X-Hfsim-Fault": FaultEndless, "X-Hfsim-Trickle-Interval": "2ms", "X-Hfsim-Trickle-For": "300ms"})
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, res.StatusCode)
			assert.Equal(t, []string{"chunked"}, res.TransferEncoding)
			got, err := io.ReadAll(res.Body)
			require.ErrorIs(t, err, io.ErrUnexpectedEOF, "the cut at Trickle-For is a truncated body")
			assert.GreaterOrEqual(t, strings.Count(string(got), piece), 10, "pieces keep coming")
			assert.NotContains(t, string(got), "[DONE]")
			if !stream {
				assert.False(t, gjson.ValidBytes(got), "the JSON never closes")
			}
		})
	}
}
