package wire

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Pairing is a CPace exchange over the pair code (cpace.go), started by
// the agent, then explicit key confirmation, agent first:
//
//	agent -> box  PairRequest{Step: start}: handle, Ya, agent certificate, hostname, OS, listen
//	box -> agent  PairChallenge: Yb, the certificate the box will present to this agent
//	agent -> box  PairRequest{Step: confirm}: Ta
//	box -> agent  PairAccepted: name, site, allow-list, and Tb over them
//
// CPace's channel identifier binds the code's handle, the agent's
// certificate and the box's HTTPS certificate as the agent saw it; the
// box's associated data binds the certificate it will present. Ta shows
// the box that the agent knows the code, Tb shows the agent that the box
// does, each over both certificates: a relay with other certificates,
// or a box impostor without the code, fails the confirmation. Neither
// message can be checked against a code guess without solving a
// Diffie-Hellman problem, so a captured exchange reveals nothing about
// the code; an impostor learns whether one guess was right per exchange.

// Pair steps.
const (
	PairStart   = "start"
	PairConfirm = "confirm"
)

// Pair codes are nine digits, shown as 123-456-789. The first three are
// the handle: they pick the pending pairing on the box and are not
// secret. All nine are CPace's password.
const (
	PairHandleDigits = 3
	PairCodeDigits   = 9
)

// PairRequest is what an agent sends the box's pairing endpoint, at each
// step. The code itself never crosses the wire.
type PairRequest struct {
	Version int    `json:"version"`
	Step    string `json:"step"`
	// Handle is the code's first digits (start).
	Handle string `json:"handle,omitempty"`
	// Hostname is the agent machine's name, for the box's log (start).
	Hostname string `json:"hostname,omitempty"`
	OS       string `json:"os,omitempty"`
	// Listen is the address the agent serves on; the box combines its
	// port with the connection's source address when the box config
	// gives no address for the agent (start).
	Listen string `json:"listen,omitempty"`
	// Cert is the agent's self-signed certificate (DER) the box will pin
	// (start).
	Cert []byte `json:"cert,omitempty"`
	// Sid is the agent's random session identifier (start).
	Sid []byte `json:"sid,omitempty"`
	// Share is the agent's CPace share Ya (start).
	Share []byte `json:"share,omitempty"`
	// Session names the box's half of the exchange (confirm).
	Session string `json:"session,omitempty"`
	// Confirm is the agent's key confirmation Ta (confirm).
	Confirm []byte `json:"confirm,omitempty"`
}

// PairChallenge is the box's answer to the start step.
type PairChallenge struct {
	Version int    `json:"version"`
	Session string `json:"session"`
	// Share is the box's CPace share Yb.
	Share []byte `json:"share"`
	// BoxCert is the certificate (DER) the box will present to this
	// agent when polling it; the agent pins it once the box has proven
	// it knows the code.
	BoxCert []byte `json:"box_cert"`
}

// PairAccepted is the box's answer to the confirm step: Response is the
// JSON of a PairResponse, Confirm the box's key confirmation Tb over it.
type PairAccepted struct {
	Response []byte `json:"response"`
	Confirm  []byte `json:"confirm"`
}

// PairResponse is who the agent is on this box, the certificate the box
// will present when polling, and the box's allow-list, which can only
// narrow the agent's own.
type PairResponse struct {
	Version int    `json:"version"`
	Name    string `json:"name"`
	Site    string `json:"site"`
	BoxCert []byte `json:"box_cert"`
	Policy  Policy `json:"policy"`
}

// ErrPairCode is a code that is not nine digits.
var ErrPairCode = errors.New("a pair code is nine digits, e.g. 123-456-789 (from `outpost agent pair-code NAME` on the box)")

// ParseCode normalises a pair code as typed ("123 456 789",
// "123-456-789") and returns its handle.
func ParseCode(code string) (handle, normalized string, err error) {
	n := NormalizeCode(code)
	if len(n) != PairCodeDigits || strings.Trim(n, "0123456789") != "" {
		return "", "", ErrPairCode
	}
	return n[:PairHandleDigits], n, nil
}

// FormatCode shows nine digits as 123-456-789.
func FormatCode(n string) string {
	if len(n) != PairCodeDigits {
		return n
	}
	return n[:3] + "-" + n[3:6] + "-" + n[6:]
}

// NormalizeCode drops spaces and dashes so "123 456 789", "123-456-789"
// and "123456789" are the same code.
func NormalizeCode(code string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return r
	}, code)
}

