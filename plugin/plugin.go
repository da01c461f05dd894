// Package plugin holds the Kong phase handlers of ai-proxy-hf: the only code
// that talks to Kong through the PDK.
package plugin

import (
	"fmt"
	"reflect"

	"github.com/Kong/go-pdk"
	"github.com/ai-proxy-hf/ai-proxy-hf/plugin/translate"
	"github.com/ai-proxy-hf/ai-proxy-hf/schema"
)

// Instance is one plugin instance: go-pdk builds one per Kong config (New),
// decodes Kong's config JSON into it, and calls its phase handlers from
// concurrent requests. It is read-only after UnmarshalJSON.
type Instance struct {
	cfg *schema.Config
	// capability serves the config's route_type / llm_format.
	capability translate.Capability
	// redact removes the config's secrets from what the plugin logs.
	redact *translate.Redactor
	// cfgErr is a config the Go side rejected. It must not fail the start
	// (go-pdk would drop the connection and Kong would retry for ever), so
	// the instance starts and every request it serves gets a 500 naming it.
	cfgErr error
}

// New is the constructor go-pdk's server calls for each instance.
func New() interface{} { return &Instance{} }

// parseConfig is schema.Parse; a variable so that a test can make it panic.
var parseConfig = schema.Parse

// UnmarshalJSON is how go-pdk hands the instance its config. It never
// fails, and never panics: go-pdk calls it outside any handler, where a
// panic would kill the plugin server and every request in flight.
func (i *Instance) UnmarshalJSON(raw []byte) error {
	defer func() {
		if r := recover(); r != nil {
			*i = Instance{cfgErr: fmt.Errorf("the configuration could not be read (internal error: %v)", r)}
		}
	}()
	i.cfg, i.cfgErr = parseConfig(raw)
	if i.cfgErr == nil {
		i.capability, i.cfgErr = translate.For(i.cfg)
		i.redact = translate.NewRedactor(i.cfg)
	}
	return nil
}

// phaseNames are go-pdk's phases in the order it reports them
// (server/rpc.go), each with the method a handler type implements.
var phaseNames = []struct{ phase, method string }{
	{"certificate", "Certificate"},
	{"rewrite", "Rewrite"},
	{"access", "Access"},
	{"response", "Response"},
	{"preread", "Preread"},
	{"log", "Log"},
}

// Phases lists the phases the handler type really implements, the way
// go-pdk derives them, so that -dump never claims a phase that has no handler.
func Phases() []string {
	t := reflect.TypeOf(New())
	pdkType := reflect.TypeOf((*pdk.PDK)(nil))
	var out []string
	for _, p := range phaseNames {
		m, ok := t.MethodByName(p.method)
		if ok && m.Type.NumIn() == 2 && m.Type.In(1) == pdkType && m.Type.NumOut() == 0 {
			out = append(out, p.phase)
		}
	}
	return out
}
