package web

import "net/http"

// RouteMux is an http.ServeMux that remembers the patterns registered on
// it, so that a test can call every route there is — not a hand-written
// list that drifts from the code (issue 15: default deny).
type RouteMux struct {
	*http.ServeMux
	patterns []string
}

// NewRouteMux returns an empty RouteMux.
func NewRouteMux() *RouteMux { return &RouteMux{ServeMux: http.NewServeMux()} }

// Handle registers h for pattern, as http.ServeMux.Handle does.
func (m *RouteMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

// HandleFunc registers f for pattern, as http.ServeMux.HandleFunc does.
func (m *RouteMux) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(f))
}

// Patterns returns the patterns registered, in order.
func (m *RouteMux) Patterns() []string { return append([]string(nil), m.patterns...) }
