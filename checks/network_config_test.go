package checks_test

import (
	"testing"

	"outpost/appliance/config"
)

// TestNetworkOptionErrors feeds bad network-kind settings through the
// real config parser and asserts the whole message a technician sees:
// file, line, field path and what is wrong.
func TestNetworkOptionErrors(t *testing.T) {
	check := func(kind, target, rest string) string {
		return "site: t\nchecks:\n  - id: a\n    kind: " + kind + "\n    target: '" + target + "'\n" + rest
	}
	cases := []struct{ name, yaml, want string }{
		// http
		{"http status not a number", check("http", "http://127.0.0.1/", "    options: {expect_status: [abc]}\n"),
			`t.yaml:6: checks[0].options.expect_status[0]: "abc" is not a whole number`},
		{"http status out of range", check("http", "http://127.0.0.1/", "    options:\n      expect_status: [200, 999]\n"),
			`t.yaml:7: checks[0].options.expect_status[1]: 999 is not an HTTP status code (100 to 599)`},
		{"http scheme", check("http", "ftp://127.0.0.1/", ""),
			`t.yaml:3: checks[0].target: "ftp://127.0.0.1/" is not an http:// or https:// URL`},
		{"http no host", check("http", "http:///path", ""),
			`t.yaml:3: checks[0].target: "http:///path" is not an http:// or https:// URL`},
		{"http bad port", check("http", "http://127.0.0.1:99999/", ""),
			`t.yaml:3: checks[0].target: "http://127.0.0.1:99999/": port "99999" is not a number from 1 to 65535`},
		{"http credentials in URL", check("http", "http://admin:pw@127.0.0.1/", ""),
			`t.yaml:3: checks[0].target: credentials in the URL are not supported: use options.headers with an Authorization header`},
		{"http method", check("http", "http://127.0.0.1/", "    options: {method: DELETE}\n"),
			`t.yaml:6: checks[0].options.method: "DELETE" is not one of GET, HEAD, POST, PUT, OPTIONS`},
		{"http HEAD with body match", check("http", "http://127.0.0.1/", "    options: {method: HEAD, body_contains: ok}\n"),
			`t.yaml:6: checks[0].options.method: HEAD answers have no body to match body_contains or body_regex against`},
		{"http regex", check("http", "http://127.0.0.1/", "    options: {body_regex: '(['}\n"),
			"t.yaml:6: checks[0].options.body_regex: error parsing regexp: missing closing ]: `[`"},
		{"http header name", check("http", "http://127.0.0.1/", "    options: {headers: {'X Token': a}}\n"),
			`t.yaml:6: checks[0].options.headers: "X Token" is not a valid header name`},
		{"http header set by Outpost", check("http", "http://127.0.0.1/", "    options: {headers: {connection: keep-alive}}\n"),
			`t.yaml:6: checks[0].options.headers.connection: is set by Outpost (fresh connection, no request body)`},
		{"http cert days order", check("http", "https://127.0.0.1/", "    options: {cert_warning_days: 7, cert_critical_days: 10}\n"),
			`t.yaml:6: checks[0].options.cert_critical_days: 10 is more than cert_warning_days 7`},
		{"http cert days negative", check("http", "https://127.0.0.1/", "    options: {cert_warning_days: -1}\n"),
			`t.yaml:6: checks[0].options.cert_warning_days: -1 is negative`},
		{"http ms order", check("http", "http://127.0.0.1/", "    options: {warning_ms: 500, critical_ms: 100}\n"),
			`t.yaml:6: checks[0].options.warning_ms: 500 is above critical_ms 100`},
		{"http ca_file missing", check("http", "https://127.0.0.1/", "    options: {ca_file: /nonexistent/ca.pem}\n"),
			`t.yaml:6: checks[0].options.ca_file: open /nonexistent/ca.pem: no such file or directory`},
		{"http follow_redirects type", check("http", "http://127.0.0.1/", "    options: {follow_redirects: sometimes}\n"),
			`t.yaml:6: checks[0].options.follow_redirects: "sometimes" is not true or false`},
		{"http unknown option", check("http", "http://127.0.0.1/", "    options:\n      body_contain: ok\n"),
			`t.yaml:7: checks[0].options.body_contain: unknown field (expected one of body_contains, body_regex, ca_file, cert_critical_days, cert_warning_days, critical_ms, expect_status, follow_redirects, headers, insecure_skip_verify, method, warning_ms)`},
		// tcp
		{"tcp unknown option", check("tcp", "127.0.0.1:25", "    options:\n      bannr: ESMTP\n"),
			`t.yaml:7: checks[0].options.bannr: unknown field (expected one of banner, ca_file, critical_ms, insecure_skip_verify, send, tls, verify, warning_ms)`},
		{"tcp no port", check("tcp", "127.0.0.1", ""),
			`t.yaml:3: checks[0].target: "127.0.0.1" is not host:port`},
		{"tcp port 0", check("tcp", "127.0.0.1:0", ""),
			`t.yaml:3: checks[0].target: "127.0.0.1:0": port "0" is not a number from 1 to 65535`},
		{"tcp named port", check("tcp", "127.0.0.1:smtp", ""),
			`t.yaml:3: checks[0].target: "127.0.0.1:smtp": port "smtp" is not a number from 1 to 65535`},
		{"tcp verify without tls", check("tcp", "127.0.0.1:993", "    options: {verify: true}\n"),
			`t.yaml:6: checks[0].options.verify: needs tls: true`},
		{"tcp insecure_skip_verify without tls", check("tcp", "127.0.0.1:993", "    options: {insecure_skip_verify: true}\n"),
			`t.yaml:6: checks[0].options.insecure_skip_verify: needs tls: true`},
		{"tcp ca_file without tls", check("tcp", "127.0.0.1:993", "    options: {ca_file: /etc/ssl/certs/ca-certificates.crt}\n"),
			`t.yaml:6: checks[0].options.ca_file: needs tls: true`},
		{"tcp verify and insecure_skip_verify", check("tcp", "127.0.0.1:993", "    options: {tls: true, verify: true, insecure_skip_verify: true}\n"),
			`t.yaml:6: checks[0].options.insecure_skip_verify: contradicts verify: true`},
		{"tcp ca_file and insecure_skip_verify", check("tcp", "127.0.0.1:993", "    options: {tls: true, ca_file: /etc/ssl/certs/ca-certificates.crt, insecure_skip_verify: true}\n"),
			`t.yaml:6: checks[0].options.insecure_skip_verify: contradicts ca_file (which certificates would be trusted?)`},
		{"tcp negative ms", check("tcp", "127.0.0.1:25", "    options: {critical_ms: -5}\n"),
			`t.yaml:6: checks[0].options.critical_ms: -5 is negative`},
		// dns
		{"dns type", check("dns", "acme.test", "    options: {type: BOGUS}\n"),
			`t.yaml:6: checks[0].options.type: "BOGUS" is not one of A, AAAA, CNAME, MX, TXT, PTR, NS, SRV, SOA`},
		{"dns protocol", check("dns", "acme.test", "    options: {protocol: doh}\n"),
			`t.yaml:6: checks[0].options.protocol: "doh" is not udp or tcp`},
		{"dns target", check("dns", "http://acme.test/", ""),
			`t.yaml:3: checks[0].target: "http://acme.test/" is not a domain name`},
		{"dns server port", check("dns", "acme.test", "    options: {server: '127.0.0.1:dns'}\n"),
			`t.yaml:6: checks[0].options.server: "127.0.0.1:dns": port "dns" is not a number from 1 to 65535`},
		{"dns expect empty", check("dns", "acme.test", "    options: {expect: ['192.0.2.1', '']}\n"),
			`t.yaml:6: checks[0].options.expect[1]: is empty`},
		{"dns expect not a list", check("dns", "acme.test", "    options: {expect: 192.0.2.1}\n"),
			`t.yaml:6: checks[0].options.expect: expected a list, got "192.0.2.1"`},
		// ping
		{"ping count vs timeout", check("ping", "127.0.0.1", "    timeout: 1s\n    options: {count: 20}\n"),
			`t.yaml:7: checks[0].options.count: 20 packets 200ms apart do not fit in the timeout 1s`},
		{"ping count range", check("ping", "127.0.0.1", "    options: {count: 0}\n"),
			`t.yaml:6: checks[0].options.count: 0 is out of range (1 to 100)`},
		{"ping interval", check("ping", "127.0.0.1", "    options: {packet_interval: 1ms}\n"),
			`t.yaml:6: checks[0].options.packet_interval: 1ms is below the minimum 10ms`},
		{"ping interval not a duration", check("ping", "127.0.0.1", "    options: {packet_interval: fast}\n"),
			`t.yaml:6: checks[0].options.packet_interval: "fast" is not a duration (e.g. 30s, 5m, 2h, 7d)`},
		{"ping loss order", check("ping", "127.0.0.1", "    options: {warning_loss: 60, critical_loss: 50}\n"),
			`t.yaml:6: checks[0].options.warning_loss: 60 is not a percentage from 0 to critical_loss (50)`},
		{"ping loss range", check("ping", "127.0.0.1", "    options: {critical_loss: 150}\n"),
			`t.yaml:6: checks[0].options.critical_loss: 150 is not a percentage above 0 and at most 100`},
		{"ping target", check("ping", "127.0.0.1:80", ""),
			`t.yaml:3: checks[0].target: "127.0.0.1:80" is not a host name or IP address`},
		{"ping privileged type", check("ping", "127.0.0.1", "    options: {privileged: root}\n"),
			`t.yaml:6: checks[0].options.privileged: "root" is not true or false`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse("t.yaml", []byte(tc.yaml))
			if err == nil || err.Error() != tc.want {
				t.Errorf("config:\n%s\ngot:  %v\nwant: %s", tc.yaml, err, tc.want)
			}
		})
	}
}
