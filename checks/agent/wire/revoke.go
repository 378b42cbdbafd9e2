package wire

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// Revocation is the box's signed statement that it revoked an agent's
// pairing. It is signed with the key the box presented to that agent, so
// the agent can check it against the certificate it pinned, whoever
// delivers it and however late: the box keeps it and delivers it when
// the agent is next reachable, after destroying the key itself.
type Revocation struct {
	Version int `json:"version"`
	// Agent is the agent's name on the box.
	Agent string `json:"agent"`
	// AgentFingerprint is the agent certificate the box had pinned.
	AgentFingerprint string `json:"agent_fingerprint"`
	// BoxCert is the certificate (DER) the box presented to the agent;
	// its key made Signature.
	BoxCert   []byte    `json:"box_cert"`
	RevokedAt time.Time `json:"revoked_at"`
	Signature []byte    `json:"signature"`
}

func (r Revocation) signed() []byte {
	sum := sha256.Sum256(prefixFreeCat([]byte("outpost agent revocation 2"), []byte(r.Agent), []byte(r.AgentFingerprint),
		[]byte(Fingerprint(r.BoxCert)), []byte(r.RevokedAt.UTC().Format(time.RFC3339Nano))))
	return sum[:]
}

// SignRevocation makes the statement with the box's key for that agent.
func SignRevocation(box tls.Certificate, agent, agentFingerprint string, at time.Time) (Revocation, error) {
	signer, ok := box.PrivateKey.(crypto.Signer)
	if !ok || len(box.Certificate) == 0 {
		return Revocation{}, errors.New("the box identity cannot sign")
	}
	r := Revocation{Version: Version, Agent: agent, AgentFingerprint: agentFingerprint, BoxCert: box.Certificate[0], RevokedAt: at.UTC()}
	sig, err := signer.Sign(rand.Reader, r.signed(), crypto.SHA256)
	if err != nil {
		return Revocation{}, fmt.Errorf("signing the revocation: %w", err)
	}
	r.Signature = sig
	return r, nil
}

// ErrNotThisPairing is a well-formed revocation for another pairing (an
// older box key, another agent): it changes nothing.
var ErrNotThisPairing = errors.New("the revocation is for another pairing")

// Verify checks the statement against the agent's pinned box
// fingerprint and its own fingerprint.
func (r Revocation) Verify(pinnedBox, agentFingerprint string) error {
	if len(r.BoxCert) == 0 || len(r.BoxCert) > maxPairCert {
		return errors.New("revocation without the box's certificate")
	}
	if Fingerprint(r.BoxCert) != pinnedBox || r.AgentFingerprint != agentFingerprint {
		return ErrNotThisPairing
	}
	cert, err := x509.ParseCertificate(r.BoxCert)
	if err != nil {
		return fmt.Errorf("revocation certificate: %w", err)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !ecdsa.VerifyASN1(pub, r.signed(), r.Signature) {
		return errors.New("the revocation's signature does not check against the pinned box certificate")
	}
	return nil
}
