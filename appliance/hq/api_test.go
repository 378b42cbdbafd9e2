package hq_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"outpost/appliance/hq"
)

// TestAPIMatchesOpenAPI: every operation docs/hq-api.yaml documents is
// a route of the API, and every route is documented.
func TestAPIMatchesOpenAPI(t *testing.T) {
	b, err := os.ReadFile("../../docs/hq-api.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("docs/hq-api.yaml: %v", err)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	routes := hq.APIRoutes()
	slices.Sort(documented)
	slices.Sort(routes)
	if !slices.Equal(documented, routes) {
		t.Fatalf("docs/hq-api.yaml documents\n%s\nthe API serves\n%s", strings.Join(documented, "\n"), strings.Join(routes, "\n"))
	}
}

// TestAPINeedsAToken: without a token, with a made-up one or with a
// deleted one, every route answers 401; the store keeps the token's
// hash only.
func TestAPINeedsAToken(t *testing.T) {
	s := newHQ(t, nil, hq.Limits{})
	box := newBox(t)
	s.Register(box.ID(), box.PublicKeyString(), "Acme")
	tok, err := s.AddToken("psa")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddToken("psa"); err == nil {
		t.Fatal("a second token under one name")
	}
	h := s.APIHandler()
	do := func(method, path, token string) int {
		r := httptest.NewRequest(method, path, strings.NewReader("x"))
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for _, route := range hq.APIRoutes() {
		method, path, _ := strings.Cut(route, " ")
		path = strings.NewReplacer("{id}", box.ID(), "{n}", "1").Replace(path)
		for _, bad := range []string{"", "ohq_madeup", tok + "x"} {
			if code := do(method, path, bad); code != http.StatusUnauthorized {
				t.Errorf("%s with token %q: %d", route, bad, code)
			}
		}
	}
	if code := do("GET", "/api/v1/sites", tok); code != http.StatusOK {
		t.Fatalf("with the token: %d", code)
	}
	toks, _ := s.Tokens()
	if len(toks) != 1 || toks[0].Hash != "" || toks[0].Name != "psa" {
		t.Fatalf("tokens: %+v", toks)
	}
	if err := s.DeleteToken("psa"); err != nil {
		t.Fatal(err)
	}
	if code := do("GET", "/api/v1/sites", tok); code != http.StatusUnauthorized {
		t.Fatalf("a deleted token: %d", code)
	}
}
