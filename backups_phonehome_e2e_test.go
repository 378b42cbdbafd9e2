//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// TestBackupsInSummary: a job pinged by curl (a failed run with its log,
// then a good one) reaches the MSP in the box's summaries to a real
// `outpost hq` (last success, failures, runs over the SLA window; the
// summaries as sent match docs/phone-home.schema.json).
func TestBackupsInSummary(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is needed (make test installs it)")
	}
	dir := t.TempDir()
	caFile, certFile, keyFile, _ := testCA(t, dir, "hq")
	hqData, boxData := t.TempDir(), t.TempDir()
	hqAddr := freePort(t)
	hqCmd := startHQ(t, hqData, hqAddr, freePort(t), certFile, keyFile)
	const job = "0b7a4b52-6f4e-4a0c-9d43-2f1e8c3a5d71"
	cfg := writeConfig(t, fmt.Sprintf(`site: Acme
phonehome: {url: 'https://%s/v1/summaries', interval: 300ms, ca_file: '%s', backoff_max: 1s}
devices:
  - {name: fileserver, class: server}
checks:
  - {id: fileserver-borg, kind: backup, confirm: 1, recover: 1, labels: {device: fileserver}, options: {uuid: %s, period: 24h}}
`, hqAddr, caFile, job))
	_, boxLog := startBox(t, cfg, boxData)
	out, _ := outpost(t, "bundle", "status", "--data", boxData)
	id := regexp.MustCompile(`box id:\s+(ob-[0-9a-f]+)`).FindStringSubmatch(out)
	key := regexp.MustCompile(`box public key:\s+(ed25519:\S+)`).FindStringSubmatch(out)
	if id == nil || key == nil {
		t.Fatalf("bundle status:\n%s", out)
	}
	if out, code := outpost(t, "hq", "register", "--box", id[1], "--key", key[1], "--site", "Acme", "--data", hqData); code != 0 {
		t.Fatalf("register: %s", out)
	}
	out, code := outpost(t, "backups", "--json", "--data", boxData)
	var jobs []struct {
		URL string `json:"url"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &jobs) != nil || len(jobs) != 1 || jobs[0].URL == "" {
		t.Fatalf("backups --json: %d %s", code, out)
	}
	ping := func(path string, body string) {
		t.Helper()
		args := []string{"-fsS", "-k", "-m", "30", jobs[0].URL + path}
		if body != "" {
			args = append(args, "--data-binary", body)
		}
		if out, err := exec.Command(curl, args...).CombinedOutput(); err != nil {
			t.Fatalf("curl %s: %v %s", path, err, out)
		}
	}
	ping("/start", "")
	ping("/1", "rsync: write failed on \"/mnt/backup/db.dump\": No space left on device (28)")
	ping("/start", "")
	ping("", "sent 1.2G bytes  received 35 bytes")
	// A summary built after the last ping, acknowledged by hq.
	after := phoneStatusOf(t, boxData).NextSeq
	waitFor(t, "a summary after the pings to reach hq", patience, func() string {
		if st := phoneStatusOf(t, boxData); st.LastAck <= after {
			return fmt.Sprintf("phone home: %+v\n%s", st, boxLog.String())
		}
		return ""
	})

	hqCmd.Process.Signal(syscall.SIGTERM)
	hqCmd.Wait()
	docs := validateStored(t, hqData, id[1])
	last := docs[len(docs)-1]
	bk, _ := last["backups"].([]any)
	if len(bk) != 1 {
		t.Fatalf("newest summary's backups: %v", last["backups"])
	}
	b := bk[0].(map[string]any)
	if b["check"] != "fileserver-borg" || b["device"] != "fileserver" || b["status"] != "ok" || b["runs"] != json.Number("2") && b["runs"] != float64(2) ||
		b["last_success"] == nil || b["last_failure"] == nil || !strings.HasPrefix(fmt.Sprint(b["detail"]), "last run ok") {
		t.Fatalf("backup in the summary: %v", b)
	}
	if fmt.Sprint(b["failed"]) != "1" || fmt.Sprint(b["success_percent"]) != "50" {
		t.Fatalf("backup figures in the summary: %v", b)
	}
}
