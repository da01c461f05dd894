package store

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/kongschema"
)

// echoSchema is a small plugin schema as a plugin server would dump it.
const echoSchema = `{"name":"echo","fields":[
	{"protocols":{"type":"set","default":["grpc","grpcs","http","https"],"required":true,
		"elements":{"type":"string","one_of":["grpc","grpcs","http","https"]}}},
	{"config":{"type":"record","fields":[
		{"message":{"type":"string","default":"hi"}},
		{"secret":{"type":"string","referenceable":true}},
		{"limits":{"type":"record","fields":[{"max":{"type":"integer","default":10,"between":[1,100]}}]}}]}}]}`

func newTestStore(t *testing.T) *Store {
	t.Helper()
	echo, err := kongschema.Parse([]byte(echoSchema))
	require.NoError(t, err)
	fileLog, _ := kongschema.Builtin("file-log")
	reg := kongschema.NewRegistry(echo, fileLog)
	clock := time.Unix(1700000000, 0)
	return New(reg,
		WithClock(func() time.Time { return clock }),
		WithResolver(kongschema.EnvVault([]string{"ECHO_SECRET=s3cr3t"})))
}

// mustOK unwraps a store result; Go cannot pass a multi-value call plus a
// *testing.T, so a failure panics, which fails the test with the message.
func mustOK[T any](v T, err *kongschema.Error) T {
	if err != nil {
		panic("unexpected store error: " + err.Message + " " + string(err.Fields))
	}
	return v
}

func TestCreateAndPrecedence(t *testing.T) {
	s := newTestStore(t)
	var versions []uint64
	var mu sync.Mutex
	cancel := s.OnChange(func(sn *Snapshot) {
		mu.Lock()
		versions = append(versions, sn.Version)
		mu.Unlock()
	})
	defer cancel()

	svc := mustOK(s.CreateService(json.RawMessage(`{"name":"svc","url":"http://127.0.0.1:9/base"}`)))
	assert.Equal(t, "http", svc.Protocol)
	assert.Equal(t, "127.0.0.1", svc.Host)
	assert.Equal(t, 9, svc.Port)
	assert.Equal(t, "/base", svc.Path)
	assert.Equal(t, int64(1700000000), svc.CreatedAt)
	r1 := mustOK(s.CreateRoute(json.RawMessage(`{"name":"r1","paths":["/one"],"service":{"name":"svc"}}`)))
	assert.Equal(t, svc.ID, r1.ServiceID)
	assert.True(t, r1.StripPath)
	r2 := mustOK(s.CreateRoute(json.RawMessage(`{"name":"r2","paths":["/two"],"service":"svc"}`)))

	global := mustOK(s.CreatePlugin(json.RawMessage(`{"name":"echo","config":{"message":"global"}}`)))
	assert.JSONEq(t, `{"message":"global","limits":{"max":10}}`, string(global.Config))
	onSvc := mustOK(s.CreatePlugin(json.RawMessage(`{"name":"echo","service":{"id":"` + svc.ID + `"},"config":{"message":"service"}}`)))
	onR1 := mustOK(s.CreatePlugin(json.RawMessage(`{"name":"echo","route":"r1","config":{"message":"route"}}`)))
	both := mustOK(s.CreatePlugin(json.RawMessage(`{"name":"echo","route":"r1","service":"svc","config":{"message":"both"}}`)))
	mustOK(s.CreatePlugin(json.RawMessage(`{"name":"file-log","config":{"path":"/tmp/kongsim-test.log"}}`)))

	sn := s.Snapshot()
	assert.Equal(t, uint64(8), sn.Version)
	names := func(ps []*Plugin) map[string]string {
		m := map[string]string{}
		for _, p := range ps {
			m[p.Name] = p.ID
		}
		return m
	}
	assert.Equal(t, map[string]string{"echo": both.ID, "file-log": sn.Plugins()[4].ID}, names(sn.PluginsFor(r1.ID, svc.ID, "http")))
	assert.Equal(t, onR1.ID, names(sn.PluginsFor(r1.ID, "", "http"))["echo"])
	assert.Equal(t, onSvc.ID, names(sn.PluginsFor(r2.ID, svc.ID, "http"))["echo"])
	assert.Equal(t, global.ID, names(sn.PluginsFor("", "", "http"))["echo"])
	assert.Empty(t, sn.PluginsFor(r1.ID, svc.ID, "tcp"))

	// Disabling the route+service instance lets the route one apply.
	mustOK(s.UpdatePlugin(both.ID, json.RawMessage(`{"enabled":false}`)))
	assert.Equal(t, onR1.ID, names(s.Snapshot().PluginsFor(r1.ID, svc.ID, "http"))["echo"])

	mu.Lock()
	assert.Equal(t, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9}, versions)
	mu.Unlock()
}

