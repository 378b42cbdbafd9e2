# Outpost. `make run` starts the appliance on its embedded default config;
# `make test` installs what the tests need (Debian packages) and runs them.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE     ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS  := -s -w -X outpost/appliance.Version=$(VERSION) -X outpost/appliance.Commit=$(COMMIT) -X outpost/appliance.BuildDate=$(DATE)
DATA     ?= ./data
# Debian packages the tests use as real peers.
TEST_DEBS := chromium libnss3-tools systemd snmpd snmp snmpsim iproute2 procps wine wine64 gcc-mingw-w64-x86-64 dosfstools e2fsprogs borgmatic borgbackup curl poppler-utils nmap ieee-data
# Installed with their services kept from starting (policy-rc.d): chrony's
# default config would poll public NTP pools, and the tests start their own
# chronyd on loopback; the tests start their own prometheus too, and their
# own PostgreSQL clusters (initdb + pg_ctl in a temporary directory).
TEST_DEBS_NOSTART := chrony prometheus rsyslog rsyslog-gnutls postgresql avahi-daemon systemd-journal-remote
TEST_TIMEOUT ?= 12m

.PHONY: build run test test-deps generate check-generated bench cross vet clean fuzz crashtest soak
FUZZTIME ?= 1m
CRASH_KILLS ?= 200
DURATION ?= 1h

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o outpost .

run: build
	./outpost run --data $(DATA)

test-deps:
	@missing=""; for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing test dependencies:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@missing=""; for p in $(TEST_DEBS_NOSTART); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing test dependencies (not started):$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		printf '#!/bin/sh\nexit 101\n' | $$SUDO tee /usr/sbin/policy-rc.d >/dev/null && $$SUDO chmod +x /usr/sbin/policy-rc.d; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; rc=$$?; \
		$$SUDO rm -f /usr/sbin/policy-rc.d; \
		$$SUDO systemctl disable --now chrony prometheus prometheus-node-exporter rsyslog postgresql avahi-daemon systemd-journal-remote.socket systemd-journal-remote >/dev/null 2>&1 || true; \
		exit $$rc; \
	fi
	@# Lets the ping tests use unprivileged ICMP sockets too (the box's default).
	@[ "$$(id -u)" = 0 ] && sysctl -qw net.ipv4.ping_group_range="0 2147483647" || true

vet:
	$(GO) vet ./...
	GOOS=windows $(GO) build ./...
	GOOS=windows $(GO) vet ./...

# -parallel 4: the end-to-end tests marked parallel mostly wait on real
# daemons (reminders, health windows, timeouts), so four share the CPUs.
test: test-deps vet check-generated
	$(GO) test -timeout $(TEST_TIMEOUT) -parallel 4 ./...

generate:
	$(GO) tool templ generate

# Every fuzz target for FUZZTIME each (their seed corpora also run in
# `make test`, as ordinary tests). A failure leaves its input in the
# package's testdata/fuzz/ for a regression test.
fuzz:
	@set -e; grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do \
		pkg=$$(dirname "$$f"); \
		for fn in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' "$$f" | cut -d' ' -f2); do \
			echo "fuzz $$pkg $$fn for $(FUZZTIME)"; \
			$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) "$$pkg"; \
		done; \
	done

# TestCrashSafety with CRASH_KILLS SIGKILLs of a loaded daemon (20 in
# `make test`), and TestCrashSafetyPowerCut with half as many power cuts
# in the middle of a commit on a file system that drops unsynced writes
# (5 in `make test`); the figures go in BENCHMARKS.md.
crashtest: test-deps
	OUTPOST_CRASH_KILLS=$(CRASH_KILLS) $(GO) test -count=1 -timeout 90m -run '^TestCrashSafety(PowerCut)?$$' -v .

# TestSoak for DURATION (20 s in `make test`): memory, goroutines, open
# files, store size and lateness sampled from outside, drawn in
# docs/soak.svg.
soak: test-deps
	OUTPOST_SOAK=$(DURATION) OUTPOST_SOAK_SVG=$(CURDIR)/docs/soak.svg $(GO) test -count=1 -timeout 0 -run '^TestSoak$$' -v .

check-generated:
	@./scripts/check-generated.sh

bench: build
	./scripts/bench.sh

cross:
	GOOS=linux GOARCH=amd64 CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/outpost-linux-amd64 .
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/outpost-linux-arm64 .
	GOOS=linux GOARCH=arm GOARM=7 CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/outpost-linux-armv7 .
	GOOS=windows GOARCH=amd64 CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/outpost-windows-amd64.exe .

clean:
	rm -rf outpost outpost.exe dist
