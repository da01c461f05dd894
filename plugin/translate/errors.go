package translate

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Error is an error the client sees: an HTTP status and an OpenAI-style
// JSON body ({"error":{"message","type","code"}}). Every error a Capability
// returns is, or wraps, an *Error; anything else becomes a 500 in AsError.
type Error struct {
	Status  int
	Message string
	// Type is the OpenAI error type; empty means derived from Status.
	Type string
	// Code is the OpenAI error code (optional).
	Code string
	// Headers are extra response headers (for example Retry-After).
	Headers map[string]string
	// Err is the cause, for logs; never shown to the client.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %v", e.Status, e.Message, e.Err)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error with a formatted message.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// AsError maps any error to the *Error the client gets: the *Error in its
// chain, or a generic 500 that does not leak internals.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Status: http.StatusInternalServerError, Message: "internal error in the ai-proxy-hf plugin", Type: "server_error", Err: err}
}

// errorType is OpenAI's error type for a status, used when Type is empty.
func errorType(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "authentication_error"
	case status == http.StatusPaymentRequired:
		return "insufficient_quota"
	case status == http.StatusForbidden:
		return "permission_error"
	case status == http.StatusNotFound:
		return "not_found_error"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status == http.StatusRequestEntityTooLarge:
		return "invalid_request_error"
	case status >= 400 && status < 500:
		return "invalid_request_error"
	default:
		return "server_error"
	}
}

type errorBody struct {
	Error errorFields `json:"error"`
}

type errorFields struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Code    *string `json:"code"`
}

// Body is the OpenAI-style JSON body of the error. It is marshalled, never
// formatted, so any message is escaped correctly.
func (e *Error) Body() []byte {
	t := e.Type
	if t == "" {
		t = errorType(e.Status)
	}
	f := errorFields{Message: e.Message, Type: t}
	if e.Code != "" {
		code := e.Code
		f.Code = &code
	}
	b, err := json.Marshal(errorBody{Error: f})
	if err != nil { // unreachable: strings always marshal
		return []byte(`{"error":{"message":"internal error","type":"server_error","code":null}}`)
	}
	return b
}
