package errlog

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLineFormat(t *testing.T) {
	var b bytes.Buffer
	l := New(&b, Notice)
	l.pid = 42
	l.now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	l.Printf(Notice, "[kong] process.lua:153 [pluginserver] starting %s", "x")
	l.Write(Err, &Request{Conn: 7, Client: "127.0.0.1", Server: "kong", Line: "GET / HTTP/1.1", Host: "h:8000", RequestID: "rid"}, "boom")
	l.Write(Warn, &Request{Conn: 7, Client: "127.0.0.1", Server: "kong", Timer: true}, "later")
	l.Write(Info, nil, "filtered out at notice")
	assert.Equal(t, "2026/01/02 03:04:05 [notice] 42#0: [kong] process.lua:153 [pluginserver] starting x\n"+
		"2026/01/02 03:04:05 [error] 42#0: *7 boom, client: 127.0.0.1, server: kong, request: \"GET / HTTP/1.1\", host: \"h:8000\", request_id: \"rid\"\n"+
		"2026/01/02 03:04:05 [warn] 42#0: *7 later, context: ngx.timer, client: 127.0.0.1, server: kong\n", b.String())
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]Level{"debug": Debug, "ERR": Err, "error": Err, "notice": Notice, "emerg": Emerg} {
		got, err := ParseLevel(in)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	_, err := ParseLevel("loud")
	assert.Error(t, err)
}
