package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"

	"outpost/checks/agent/wire"
)

// PairOptions are what `outpost agent install` passes on.
type PairOptions struct {
	// BoxURL is the box's address, https://host:port.
	BoxURL string
	// Code is the one-time pair code shown by `outpost agent pair-code`.
	Code string
	// BoxFingerprint, when set, is the box's TLS certificate fingerprint
	// as printed next to the pair code; the agent then refuses any other.
	// Without it the first certificate seen is trusted (and bound into
	// the proof, so a relay cannot reuse the code).
	BoxFingerprint string
	// Listen is the address the agent will serve on, told to the box.
	Listen string
}

// Pair presents the code to the box once and pins the box's key. It
// replaces any earlier pairing.
func (a *Agent) Pair(ctx context.Context, o PairOptions) (State, error) {
	u, err := url.Parse(o.BoxURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return State{}, fmt.Errorf("--box %q must be the box's https://host:port", o.BoxURL)
	}
	code := wire.NormalizeCode(o.Code)
	if len(code) < 6 {
		return State{}, fmt.Errorf("--pair-code %q is not a pair code (six digits, e.g. 123-456)", o.Code)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "443")
	}
	// First learn the box's certificate, then send the proof bound to it
	// over a connection that must present the same certificate.
	seen, err := boxFingerprint(ctx, host)
	if err != nil {
		return State{}, fmt.Errorf("reaching the box at %s: %w", o.BoxURL, err)
	}
	if o.BoxFingerprint != "" && !wire.SameFingerprint(seen, o.BoxFingerprint) {
		return State{}, fmt.Errorf("the box at %s presented certificate %s, not the expected %s: refusing to pair (wrong address, or something in between)", o.BoxURL, seen, o.BoxFingerprint)
	}
	hostname, _ := os.Hostname()
	req := wire.PairRequest{Version: wire.Version, Hostname: hostname, OS: runtime.GOOS, Listen: o.Listen, Cert: a.cert.Certificate[0], Proof: wire.PairProof(code, a.cert.Certificate[0], seen)}
	body, _ := json.Marshal(req)
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, VerifyConnection: wire.VerifyPinned("the box", seen), MinVersion: tls.VersionTLS12},
	}}
	defer client.CloseIdleConnections()
	hr, err := http.NewRequestWithContext(ctx, "POST", strings.TrimSuffix(o.BoxURL, "/")+wire.PathPair, bytes.NewReader(body))
	if err != nil {
		return State{}, err
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(hr)
	if err != nil {
		return State{}, fmt.Errorf("pairing with %s: %w", o.BoxURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return State{}, fmt.Errorf("the box refused pairing: %w", wire.ReadError(resp))
	}
	var pr wire.PairResponse
	if err := json.NewDecoder(resp.Body).Decode(&pr); err != nil {
		return State{}, fmt.Errorf("reading the box's pairing answer: %w", err)
	}
	if pr.Version != wire.Version || len(pr.BoxCert) == 0 || pr.Name == "" {
		return State{}, errors.New("the box's pairing answer is incomplete (version mismatch?)")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.state = State{Name: pr.Name, Site: pr.Site, BoxURL: o.BoxURL, BoxFingerprint: wire.Fingerprint(pr.BoxCert), Policy: pr.Policy, PairedAt: a.o.Now().UTC()}
	if err := a.saveLocked(); err != nil {
		return State{}, fmt.Errorf("saving the pairing: %w", err)
	}
	a.o.Log.Info("paired with the box", "name", pr.Name, "site", pr.Site, "box", o.BoxURL, "box_fingerprint", a.state.BoxFingerprint)
	return a.state, nil
}

func boxFingerprint(ctx context.Context, host string) (string, error) {
	d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}}
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return "", err
	}
	defer c.Close()
	cs := c.(*tls.Conn).ConnectionState()
	if len(cs.PeerCertificates) == 0 {
		return "", errors.New("the box presented no certificate")
	}
	return wire.Fingerprint(cs.PeerCertificates[0].Raw), nil
}
