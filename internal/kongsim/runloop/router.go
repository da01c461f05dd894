package runloop

import (
	"net"
	"sort"
	"strings"

	"github.com/ai-proxy-hf/ai-proxy-hf/internal/kongsim/pdk"
)

// router matches requests to routes the way Kong's traditional(-compatible)
// router does for plain prefix paths, methods and hosts.
type router struct {
	routes   []*Route
	services map[string]*Service
}

func newRouter(s *Snapshot) *router {
	r := &router{services: map[string]*Service{}}
	for _, svc := range s.Services {
		r.services[svc.ID] = svc
	}
	r.routes = append(r.routes, s.Routes...)
	return r
}

// match is the router's match_t.
type match struct {
	route    *Route
	service  *Service // nil: a route without a service (Kong answers 503)
	prefix   string   // matched path prefix ("" when the route has no paths)
	postfix  string   // the rest of the path after the prefix
	upstream string   // the upstream URI before escaping
	host     string   // upstream Host when preserve_host
}

// exec is router.exec: reqURI is the request URI with its query cut and
// normalised (strip_uri_args), host the Host header.
func (r *router) exec(method, reqURI, host string) *match {
	type cand struct {
		m      *match
		weight int
		plen   int
		order  int
	}
	var cands []cand
	hostNoPort := hostWithoutPort(host)
	for i, rt := range r.routes {
		if !hasHTTP(rt.Protocols) {
			continue
		}
		weight := 0
		if len(rt.Methods) > 0 {
			if !containsFold(rt.Methods, method) {
				continue
			}
			weight++
		}
		if len(rt.Hosts) > 0 {
			if !matchHost(rt.Hosts, host, hostNoPort) {
				continue
			}
			weight += 2
		}
		m := &match{route: rt}
		plen := -1
		if len(rt.Paths) > 0 {
			for _, p := range rt.Paths {
				if strings.HasPrefix(p, "~") {
					continue // regex paths are not supported by the stand-in
				}
				np := pdk.Normalize(p, true)
				if strings.HasPrefix(reqURI, np) && len(np) > plen {
					plen = len(np)
					m.prefix = np
				}
			}
			if plen < 0 {
				continue
			}
			weight++
			m.postfix = sanitizePostfix(reqURI[plen:])
		}
		cands = append(cands, cand{m: m, weight: weight, plen: plen, order: i})
	}
	if len(cands) == 0 {
		return nil
	}
	sort.SliceStable(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if a.weight != b.weight {
			return a.weight > b.weight
		}
		if a.plen != b.plen {
			return a.plen > b.plen
		}
		return a.order < b.order
	})
	m := cands[0].m
	m.service = r.services[m.route.ServiceID]
	if m.route.PreserveHost {
		m.host = host
	}
	base := "/"
	if m.service != nil && m.service.Path != "" {
		base = m.service.Path
	}
	postfix := m.postfix
	if m.prefix == "" {
		postfix = strings.TrimPrefix(reqURI, "/")
	}
	if m.route.PathHandling == "v1" {
		m.upstream = upstreamURIv1(m.route.StripPath, postfix, reqURI, base)
	} else {
		m.upstream = upstreamURIv0(m.route.StripPath, postfix, reqURI, base)
	}
	return m
}

func hasHTTP(protocols []string) bool {
	if len(protocols) == 0 {
		return true
	}
	for _, p := range protocols {
		if p == "http" || p == "https" {
			return true
		}
	}
	return false
}

func containsFold(list []string, s string) bool {
	for _, e := range list {
		if strings.EqualFold(e, s) {
			return true
		}
	}
	return false
}

func hostWithoutPort(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return strings.ToLower(host)
	}
	return strings.ToLower(h)
}

// matchHost matches plain and wildcard ("*.x.com", "x.*") route hosts; a
// route host with a port must match the Host header with its port.
func matchHost(hosts []string, host, hostNoPort string) bool {
	for _, h := range hosts {
		h = strings.ToLower(h)
		target := hostNoPort
		if _, _, err := net.SplitHostPort(h); err == nil {
			target = strings.ToLower(host)
		}
		switch {
		case h == target:
			return true
		case strings.HasPrefix(h, "*.") && strings.HasSuffix(target, h[1:]):
			return true
		case strings.HasSuffix(h, ".*") && strings.HasPrefix(target, h[:len(h)-1]):
			return true
		}
	}
	return false
}

// sanitizePostfix is router/utils.lua sanitize_uri_postfix.
func sanitizePostfix(p string) string {
	switch {
	case p == "":
		return p
	case p == "." || p == "..":
		return ""
	case strings.HasPrefix(p, "./"):
		return p[2:]
	case strings.HasPrefix(p, "../"):
		return p[3:]
	}
	return p
}

// upstreamURIv0 is router/utils.lua get_upstream_uri_v0.
func upstreamURIv0(strip bool, postfix, reqURI, base string) string {
	if strings.HasSuffix(base, "/") {
		if strip {
			if postfix == "" {
				if base == "/" {
					return "/"
				}
				if strings.HasSuffix(reqURI, "/") {
					return base
				}
				return base[:len(base)-1]
			}
			if strings.HasPrefix(postfix, "/") {
				return base[:len(base)-1] + postfix
			}
			return base + postfix
		}
		return base + reqURI[1:]
	}
	if strip {
		if postfix == "" {
			if len(reqURI) > 1 && strings.HasSuffix(reqURI, "/") {
				return base + "/"
			}
			return base
		}
		if strings.HasPrefix(postfix, "/") {
			return base + postfix
		}
		return base + "/" + postfix
	}
	if reqURI == "/" {
		return base
	}
	return base + reqURI
}

// upstreamURIv1 is the traditional router's path_handling "v1".
func upstreamURIv1(strip bool, postfix, reqURI, base string) string {
	if strip {
		if strings.HasSuffix(base, "/") && strings.HasPrefix(postfix, "/") {
			return base[:len(base)-1] + postfix
		}
		return base + postfix
	}
	return base + reqURI[1:]
}
