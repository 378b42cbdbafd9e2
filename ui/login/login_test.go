package login

import "testing"

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/incidents":            "/incidents",
		"/checks?id=web":        "/checks?id=web",
		"":                      "/",
		"https://evil.example":  "/",
		"//evil.example":        "/",
		"/\t/evil.example":      "/",
		"/\\evil.example":       "/",
		"/\x00x":                "/",
		"javascript:alert(1)":   "/",
		"/%2F%2Fevil.example/x": "/", // decodes to //evil.example
	} {
		if got := SafeNext(in); got != want {
			t.Errorf("SafeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckPassword(t *testing.T) {
	for pw, ok := range map[string]bool{"short": false, "alllowercaseletters": false, "Admin-Password-1": false, "Correct-Horse-9": true} {
		if err := CheckPassword("admin", pw); (err == nil) != ok {
			t.Errorf("%q: %v", pw, err)
		}
	}
	if a, b := RandomToken(), RandomToken(); a == b || len(a) != 43 {
		t.Fatalf("tokens %q %q", a, b)
	}
}
