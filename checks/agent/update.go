package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"outpost/checks/agent/wire"
)

// Agent updates from the box: the box hands a firmware bundle to its
// paired agents one at a time, each checking it against its own MSP key;
// the box only picks the agents the bundle is for and waits for each to
// answer as the new version before going on.

// UpdateTarget is what a firmware bundle holds, as its manifest says (the
// caller reads it; the agent checks the signature).
type UpdateTarget struct {
	Version, OS, Arch string
}

// Outcomes of one agent's update.
const (
	UpdateUpdated = "updated"
	UpdateSkipped = "skipped"
	UpdateRefused = "refused"
	UpdateFailed  = "failed"
	// UpdateNotTried: an earlier agent failed, so the rollout stopped.
	UpdateNotTried = "not tried"
)

// UpdateOutcome is one agent's line in `outpost agent update`.
type UpdateOutcome struct {
	Agent  string `json:"agent"`
	Result string `json:"result"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	Detail string `json:"detail,omitempty"`
	// Took is how long from sending the bundle to the new version
	// answering.
	Took string `json:"took,omitempty"`
}

// UpdateAgents sends the bundle open returns to each named agent in
// turn whose OS and architecture are the bundle's and that does not run
// its version already, and waits up to wait for it to answer as that
// version before the next; the first refusal or failure stops the
// rollout (the agents after it are "not tried"). open is called once per
// agent sent the bundle.
func (c *Client) UpdateAgents(ctx context.Context, names []string, t UpdateTarget, open func() (io.ReadCloser, error), wait time.Duration) []UpdateOutcome {
	out := make([]UpdateOutcome, 0, len(names))
	stopped := false
	for _, name := range names {
		if stopped || ctx.Err() != nil {
			out = append(out, UpdateOutcome{Agent: name, Result: UpdateNotTried, To: t.Version, Detail: "the rollout stopped at an earlier agent"})
			continue
		}
		o := c.updateOne(ctx, name, t, open, wait)
		c.o.Log.Info("agent update", "agent", name, "result", o.Result, "from", o.From, "to", o.To, "detail", o.Detail)
		out = append(out, o)
		stopped = o.Result == UpdateRefused || o.Result == UpdateFailed
	}
	return out
}

func (c *Client) updateOne(ctx context.Context, name string, t UpdateTarget, open func() (io.ReadCloser, error), wait time.Duration) UpdateOutcome {
	o := UpdateOutcome{Agent: name, To: t.Version}
	ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
	info, err := c.Info(ictx, name)
	cancel()
	if err != nil {
		o.Result, o.Detail = UpdateFailed, err.Error()
		return o
	}
	o.From = info.Agent
	switch {
	case info.OS != t.OS || info.Arch != t.Arch:
		o.Result, o.Detail = UpdateSkipped, fmt.Sprintf("the agent runs on %s/%s; the bundle is for %s/%s", info.OS, info.Arch, t.OS, t.Arch)
		return o
	case info.Agent == t.Version:
		o.Result, o.Detail = UpdateSkipped, "the agent runs "+t.Version+" already"
		return o
	}
	body, err := open()
	if err != nil {
		o.Result, o.Detail = UpdateFailed, err.Error()
		return o
	}
	start := time.Now()
	res, err := c.SendUpdate(ctx, name, body)
	body.Close()
	if err != nil {
		o.Result, o.Detail = UpdateFailed, err.Error()
		if errors.Is(err, ErrRefused) {
			o.Result = UpdateRefused
		}
		return o
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	last := "no answer yet"
	for {
		ictx, icancel := context.WithTimeout(wctx, 10*time.Second)
		info, err := c.Info(ictx, name)
		icancel()
		switch {
		case err != nil:
			last = err.Error()
		case info.Agent == t.Version:
			o.Result, o.Took = UpdateUpdated, time.Since(start).Round(time.Millisecond).String()
			o.Detail = fmt.Sprintf("answering as %s (it confirms itself once it answered the box within its %s health window)", t.Version, res.Window)
			return o
		default:
			last = "answering as " + info.Agent
		}
		select {
		case <-wctx.Done():
			o.Result = UpdateFailed
			o.Detail = fmt.Sprintf("installed, but not answering as %s after %s (%s): it goes back to %s by itself if the new version does not come up", t.Version, wait, last, res.From)
			return o
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// SendUpdate sends one firmware bundle to a paired agent, which installs
// it and restarts, or refuses it (ErrRefused, with its reason).
func (c *Client) SendUpdate(ctx context.Context, name string, bundle io.Reader) (wire.UpdateResult, error) {
	var res wire.UpdateResult
	rec, err := c.record(name)
	if err != nil {
		return res, err
	}
	cn, err := c.conn(name, rec)
	if err != nil {
		return res, err
	}
	if err := c.syncPolicy(ctx, name, cn); err != nil {
		return res, err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+cn.addr+wire.PathUpdate, bundle)
	if err != nil {
		return res, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := cn.http.Do(req)
	if err != nil {
		return res, fmt.Errorf("agent %s at %s: sending the update: %w", name, cn.addr, err)
	}
	defer resp.Body.Close()
	// The agent restarts right after answering: this connection is gone.
	defer cn.http.CloseIdleConnections()
	if resp.StatusCode != http.StatusOK {
		kind := resp.Header.Get(wire.HeaderAgentError)
		err := wire.ReadError(resp)
		if kind != "" {
			c.o.Log.Warn("agent refused the update", "agent", name, "code", kind, "err", err)
			return res, fmt.Errorf("agent %s: %w: %v", name, ErrRefused, err)
		}
		return res, fmt.Errorf("agent %s %s: %v", name, wire.PathUpdate, err)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxAnswer)).Decode(&res); err != nil {
		return res, fmt.Errorf("agent %s answered the update with something that is not the agent protocol: %v", name, err)
	}
	c.touch(name)
	return res, nil
}

// Paired lists the agents the box may update with --all: paired, not
// revoked, by name.
func (c *Client) Paired() ([]string, error) {
	recs, err := c.o.Store.ListAgents()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, r := range recs {
		if !r.Revoked() {
			names = append(names, r.Name)
		}
	}
	return names, nil
}

// fillVersions asks each paired agent for its version (at most a few
// seconds, all at once), for `outpost agent list`; one that does not
// answer keeps an empty version.
func (c *Client) fillVersions(ctx context.Context, list []AgentStatus) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range list {
		if !list[i].Paired {
			continue
		}
		wg.Add(1)
		go func(s *AgentStatus) {
			defer wg.Done()
			if info, err := c.Info(ctx, s.Name); err == nil {
				s.Version, s.Arch = info.Agent, info.OS+"/"+info.Arch
			}
		}(&list[i])
	}
	wg.Wait()
}
