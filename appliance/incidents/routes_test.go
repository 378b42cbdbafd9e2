package incidents_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"outpost/appliance/incidents"
	"outpost/healing"
)

// TestRoutes drives the control API over real HTTP: listing, one
// incident, ack/note/resolve with their error statuses, and a manual heal
// that lands in the timeline.
func TestRoutes(t *testing.T) {
	y := fmt.Sprintf(`site: s
healing: {allow_commands: [[%s, count, "*"]]}
checks:
  - {id: db, kind: tcp, target: '127.0.0.1:1'}
  - id: web
    kind: tcp
    target: 127.0.0.1:2
    remediations:
      - {action: command, command: [%s, count, %s]}
`, flakyBin, flakyBin, t.TempDir()+"/count")
	h := newHarness(t, y, "")
	h.feed("db", C, C)
	mux := http.NewServeMux()
	h.eng.Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	call := func(method, path, body string, wantCode int, out any) string {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != wantCode {
			t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, data, wantCode)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s %s: content type %q", method, path, ct)
		}
		if out != nil {
			if err := json.Unmarshal(data, out); err != nil {
				t.Fatalf("%s %s: %v in %s", method, path, err, data)
			}
		}
		var e struct{ Error string }
		json.Unmarshal(data, &e)
		return e.Error
	}

	var list []incidents.Incident
	call("GET", "/incidents?open=1", "", 200, &list)
	if len(list) != 1 || list[0].Check != "db" {
		t.Fatalf("open list %+v", list)
	}
	id := fmt.Sprint(list[0].ID)
	var inc incidents.Incident
	call("GET", "/incidents/"+id, "", 200, &inc)
	if inc.ID != list[0].ID || len(inc.Timeline) == 0 {
		t.Fatalf("one incident %+v", inc)
	}

	errs := []struct {
		method, path, body string
		code               int
		msg                string
	}{
		{"GET", "/incidents/x", "", 400, "incident id must be a number"},
		{"GET", "/incidents/999", "", 404, "no such incident: 999"},
		{"POST", "/incidents/" + id + "/ack", `{"note":"x"}`, 400, "say who you are (by)"},
		{"POST", "/incidents/" + id + "/ack", `{`, 400, "request body: unexpected EOF"},
		{"POST", "/incidents/999/ack", `{"by":"alice"}`, 404, "no such incident: 999"},
		{"POST", "/heal/nope", `{"by":"bob"}`, 404, `no such check: "nope"`},
		{"POST", "/heal/db", `{"by":"bob"}`, 400, `check "db" has no remediation configured`},
		{"POST", "/heal/web", `{"by":"bob","action":2}`, 400, `check "web" has 1 remediation(s); there is no number 2`},
		{"POST", "/heal/web", `{"by":"bob","action":-1}`, 400, `action -1: remediations are numbered from 1 (0 runs them all)`},
	}
	for _, c := range errs {
		if got := call(c.method, c.path, c.body, c.code, nil); got != c.msg {
			t.Errorf("%s %s: error %q, want %q", c.method, c.path, got, c.msg)
		}
	}

	call("POST", "/incidents/"+id+"/ack", `{"by":"alice","note":"on my way"}`, 200, &inc)
	if inc.State != incidents.Acknowledged || inc.AckedBy != "alice" {
		t.Fatalf("after ack %+v", inc)
	}
	if got := call("POST", "/incidents/"+id+"/ack", `{"by":"bob"}`, 409, nil); got != "incident "+id+" was already acknowledged by alice" {
		t.Fatalf("second ack: %q", got)
	}
	call("POST", "/incidents/"+id+"/note", `{"by":"alice","note":"disk replaced"}`, 200, &inc)
	call("POST", "/incidents/"+id+"/resolve", `{"by":"alice"}`, 200, &inc)
	if inc.State != incidents.Resolved || inc.Resolution != "technician" {
		t.Fatalf("after resolve %+v", inc)
	}
	if got := call("POST", "/incidents/"+id+"/resolve", `{"by":"alice"}`, 409, nil); got != "incident "+id+" is already resolved" {
		t.Fatalf("second resolve: %q", got)
	}
	var kinds []string
	for _, ev := range inc.Timeline {
		kinds = append(kinds, string(ev.Kind)+":"+ev.By)
	}
	if got := strings.Join(kinds, ","); got != "detected:,technician:,acknowledged:alice,note:alice,resolved:alice" {
		t.Fatalf("timeline %s", got)
	}

	var audit []healing.AuditEntry
	call("POST", "/heal/web", `{"by":"bob","action":1}`, 200, &audit)
	if len(audit) != 1 || !audit[0].OK || audit[0].Who != "bob" || audit[0].Output != "restarted\n" {
		t.Fatalf("manual heal %+v", audit)
	}
	call("GET", "/incidents?limit=1", "", 200, &list)
	if len(list) != 1 {
		t.Fatalf("limit=1 gave %d", len(list))
	}
}
