package store

import (
	"encoding/json"

	"github.com/tidwall/gjson"
)

// Service is a Kong service. Entity is the full JSON the Admin API shows.
type Service struct {
	ID             string
	Name           string
	Protocol       string
	Host           string
	Port           int
	Path           string // "" when null
	Retries        int
	ConnectTimeout int // milliseconds
	WriteTimeout   int
	ReadTimeout    int
	Enabled        bool
	Tags           []string
	CreatedAt      int64
	UpdatedAt      int64
	Entity         json.RawMessage
}

// Route is a Kong route.
type Route struct {
	ID                string
	Name              string
	ServiceID         string // "" when the route has no service
	Protocols         []string
	Methods           []string
	Hosts             []string
	Paths             []string
	StripPath         bool
	PreserveHost      bool
	RegexPriority     int
	PathHandling      string
	RequestBuffering  bool
	ResponseBuffering bool
	Tags              []string
	CreatedAt         int64
	UpdatedAt         int64
	Entity            json.RawMessage
}

// Consumer is a Kong consumer (accepted and listed; the stand-in does no
// authentication, so no request is ever mapped to one).
type Consumer struct {
	ID        string
	Username  string
	CustomID  string
	CreatedAt int64
	Entity    json.RawMessage
}

// Plugin is a plugin entity.
type Plugin struct {
	ID           string
	Name         string
	InstanceName string
	RouteID      string // "" = not scoped to a route
	ServiceID    string // "" = not scoped to a service
	ConsumerID   string // "" = not scoped to a consumer
	// Config is what Kong sends the plugin: defaults applied, null fields
	// left out, vault references resolved. (The data plane adds __key__,
	// __seq__, __plugin_id, route_id, ... itself.)
	Config    json.RawMessage
	Enabled   bool
	Protocols []string
	Tags      []string
	CreatedAt int64
	UpdatedAt int64
	// Entity is the plugin as the Admin API shows it (nulls kept, config
	// with its references unresolved).
	Entity json.RawMessage
}

func stringList(r gjson.Result) []string {
	if !r.IsArray() {
		return nil
	}
	var out []string
	for _, e := range r.Array() {
		out = append(out, e.String())
	}
	return out
}

func newService(doc json.RawMessage) *Service {
	g := gjson.ParseBytes(doc)
	return &Service{
		ID:             g.Get("id").String(),
		Name:           g.Get("name").String(),
		Protocol:       g.Get("protocol").String(),
		Host:           g.Get("host").String(),
		Port:           int(g.Get("port").Int()),
		Path:           g.Get("path").String(),
		Retries:        int(g.Get("retries").Int()),
		ConnectTimeout: int(g.Get("connect_timeout").Int()),
		WriteTimeout:   int(g.Get("write_timeout").Int()),
		ReadTimeout:    int(g.Get("read_timeout").Int()),
		Enabled:        g.Get("enabled").Bool(),
		Tags:           stringList(g.Get("tags")),
		CreatedAt:      g.Get("created_at").Int(),
		UpdatedAt:      g.Get("updated_at").Int(),
		Entity:         doc,
	}
}

func newRoute(doc json.RawMessage) *Route {
	g := gjson.ParseBytes(doc)
	return &Route{
		ID:                g.Get("id").String(),
		Name:              g.Get("name").String(),
		ServiceID:         g.Get("service.id").String(),
		Protocols:         stringList(g.Get("protocols")),
		Methods:           stringList(g.Get("methods")),
		Hosts:             stringList(g.Get("hosts")),
		Paths:             stringList(g.Get("paths")),
		StripPath:         g.Get("strip_path").Bool(),
		PreserveHost:      g.Get("preserve_host").Bool(),
		RegexPriority:     int(g.Get("regex_priority").Int()),
		PathHandling:      g.Get("path_handling").String(),
		RequestBuffering:  g.Get("request_buffering").Bool(),
		ResponseBuffering: g.Get("response_buffering").Bool(),
		Tags:              stringList(g.Get("tags")),
		CreatedAt:         g.Get("created_at").Int(),
		UpdatedAt:         g.Get("updated_at").Int(),
		Entity:            doc,
	}
}

func newConsumer(doc json.RawMessage) *Consumer {
	g := gjson.ParseBytes(doc)
	return &Consumer{
		ID:        g.Get("id").String(),
		Username:  g.Get("username").String(),
		CustomID:  g.Get("custom_id").String(),
		CreatedAt: g.Get("created_at").Int(),
		Entity:    doc,
	}
}

func newPlugin(doc, config json.RawMessage) *Plugin {
	g := gjson.ParseBytes(doc)
	return &Plugin{
		ID:           g.Get("id").String(),
		Name:         g.Get("name").String(),
		InstanceName: g.Get("instance_name").String(),
		RouteID:      g.Get("route.id").String(),
		ServiceID:    g.Get("service.id").String(),
		ConsumerID:   g.Get("consumer.id").String(),
		Config:       config,
		Enabled:      g.Get("enabled").Bool(),
		Protocols:    stringList(g.Get("protocols")),
		Tags:         stringList(g.Get("tags")),
		CreatedAt:    g.Get("created_at").Int(),
		UpdatedAt:    g.Get("updated_at").Int(),
		Entity:       doc,
	}
}
