package wire_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	agentd "outpost/appliance/agent"
	"outpost/checks/agent/wire"
)

// stubHost answers every query with nothing and records what it was
// asked to control: the fuzz target checks that only allowed services
// ever reach it.
type stubHost struct {
	mu         sync.Mutex
	controlled []string
}

func (h *stubHost) Service(_ context.Context, name string) (wire.Service, error) {
	return wire.Service{Name: name}, nil
}
func (h *stubHost) Volumes(context.Context, string) ([]wire.Volume, error) { return nil, nil }
func (h *stubHost) CPU(context.Context) (wire.CPU, error)                  { return wire.CPU{}, nil }
func (h *stubHost) Memory(context.Context) (wire.Memory, error)            { return wire.Memory{}, nil }
func (h *stubHost) Uptime(context.Context) (wire.Uptime, error)            { return wire.Uptime{}, nil }
func (h *stubHost) Processes(context.Context, string) (wire.ProcessList, error) {
	return wire.ProcessList{}, nil
}
func (h *stubHost) Events(_ context.Context, q wire.EventQuery) (wire.EventBatch, error) {
	if q.Log != "journal" {
		panic("the agent read a log its allow-list does not hold: " + q.Log)
	}
	return wire.EventBatch{}, nil
}
func (h *stubHost) Perf(context.Context, wire.PerfQuery) (wire.PerfValue, error) {
	return wire.PerfValue{}, nil
}
func (h *stubHost) Inventory(context.Context) (wire.Inventory, error) { return wire.Inventory{}, nil }
func (h *stubHost) ControlService(_ context.Context, action, name string) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.controlled = append(h.controlled, name)
	return "", nil
}

var agentPaths = []struct{ method, path string }{
	{"POST", wire.PathQuery},
	{"POST", wire.PathCommand},
	{"PUT", wire.PathPolicy},
	{"POST", wire.PathRevoke},
	{"GET", wire.PathInfo},
	{"GET", wire.PathInventory},
	{"POST", "/v1/unpair"},
}

// FuzzAgentMessage feeds arbitrary bodies to the real agent handler, as
// the pinned box (or, with pinned false, anyone on the LAN), on every
// path: it must never panic, never control a service or read a log its
// own allow-list does not hold (whatever policy the box pushed first),
// never run a script (it allows none), and never forget the box except
// for a valid signed revocation. Each message type also round-trips.
func FuzzAgentMessage(f *testing.F) {
	dir := f.TempDir()
	box, err := wire.LoadIdentity(must(wire.NewIdentity("box")))
	if err != nil {
		f.Fatal(err)
	}
	boxFP := wire.Fingerprint(box.Certificate[0])
	host := &stubHost{}
	state, _ := json.Marshal(agentd.State{Name: "srv1", BoxFingerprint: boxFP})
	if err := os.WriteFile(filepath.Join(dir, "agent-state.json"), state, 0o600); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, agentd.AllowFile), []byte("services: [allowed-svc]\nlogs: [journal]\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	a, err := agentd.New(agentd.Options{DataDir: dir, Host: host, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	h := a.Handler()
	leaf, _ := x509.ParseCertificate(box.Certificate[0])
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for _, seed := range []string{
		`{"kind":"eventlog","events":{"log":"/etc/shadow","cursor":"x:0","pattern":"."}}`,
		`{"kind":"eventlog","events":{"log":"journal"}}`,
		`{"kind":"service","name":"x"}`,
		`{"action":"restart","target":"sshd","nonce":"0123456789abcdef0123","time":"` + now + `"}`,
		`{"action":"restart","target":"allowed-svc","nonce":"0123456789abcdef0124","time":"` + now + `"}`,
		`{"action":"script","target":"evil","nonce":"0123456789abcdef0125","time":"` + now + `"}`,
		`{"services":["sshd","allowed-svc"],"scripts":[{"name":"evil","command":"/bin/sh","args":["-c","id"]}],"logs":["/etc/shadow"]}`,
		`{"version":2,"agent":"srv1","box_cert":"AAAA","signature":"AAAA"}`,
		`{}`, `[]`, `null`, `{"kind":"eventlog"}`, `{"kind":"perf"}`,
	} {
		for i := range agentPaths {
			f.Add(uint8(i), true, []byte(seed))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, pinned bool, body []byte) {
		p := agentPaths[int(which)%len(agentPaths)]
		req := httptest.NewRequest(p.method, p.path, bytes.NewReader(body))
		req.TLS = &tls.ConnectionState{}
		if pinned {
			req.TLS.PeerCertificates = []*x509.Certificate{leaf}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == 200 && !pinned && p.path != wire.PathRevoke {
			t.Fatalf("%s %s answered 200 to an unpinned client", p.method, p.path)
		}
		host.mu.Lock()
		for _, s := range host.controlled {
			if s != "allowed-svc" {
				t.Fatalf("the agent controlled %q, which its allow-list does not hold", s)
			}
		}
		host.mu.Unlock()
		if a.State().BoxFingerprint != boxFP {
			t.Fatalf("the agent forgot the box after %s %s %q", p.method, p.path, body)
		}
		roundTrip(t, body)
	})
}

// roundTrip decodes body as each agent message and encodes it again.
func roundTrip(t *testing.T, body []byte) {
	for _, v := range []any{&wire.Query{}, &wire.Command{}, &wire.Policy{}, &wire.Answer{}, &wire.Revocation{}, &wire.PairRequest{}, &wire.PairChallenge{}, &wire.PairAccepted{}, &wire.PairResponse{}, &wire.Inventory{}} {
		if json.Unmarshal(body, v) != nil {
			continue
		}
		if _, err := json.Marshal(v); err != nil && !strings.Contains(err.Error(), "unsupported value") {
			t.Fatalf("%T: %v", v, err)
		}
		if r, ok := v.(*wire.Revocation); ok {
			r.Verify("sha256:x", "sha256:y")
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
