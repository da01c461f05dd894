package hfsim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// RecorderPath serves the request log over HTTP (GET), so that a test
// process can read what an hfsim in another process or container
// received: a JSON array of Request (Body base64, as encoding/json writes
// []byte). ?header=NAME&value=V keeps the requests whose header NAME has
// value V. It is answered before auth and never recorded.
const RecorderPath = "/_hfsim/requests"

// serveRecorder answers RecorderPath; it reports whether r was for it.
func (s *Server) serveRecorder(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Path != RecorderPath || r.Method != http.MethodGet {
		return false
	}
	q := r.URL.Query()
	reqs := s.Requests()
	if name := q.Get("header"); name != "" {
		reqs = filterByHeader(reqs, name, q.Get("value"))
	}
	if reqs == nil {
		reqs = []Request{}
	}
	b, err := json.Marshal(reqs)
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, err.Error())
		return true
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
	return true
}

func filterByHeader(reqs []Request, name, value string) []Request {
	var out []Request
	for _, r := range reqs {
		if r.Header.Get(name) == value {
			out = append(out, r)
		}
	}
	return out
}

// Remote is a Server standing for an hfsim that runs elsewhere at
// baseURL (another process, a container): URL is baseURL and the
// request log is read from its RecorderPath. It serves nothing itself.
func Remote(baseURL string) *Server {
	s := New(Options{})
	s.remote = strings.TrimRight(baseURL, "/")
	return s
}

// RequestsWith returns the recorded requests whose header name has the
// given value (for a Remote server, filtered by the remote hfsim).
func (s *Server) RequestsWith(name, value string) []Request {
	if s.remote == "" {
		return filterByHeader(s.Requests(), name, value)
	}
	return s.fetch(url.Values{"header": {name}, "value": {value}})
}

// fetch reads a Remote server's log. A log that cannot be read is a
// broken test setup, not an empty log: it panics with the reason (an
// empty answer would let "nothing reached the upstream" checks pass).
func (s *Server) fetch(q url.Values) []Request {
	u := s.remote + RecorderPath
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	reqs, err := fetchRequests(u)
	if err != nil {
		panic(fmt.Sprintf("hfsim: reading the remote request log: %v", err))
	}
	return reqs
}

func fetchRequests(u string) ([]Request, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	res, err := client.Get(u)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %s", u, res.StatusCode, b)
	}
	var reqs []Request
	if err := json.Unmarshal(b, &reqs); err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	return reqs, nil
}
