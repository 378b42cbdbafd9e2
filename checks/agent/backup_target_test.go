package agent

import (
	"strings"
	"testing"

	"outpost/appliance/config"
)

// TestBackupTargetOptionErrors: a site file's bad agent_backup_target
// options are refused with the field and the line that holds them.
func TestBackupTargetOptionErrors(t *testing.T) {
	for _, c := range []struct{ options, want string }{
		{`{max_age: 26h}`, `t.yaml:5: checks[0].options.path: "" is not an absolute folder path on the agent`},
		{`{path: 'Backups\Veeam'}`, `options.path: "Backups\\Veeam" is not an absolute folder path`},
		{`{path: /srv/backup, max_age: 30s}`, `options.max_age: 30s is not an age to allow (at least 1m, e.g. 26h)`},
		{`{path: /srv/backup, max_age: -1h}`, `options.max_age: "-1h" is negative`},
		{`{path: /srv/backup, max_age: daily}`, `daily`},
		{`{path: /srv/backup, min_size: lots}`, `options.min_size: `},
		{`{path: /srv/backup, max_size: 1GB}`, `max_size`},
	} {
		y := "site: t\nagents:\n  - {name: srv01}\nchecks:\n  - {id: c, kind: agent_backup_target, target: srv01, options: " + c.options + "}\n"
		_, err := config.Parse("t.yaml", []byte(y))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("options %s: got %v, want %q", c.options, err, c.want)
		}
	}
	y := "site: t\nagents:\n  - {name: srv01}\nchecks:\n  - {id: c, kind: agent_backup_target, target: srv01, options: {path: 'E:\\Backups', max_age: 170h, min_size: 1GB}}\n"
	if _, err := config.Parse("t.yaml", []byte(y)); err != nil {
		t.Fatalf("a good target: %v", err)
	}
}
