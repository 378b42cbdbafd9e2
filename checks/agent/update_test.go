//go:build linux

package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	agentd "outpost/appliance/agent"
	"outpost/firmware/bundle"
)

// TestUpdateAgentsOneAtATimeStopsAtFirstFailure pairs three real agent
// daemons (in this process, over real TLS): a bundle for another OS/arch
// is skipped without being sent; rolled out to two agents in order, the
// first trusts no MSP key and refuses it, which stops the rollout, and
// the second is never sent it. With the key set, the bundle (whose
// "binary" is not a program) is refused by its smoke test; no installed
// binary changes.
func TestUpdateAgentsOneAtATimeStopsAtFirstFailure(t *testing.T) {
	r := newBox(t)
	names := []string{"a-other", "b-nokey", "c-never"}
	var peers []Peer
	for _, n := range names {
		peers = append(peers, Peer{Name: n})
	}
	r.c.SetPeers(peers)
	pub, priv, _ := ed25519.GenerateKey(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*patience)
	defer cancel()
	agents := map[string]*agentd.Agent{}
	bins := map[string]string{}
	for _, n := range names {
		dir := t.TempDir()
		bins[n] = filepath.Join(dir, "outpost")
		if err := os.WriteFile(bins[n], []byte("installed binary"), 0o755); err != nil {
			t.Fatal(err)
		}
		a, err := agentd.New(agentd.Options{DataDir: filepath.Join(dir, "data"), Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "v1.0.0", Binary: bins[n]})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		code, _, err := r.c.NewPairCode(n)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Pair(ctx, agentd.PairOptions{BoxURL: r.pairTS.URL, Code: code, Listen: ln.Addr().String()}); err != nil {
			t.Fatal(err)
		}
		sctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { a.Serve(sctx, ln); close(done) }()
		t.Cleanup(func() { stop(); <-done })
		agents[n] = a
	}
	now := time.Now().UTC()
	fw, err := bundle.MakeFirmware(priv, bundle.FirmwareManifest{Version: "v2.0.0", OS: runtime.GOOS, Arch: runtime.GOARCH, Created: now, Expires: now.Add(time.Hour)}, []byte("#!/not/a/program\n"))
	if err != nil {
		t.Fatal(err)
	}
	sent := 0
	open := func() (io.ReadCloser, error) { sent++; return io.NopCloser(bytes.NewReader(fw)), nil }
	target := UpdateTarget{Version: "v2.0.0", OS: runtime.GOOS, Arch: runtime.GOARCH}

	// A bundle for another OS/arch than the agent's: skipped, not a
	// failure, and never sent.
	out := r.c.UpdateAgents(ctx, names[:1], UpdateTarget{Version: "v2.0.0", OS: "plan9", Arch: "arm"}, open, patience)
	if len(out) != 1 || out[0].Result != UpdateSkipped || !strings.Contains(out[0].Detail, "the bundle is for plan9/arm") || sent != 0 {
		t.Fatalf("another arch: %+v (sent %d)", out, sent)
	}
	// In order: the first refusal stops the rollout.
	out = r.c.UpdateAgents(ctx, names[1:], target, open, patience)
	want := []struct{ agent, result, detail string }{
		{"b-nokey", UpdateRefused, "this agent trusts no MSP key"},
		{"c-never", UpdateNotTried, "the rollout stopped at an earlier agent"},
	}
	if len(out) != len(want) {
		t.Fatalf("outcomes: %+v", out)
	}
	for i, w := range want {
		if out[i].Agent != w.agent || out[i].Result != w.result || !strings.Contains(out[i].Detail, w.detail) {
			t.Errorf("outcome %d: %+v, want %s %s %q", i, out[i], w.agent, w.result, w.detail)
		}
	}
	if sent != 1 {
		t.Fatalf("the bundle was sent %d times, want once (c-never must not get it)", sent)
	}

	if err := agents["b-nokey"].SetMSPKey(pub); err != nil {
		t.Fatal(err)
	}
	out = r.c.UpdateAgents(ctx, names[1:2], target, open, patience)
	if len(out) != 1 || out[0].Result != UpdateRefused || !strings.Contains(out[0].Detail, "the new binary does not run here") {
		t.Fatalf("a bundle whose binary does not run: %+v", out)
	}
	for _, n := range names {
		if got, _ := os.ReadFile(bins[n]); string(got) != "installed binary" {
			t.Fatalf("%s: installed binary changed to %q", n, got)
		}
		if left, _ := filepath.Glob(filepath.Join(filepath.Dir(bins[n]), ".outpost-*")); len(left) > 0 {
			t.Fatalf("%s: left behind %v", n, left)
		}
	}
}