func TestPluginErrors(t *testing.T) {
	s := newTestStore(t)
	mustOK(s.CreateService(json.RawMessage(`{"name":"svc","host":"example.com"}`)))
	mustOK(s.CreateRoute(json.RawMessage(`{"name":"grpc-only","protocols":["grpc"],"paths":["/g"],"service":"svc","strip_path":false}`)))
	mustOK(s.CreatePlugin(json.RawMessage(`{"name":"echo"}`)))

	tests := []struct {
		name   string
		body   string
		status int
		msg    string
	}{
		{"unknown plugin", `{"name":"nope"}`, 400, "schema violation (name: plugin 'nope' not enabled; add it to the 'plugins' configuration property)"},
		{"no name", `{"config":{}}`, 400, "schema violation (name: required field missing)"},
		{"bad config", `{"name":"echo","route":"grpc-only","config":{"limits":{"max":0}}}`, 400,
			"schema violation (config.limits: {\n  max = \"value should be between 1 and 100\"\n})"},
		{"duplicate global", `{"name":"echo"}`, 409,
			"UNIQUE violation detected on '{consumer=null,name=\"echo\",route=null,service=null}'"},
		{"unknown route", `{"name":"echo","route":"zzz"}`, 400,
			"the foreign key '{name=\"zzz\"}' does not reference an existing 'routes' entity."},
		{"protocol mismatch", `{"name":"echo","route":"grpc-only","protocols":["http"]}`, 400,
			"schema violation (protocols: must match the associated route's protocols)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Snapshot().Version
			_, err := s.CreatePlugin(json.RawMessage(tc.body))
			require.NotNil(t, err)
			assert.Equal(t, tc.status, err.HTTPStatus())
			assert.Equal(t, tc.msg, err.Message)
			assert.Equal(t, before, s.Snapshot().Version, "a failed write must not change the version")
		})
	}
}

func TestUpdateUpsertDelete(t *testing.T) {
	s := newTestStore(t)
	p := mustOK(s.CreatePlugin(json.RawMessage(`{"name":"echo","instance_name":"e1","config":{"secret":"{vault://env/echo-secret}"}}`)))
	assert.JSONEq(t, `{"message":"hi","secret":"s3cr3t","limits":{"max":10}}`, string(p.Config))
	assert.Contains(t, string(p.Entity), `"secret":"{vault://env/echo-secret}"`)

	up := mustOK(s.UpdatePlugin("e1", json.RawMessage(`{"config":{"limits":{"max":20}}}`)))
	assert.Equal(t, p.ID, up.ID)
	assert.JSONEq(t, `{"message":"hi","secret":"s3cr3t","limits":{"max":20}}`, string(up.Config))

	_, err := s.UpdatePlugin(p.ID, json.RawMessage(`{"config":{"limits":{"max":200}}}`))
	require.NotNil(t, err)
	assert.Equal(t, "schema violation (config.limits: {\n  max = \"value should be between 1 and 100\"\n})", err.Message)
	_, err = s.UpdatePlugin("missing", json.RawMessage(`{}`))
	require.NotNil(t, err)
	assert.Equal(t, 404, err.HTTPStatus())

	put := mustOK(s.UpsertPlugin(p.ID, json.RawMessage(`{"name":"echo","config":{"message":"replaced"}}`)))
	assert.JSONEq(t, `{"message":"replaced","limits":{"max":10}}`, string(put.Config))
	assert.Equal(t, p.CreatedAt, put.CreatedAt)
	assert.Empty(t, put.InstanceName)

	assert.True(t, s.DeletePlugin(p.ID))
	assert.False(t, s.DeletePlugin(p.ID))
	assert.Empty(t, s.Snapshot().Plugins())
}

func TestReplace(t *testing.T) {
	s := newTestStore(t)
	mustOK(s.CreatePlugin(json.RawMessage(`{"name":"echo"}`)))
	svcID, routeID := NewUUID(), NewUUID()
	err := s.Replace(Content{
		Services: []json.RawMessage{json.RawMessage(`{"id":"` + svcID + `","name":"a","host":"h"}`)},
		Routes:   []json.RawMessage{json.RawMessage(`{"id":"` + routeID + `","name":"r","paths":["/"],"service":{"id":"` + svcID + `"}}`)},
		Plugins:  []json.RawMessage{json.RawMessage(`{"name":"echo","route":{"id":"` + routeID + `"}}`)},
	})
	require.Nil(t, err)
	sn := s.Snapshot()
	require.Len(t, sn.Plugins(), 1)
	assert.Equal(t, routeID, sn.Plugins()[0].RouteID)

	err = s.Replace(Content{Plugins: []json.RawMessage{json.RawMessage(`{"name":"echo","config":{"limits":{"max":"x"}}}`)}})
	require.NotNil(t, err)
	assert.Equal(t, 14, err.Code)
	assert.JSONEq(t, `{"plugins":[{"config":{"limits":{"max":"expected an integer"}}}]}`, string(err.Fields))
	assert.Equal(t, sn, s.Snapshot(), "a failed replace changes nothing")
}

func TestConcurrentReadersAndWriters(t *testing.T) {
	s := newTestStore(t)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := 0; j < 25; j++ {
				p, err := s.CreatePlugin(json.RawMessage(`{"name":"echo","instance_name":"` + NewUUID() + `","route":null,"tags":["x"],"consumer":null}`))
				if err == nil {
					s.DeletePlugin(p.ID)
				}
			}
		}()
		go func() {
			defer wg.Done()
			last := uint64(0)
			for j := 0; j < 100; j++ {
				v := s.Snapshot().Version
				if v < last {
					t.Errorf("version went back from %d to %d", last, v)
				}
				last = v
			}
		}()
	}
	wg.Wait()
}
