// Package login holds the account rules the box's UI and hq's fleet
// pages share: the password rule, hashing, session tokens, the
// after-login redirect and the client address. It imports nothing of
// Outpost, so the MSP side can use it without the box.
package login

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"golang.org/x/crypto/bcrypt"
)

// MinPasswordLen is the password rule's length.
const MinPasswordLen = 12

// CheckPassword applies the password strength rule: at least 12
// characters with at least three of lower case, upper case, digits and
// symbols, and not containing the user name.
func CheckPassword(user, pw string) error {
	if len(pw) < MinPasswordLen {
		return fmt.Errorf("password must be at least %d characters", MinPasswordLen)
	}
	var lower, upper, digit, other bool
	for _, r := range pw {
		switch {
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsDigit(r):
			digit = true
		default:
			other = true
		}
	}
	n := 0
	for _, b := range []bool{lower, upper, digit, other} {
		if b {
			n++
		}
	}
	if n < 3 {
		return fmt.Errorf("password must mix at least three of: lower case, upper case, digits, symbols")
	}
	if user != "" && strings.Contains(strings.ToLower(pw), strings.ToLower(user)) {
		return fmt.Errorf("password must not contain the user name")
	}
	return nil
}

// HashPassword hashes with bcrypt.
func HashPassword(pw string) ([]byte, error) {
	return bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
}

// RandomToken is 256 random bits, URL-safe: session ids and CSRF tokens.
func RandomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// SafeNext keeps the redirect after login on this server: a local path
// and its query, or "/". It reads next as a browser would: browsers drop
// tabs and newlines anywhere in a URL and take a backslash for a slash,
// so "/\t/evil.example" is "//evil.example" to them, another host.
func SafeNext(next string) string {
	if strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) ||
		!strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") || strings.Contains(u.Path, "\\") {
		return "/"
	}
	out := u.EscapedPath()
	if strings.HasPrefix(out, "//") {
		return "/"
	}
	if u.RawQuery != "" {
		out += "?" + u.RawQuery
	}
	return out
}

// ClientAddr is the request's source address without the port.
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