// Limits on what a pairing request may carry.
const (
	maxPairCert  = 8 << 10
	maxPairField = 255
	pairSidLen   = 16
)

// PairInfo is what the agent tells the box about itself, bound into the
// exchange.
type PairInfo struct {
	Hostname, OS, Listen string
	// Cert is the agent's certificate (DER).
	Cert []byte
	// PairTLS is the fingerprint of the box's HTTPS certificate: as the
	// agent saw it, as the box serves it.
	PairTLS string
}

func pairCI(handle string, agentCert []byte, pairTLS string) []byte {
	return prefixFreeCat([]byte("outpost agent pairing 2"), []byte(handle), []byte(Fingerprint(agentCert)), []byte(pairTLS))
}

func pairMsgA(share []byte, i PairInfo) []byte {
	return prefixFreeCat(share, prefixFreeCat([]byte(i.Hostname), []byte(i.OS), []byte(i.Listen)))
}

func pairMsgB(share, boxCert []byte) []byte {
	return prefixFreeCat(share, prefixFreeCat([]byte(Fingerprint(boxCert))))
}

// pairKeys holds what both sides derive from ISK.
type pairKeys struct{ mac, msgA, msgB []byte }

func newPairKeys(isk, msgA, msgB []byte) pairKeys {
	k := sha512.Sum512(append([]byte("CPaceMac"), isk...))
	return pairKeys{mac: k[:], msgA: msgA, msgB: msgB}
}

func (k pairKeys) agentTag() []byte {
	m := hmac.New(sha512.New, k.mac)
	m.Write(prefixFreeCat([]byte("agent"), k.msgA, k.msgB))
	return m.Sum(nil)
}

func (k pairKeys) boxTag(response []byte) []byte {
	m := hmac.New(sha512.New, k.mac)
	m.Write(prefixFreeCat([]byte("box"), k.msgA, k.msgB, response))
	return m.Sum(nil)
}

// AgentPairing is the agent's half of one exchange.
type AgentPairing struct {
	c       *cpace
	info    PairInfo
	msgA    []byte
	keys    pairKeys
	boxCert []byte
}

// StartPairing begins an exchange for code and returns the start request.
func StartPairing(code string, info PairInfo) (*AgentPairing, PairRequest, error) {
	return startPairing(rand.Reader, code, info)
}

func startPairing(rnd io.Reader, code string, info PairInfo) (*AgentPairing, PairRequest, error) {
	handle, prs, err := ParseCode(code)
	if err != nil {
		return nil, PairRequest{}, err
	}
	sid := make([]byte, pairSidLen)
	if _, err := io.ReadFull(rnd, sid); err != nil {
		return nil, PairRequest{}, err
	}
	c, err := newCPace(rnd, []byte(prs), pairCI(handle, info.Cert, info.PairTLS), sid)
	if err != nil {
		return nil, PairRequest{}, err
	}
	a := &AgentPairing{c: c, info: info, msgA: pairMsgA(c.share, info)}
	return a, PairRequest{Version: Version, Step: PairStart, Handle: handle, Hostname: info.Hostname, OS: info.OS, Listen: info.Listen, Cert: info.Cert, Sid: sid, Share: c.share}, nil
}

// Confirm takes the box's challenge and returns the confirm request.
func (a *AgentPairing) Confirm(ch PairChallenge) (PairRequest, error) {
	if ch.Version != Version {
		return PairRequest{}, fmt.Errorf("the box speaks pairing protocol %d, this agent %d: update one of them", ch.Version, Version)
	}
	if ch.Session == "" || len(ch.Session) > maxPairField {
		return PairRequest{}, errors.New("the box's challenge names no session")
	}
	if _, err := x509.ParseCertificate(ch.BoxCert); err != nil || len(ch.BoxCert) > maxPairCert {
		return PairRequest{}, errors.New("the box's challenge carries no valid certificate")
	}
	msgB := pairMsgB(ch.Share, ch.BoxCert)
	isk, err := a.c.isk(ch.Share, a.msgA, msgB)
	if err != nil {
		return PairRequest{}, fmt.Errorf("the box's challenge: %w", err)
	}
	a.keys = newPairKeys(isk, a.msgA, msgB)
	a.boxCert = ch.BoxCert
	return PairRequest{Version: Version, Step: PairConfirm, Session: ch.Session, Confirm: a.keys.agentTag()}, nil
}

