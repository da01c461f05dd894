package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// maxBody caps an Admin API request body (Kong's
// nginx_admin_client_max_body_size default is 10m).
const maxBody = 10 << 20

var (
	errUnsupportedType = errors.New("unsupported content type")
	errBadJSON         = errors.New("Cannot parse JSON body")
	errTooLarge        = errors.New("request body too large")
)

// readBody decodes a JSON, form-urlencoded or multipart body into an
// object. formTyped reports whether values came from a form (so that they
// are strings still to be typed by the schema, as Kong's arguments decoder
// does).
func readBody(r *http.Request) (obj map[string]any, formTyped bool, err error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, false, fmt.Errorf("reading body: %w", err)
	}
	if len(data) > maxBody {
		return nil, false, errTooLarge
	}
	ct := r.Header.Get("Content-Type")
	mt, params, _ := mime.ParseMediaType(ct)
	trimmed := bytes.TrimSpace(data)
	switch {
	case mt == "application/json" || (mt == "" && len(trimmed) > 0 && trimmed[0] == '{'):
		if len(trimmed) == 0 {
			return map[string]any{}, false, nil
		}
		var v any
		if err := json.Unmarshal(trimmed, &v); err != nil {
			return nil, false, errBadJSON
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false, errBadJSON
		}
		return m, false, nil
	case mt == "application/x-www-form-urlencoded" || (mt == "" && len(trimmed) > 0):
		vals, err := url.ParseQuery(string(data))
		if err != nil {
			return nil, false, fmt.Errorf("parsing form: %w", err)
		}
		return nestForm(vals), true, nil
	case mt == "multipart/form-data":
		mr := multipartReader(data, params["boundary"])
		vals, err := mr()
		if err != nil {
			return nil, false, err
		}
		return nestForm(vals), true, nil
	case mt == "" && len(trimmed) == 0:
		return map[string]any{}, false, nil
	}
	return nil, false, errUnsupportedType
}

// nestForm turns Kong-style form keys into an object: dots nest records
// ("config.model.name"), "[]" and "[n]" make lists ("protocols[]",
// "config.tags[1]"), and a repeated key gives a list.
func nestForm(vals url.Values) map[string]any {
	root := map[string]any{}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vs := vals[k]
		path := splitFormKey(k)
		if len(path) == 0 {
			continue
		}
		var v any
		if len(vs) == 1 && !strings.HasSuffix(k, "[]") {
			v = vs[0]
		} else {
			l := make([]any, len(vs))
			for i, s := range vs {
				l[i] = s
			}
			v = l
		}
		setPath(root, path, v)
	}
	return root
}

// splitFormKey splits "config.tags[1]" into ["config", "tags", "1"]; a
// trailing "[]" is dropped (the value is a list anyway).
func splitFormKey(k string) []string {
	k = strings.TrimSuffix(k, "[]")
	var out []string
	for _, part := range strings.Split(k, ".") {
		for {
			i := strings.IndexByte(part, '[')
			if i < 0 || !strings.HasSuffix(part, "]") {
				break
			}
			head := part[:i]
			idx := part[i+1 : len(part)-1]
			if head != "" {
				out = append(out, head)
			}
			part = idx
		}
		if part != "" {
			out = append(out, part)
		}
	}
	return out
}

func setPath(m map[string]any, path []string, v any) {
	for i, p := range path {
		if i == len(path)-1 {
			if old, ok := m[p]; ok {
				m[p] = appendValue(old, v)
			} else {
				m[p] = v
			}
			return
		}
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
}

func appendValue(old, v any) any {
	l, ok := old.([]any)
	if !ok {
		l = []any{old}
	}
	if vl, ok := v.([]any); ok {
		return append(l, vl...)
	}
	return append(l, v)
}

// multipartReader reads the text fields of a multipart body.
func multipartReader(data []byte, boundary string) func() (url.Values, error) {
	return func() (url.Values, error) {
		if boundary == "" {
			return nil, errors.New("multipart body without boundary")
		}
		req := &http.Request{
			Header: http.Header{"Content-Type": {"multipart/form-data; boundary=" + boundary}},
			Body:   io.NopCloser(bytes.NewReader(data)),
			Method: http.MethodPost,
		}
		if err := req.ParseMultipartForm(maxBody); err != nil {
			return nil, fmt.Errorf("parsing multipart body: %w", err)
		}
		vals := url.Values{}
		for k, vs := range req.MultipartForm.Value {
			vals[k] = vs
		}
		for k, fhs := range req.MultipartForm.File {
			for _, fh := range fhs {
				f, err := fh.Open()
				if err != nil {
					return nil, fmt.Errorf("reading multipart file %s: %w", k, err)
				}
				b, err := io.ReadAll(f)
				_ = f.Close()
				if err != nil {
					return nil, fmt.Errorf("reading multipart file %s: %w", k, err)
				}
				vals.Add(k, string(b))
			}
		}
		return vals, nil
	}
}

// queryInt reads a positive integer query parameter.
func queryInt(r *http.Request, name string, def int) (int, bool) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, false
	}
	return n, true
}
