package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"outpost/checks"
	"outpost/checks/agent/wire"
)

// Revocation on the box: the box signs a statement with the key it
// presents to that agent, destroys the key, and delivers the statement
// now or, for an agent that cannot be reached, whenever it can again.

// revocationBlob holds the signed statement not delivered yet.
func revocationBlob(name string) string { return "agent-revocation/" + name }

// Revoke stops trusting an agent: the box refuses it from now on, signs
// a revocation with the key it presented to it and destroys that key (a
// pairing made before each got its own key keeps the shared one, which
// other agents still use), then delivers the revocation. told is false
// when the agent could not be reached: the box keeps the statement and
// RefreshInventory delivers it once the agent answers again.
func (c *Client) Revoke(ctx context.Context, name string) (told bool, err error) {
	rec, ok, err := c.o.Store.GetAgent(name)
	if err != nil {
		return false, err
	}
	if !ok {
		return false, fmt.Errorf("no agent named %q was ever paired with this box", name)
	}
	if rec.Revoked() {
		pending, err := c.o.Store.GetBlob(revocationBlob(name))
		if err != nil || len(pending) == 0 {
			return err == nil, err
		}
		return c.deliver(ctx, name, rec, pending), nil
	}
	ident, err := c.identity(name)
	if err != nil {
		return false, err
	}
	now := c.o.Clock.Now()
	rv, err := wire.SignRevocation(ident, name, rec.CertFingerprint, now)
	if err != nil {
		return false, err
	}
	statement, err := json.Marshal(rv)
	if err != nil {
		return false, err
	}
	if err := c.o.Store.PutBlob(revocationBlob(name), statement); err != nil {
		return false, fmt.Errorf("keeping the revocation: %w", err)
	}
	if _, err := c.o.Store.RevokeAgent(name, now); err != nil {
		return false, err
	}
	// The key is gone with the pairing: nobody who reads this store
	// later can act as this box towards that agent.
	if err := c.o.Store.PutBlob(identityBlob(name), nil); err != nil {
		return false, fmt.Errorf("destroying the agent's box identity: %w", err)
	}
	c.mu.Lock()
	if cn, ok := c.conns[name]; ok {
		cn.http.CloseIdleConnections()
		delete(c.conns, name)
	}
	c.mu.Unlock()
	told = c.deliver(ctx, name, rec, statement)
	c.o.Log.Warn("agent pairing revoked", "agent", name, "agent_told", told, "box_fingerprint", wire.Fingerprint(rv.BoxCert))
	return told, nil
}

// DeliverRevocations retries every revocation an agent has not
// acknowledged yet.
func (c *Client) DeliverRevocations(ctx context.Context) {
	recs, err := c.o.Store.ListAgents()
	if err != nil {
		c.o.Log.Warn("listing agents for revocations", "err", err)
		return
	}
	for _, rec := range recs {
		if !rec.Revoked() || ctx.Err() != nil {
			continue
		}
		statement, err := c.o.Store.GetBlob(revocationBlob(rec.Name))
		if err != nil || len(statement) == 0 {
			continue
		}
		if c.deliver(ctx, rec.Name, rec, statement) {
			c.o.Log.Info("revocation delivered: the agent forgot this box", "agent", rec.Name)
		}
	}
}

// deliver sends the statement to the agent, pinned to its certificate,
// presenting a throwaway certificate (the agent checks the signature,
// not who brings it), and forgets it once the agent acknowledged it.
func (c *Client) deliver(ctx context.Context, name string, rec checks.AgentPairing, statement []byte) bool {
	c.mu.Lock()
	addr := c.addressLocked(name, rec)
	c.mu.Unlock()
	if addr == "" {
		return false
	}
	courier, err := wire.LoadIdentity(c.courierPEM())
	if err != nil {
		return false
	}
	var rv wire.Revocation
	if json.Unmarshal(statement, &rv) != nil {
		return false
	}
	hc := pinnedClient(name, rec.CertFingerprint, courier)
	defer hc.CloseIdleConnections()
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var res wire.CommandResult
	if err := c.send(tctx, name, &conn{fp: rec.CertFingerprint, addr: addr, http: hc}, http.MethodPost, wire.PathRevoke, rv, &res); err != nil {
		c.o.Log.Info("revocation not delivered yet: the agent is not reachable (retried every minute)", "agent", name, "address", addr, "err", err)
		return false
	}
	if err := c.o.Store.PutBlob(revocationBlob(name), nil); err != nil {
		c.o.Log.Warn("forgetting a delivered revocation", "agent", name, "err", err)
	}
	return true
}

// courierPEM is a fresh identity to carry revocations with.
func (c *Client) courierPEM() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.courier == nil {
		c.courier, _ = wire.NewIdentity("outpost-box revocation courier")
	}
	return c.courier
}
