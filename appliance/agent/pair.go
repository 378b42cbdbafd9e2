package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	// BoxFingerprint, when set, is the box's HTTPS certificate
	// fingerprint as printed next to the pair code; the agent then
	// refuses any other before saying anything. Without it, the box is
	// authenticated by the code alone (CPace, checks/agent/wire/pair.go).
	BoxFingerprint string
	// Listen is the address the agent will serve on, told to the box.
	Listen string
}

// Pair runs the pairing exchange with the box once and pins the box's
// key only if the box proved it knows the code. It replaces any earlier
// pairing.
func (a *Agent) Pair(ctx context.Context, o PairOptions) (State, error) {
	u, err := url.Parse(o.BoxURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return State{}, fmt.Errorf("--box %q must be the box's https://host:port", o.BoxURL)
	}
	if _, _, err := wire.ParseCode(o.Code); err != nil {
		return State{}, fmt.Errorf("--pair-code %q: %w", o.Code, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "443")
	}
	// Learn the box's HTTPS certificate first: it is bound into the
	// exchange, and every request must then present the same one.
	seen, err := boxFingerprint(ctx, host)
	if err != nil {
		return State{}, fmt.Errorf("reaching the box at %s: %w", o.BoxURL, err)
	}
	if o.BoxFingerprint != "" && !wire.SameFingerprint(seen, o.BoxFingerprint) {
		return State{}, fmt.Errorf("the box at %s presented certificate %s, not the expected %s: refusing to pair (wrong address, or something in between)", o.BoxURL, seen, o.BoxFingerprint)
	}
	hostname, _ := os.Hostname()
	p, start, err := wire.StartPairing(o.Code, wire.PairInfo{Hostname: hostname, OS: runtime.GOOS, Listen: o.Listen, Cert: a.cert.Certificate[0], PairTLS: seen})
	if err != nil {
		return State{}, err
	}
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, VerifyConnection: wire.VerifyPinned("the box", seen), MinVersion: tls.VersionTLS12},
	}}
	defer client.CloseIdleConnections()
	endpoint := strings.TrimSuffix(o.BoxURL, "/") + wire.PathPair
	var ch wire.PairChallenge
	if err := postJSON(ctx, client, endpoint, start, &ch); err != nil {
		return State{}, err
	}
	confirm, err := p.Confirm(ch)
	if err != nil {
		return State{}, fmt.Errorf("refusing to pair with %s: %w", o.BoxURL, err)
	}
	var acc wire.PairAccepted
	if err := postJSON(ctx, client, endpoint, confirm, &acc); err != nil {
		return State{}, err
	}
	pr, err := p.Accept(acc)
	if err != nil {
		a.o.Log.Warn("refused to pair: the other end did not prove it knows the pair code", "box", o.BoxURL, "box_tls", seen, "err", err)
		return State{}, fmt.Errorf("refusing to pair with %s: %w (wrong --box address, or something in between); nothing was saved", o.BoxURL, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.state = State{Name: pr.Name, Site: pr.Site, BoxURL: o.BoxURL, BoxFingerprint: wire.Fingerprint(pr.BoxCert), BoxPolicy: pr.Policy, PairedAt: a.o.Now().UTC()}
	if err := a.saveLocked(); err != nil {
		return State{}, fmt.Errorf("saving the pairing: %w", err)
	}
	a.o.Log.Info("paired with the box (it proved the pair code)", "name", pr.Name, "site", pr.Site, "box", o.BoxURL, "box_fingerprint", a.state.BoxFingerprint, "box_allow", describe(pr.Policy))
	return a.state, nil
}

// postJSON sends one pairing step and decodes the box's answer.
func postJSON(ctx context.Context, client *http.Client, endpoint string, body, out any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	hr, err := http.NewRequestWithContext(ctx, "POST", endpoint, bytes.NewReader(data))
	if err != nil {
		return err
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(hr)
	if err != nil {
		return fmt.Errorf("pairing with %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("the box refused pairing: %w", wire.ReadError(resp))
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out); err != nil {
		return fmt.Errorf("reading the box's pairing answer: %w", err)
	}
	return nil
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
