package hfsim

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRemoteReadsTheLogOverHTTP: a Remote server reports what the real
// one recorded, filtered by a header, and the recorder's own GETs are
// neither authenticated nor recorded.
func TestRemoteReadsTheLogOverHTTP(t *testing.T) {
	srv := New(Options{Token: "tok"})
	base, err := srv.Start("127.0.0.1:0")
	require.NoError(t, err)
	defer srv.Close(context.Background())
	for _, id := range []string{"a", "b", "a"} {
		req, err := http.NewRequest("POST", base+"/v1/chat/completions", strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"`+id+`"}]}`))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer tok")
		req.Header.Set("X-E2E-Id", id)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, 200, res.StatusCode)
	}
	remote := Remote(base + "/")
	assert.Equal(t, base, remote.URL())
	all := remote.Requests()
	require.Len(t, all, 3)
	assert.Equal(t, srv.Requests(), all, "headers, body, model survive the trip")
	as := remote.RequestsWith("X-E2E-Id", "a")
	require.Len(t, as, 2)
	assert.Contains(t, string(as[1].Body), `"content":"a"`)
	assert.Equal(t, "m", as[0].Model)
	assert.Empty(t, remote.RequestsWith("X-E2E-Id", "zzz"))
	assert.Len(t, srv.RequestsWith("X-E2E-Id", "b"), 1)
	assert.Len(t, srv.Requests(), 3, "the recorder's GETs are not recorded")

	dead := Remote("http://127.0.0.1:1")
	assert.Panics(t, func() { dead.Requests() }, "an unreadable log is not an empty one")
}