// ErrBoxNotProven is an answer whose confirmation does not check: the
// other end does not know the code (an impostor, or a relay between
// other certificates).
var ErrBoxNotProven = errors.New("the box did not prove that it knows the pair code")

// Accept checks the box's confirmation and returns its response.
func (a *AgentPairing) Accept(acc PairAccepted) (PairResponse, error) {
	if a.keys.mac == nil {
		return PairResponse{}, errors.New("pairing answer before the challenge")
	}
	if !hmac.Equal(acc.Confirm, a.keys.boxTag(acc.Response)) {
		return PairResponse{}, ErrBoxNotProven
	}
	var pr PairResponse
	if err := json.Unmarshal(acc.Response, &pr); err != nil {
		return PairResponse{}, fmt.Errorf("reading the box's pairing answer: %w", err)
	}
	if pr.Version != Version || pr.Name == "" || Fingerprint(pr.BoxCert) != Fingerprint(a.boxCert) {
		return PairResponse{}, errors.New("the box's pairing answer is incomplete or names another certificate")
	}
	return pr, nil
}

// BoxPairing is the box's half of one exchange.
type BoxPairing struct {
	keys    pairKeys
	boxCert []byte
}

// CheckStart validates a start request's shape (not its code).
func CheckStart(req PairRequest) error {
	switch {
	case req.Version != Version:
		return fmt.Errorf("agent speaks pairing protocol %d, this box %d: update one of them", req.Version, Version)
	case req.Step != PairStart:
		return fmt.Errorf("pairing step %q, want %q", req.Step, PairStart)
	case len(req.Handle) != PairHandleDigits || strings.Trim(req.Handle, "0123456789") != "":
		return errors.New("no pair code handle in the request")
	case len(req.Cert) == 0 || len(req.Cert) > maxPairCert:
		return errors.New("no agent certificate in the request")
	case len(req.Sid) != pairSidLen:
		return errors.New("pairing session identifier of the wrong size")
	case len(req.Share) != 32:
		return errors.New("pairing key share of the wrong size")
	case len(req.Hostname) > maxPairField || len(req.OS) > maxPairField || len(req.Listen) > maxPairField:
		return errors.New("pairing request field too long")
	}
	if _, err := x509.ParseCertificate(req.Cert); err != nil {
		return fmt.Errorf("agent certificate: %w", err)
	}
	return nil
}

// AnswerPairing computes the box's challenge for a start request, with
// the code the request's handle names, the fingerprint of the HTTPS
// certificate the box serves pairing with, and the certificate it will
// present to this agent.
func AnswerPairing(code string, req PairRequest, pairTLS string, boxCert []byte, session string) (*BoxPairing, PairChallenge, error) {
	return answerPairing(rand.Reader, code, req, pairTLS, boxCert, session)
}

func answerPairing(rnd io.Reader, code string, req PairRequest, pairTLS string, boxCert []byte, session string) (*BoxPairing, PairChallenge, error) {
	if err := CheckStart(req); err != nil {
		return nil, PairChallenge{}, err
	}
	handle, prs, err := ParseCode(code)
	if err != nil || handle != req.Handle {
		return nil, PairChallenge{}, errors.New("pair code and handle differ")
	}
	c, err := newCPace(rnd, []byte(prs), pairCI(handle, req.Cert, pairTLS), req.Sid)
	if err != nil {
		return nil, PairChallenge{}, err
	}
	info := PairInfo{Hostname: req.Hostname, OS: req.OS, Listen: req.Listen}
	msgA, msgB := pairMsgA(req.Share, info), pairMsgB(c.share, boxCert)
	isk, err := c.isk(req.Share, msgA, msgB)
	if err != nil {
		return nil, PairChallenge{}, err
	}
	b := &BoxPairing{keys: newPairKeys(isk, msgA, msgB), boxCert: boxCert}
	return b, PairChallenge{Version: Version, Session: session, Share: c.share, BoxCert: boxCert}, nil
}

// Check reports whether a confirm request proves the code, in constant
// time.
func (b *BoxPairing) Check(req PairRequest) bool {
	return req.Step == PairConfirm && hmac.Equal(req.Confirm, b.keys.agentTag())
}

// Accept signs the box's response with its key confirmation.
func (b *BoxPairing) Accept(resp PairResponse) (PairAccepted, error) {
	resp.Version = Version
	resp.BoxCert = b.boxCert
	data, err := json.Marshal(resp)
	if err != nil {
		return PairAccepted{}, err
	}
	return PairAccepted{Response: data, Confirm: b.keys.boxTag(data)}, nil
}
