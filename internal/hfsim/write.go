package hfsim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
)

// marshal encodes v like serde_json does: compact, no HTML escaping, no
// trailing newline. It only fails on values hfsim never builds.
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Marshalling a string cannot fail.
		msg, _ := json.Marshal("hfsim: encoding answer: " + err.Error())
		return append(append([]byte(`{"error":`), msg...), '}')
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func writeRaw(w http.ResponseWriter, status int, contentType, body string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func writeBytes(w http.ResponseWriter, status int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	writeBytes(w, status, "application/json", marshal(v))
}

// writeJSONError answers {"error":msg}, the plain Hugging Face envelope.
func writeJSONError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, struct {
		Error string `json:"error"`
	}{msg})
}

// writeValidation answers TGI's 422 input validation error.
func writeValidation(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusUnprocessableEntity, tgiError{Error: "Input validation error: " + msg, ErrorType: "validation"})
}

type tgiError struct {
	Error     string `json:"error"`
	ErrorType string `json:"error_type"`
}

// appendFloat32 writes f in the shortest form that reads back as the same
// float32, as serde_json does for f32.
func appendFloat32(b []byte, f float32) []byte {
	return strconv.AppendFloat(b, float64(f), 'g', -1, 32)
}
