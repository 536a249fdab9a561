# vsb: video stream broker. Everything runs with the pinned tools in node_modules/.bin,
# so a Debian 12 machine needs only Node/npm (and apt, as root, for `make setup`).
#   make demo   local RabbitMQ + vsb-proxy + a sample dataflow
#   make test   setup, type-check, lint, then the whole bun test suite

BIN   := node_modules/.bin
BUN   := $(BIN)/bun
DENO  := $(BIN)/deno
TSC   := $(BIN)/tsc

# make agent ARCH=arm64 cross-builds the agent binary (amd64 = this machine's default).
ARCH ?= $(shell uname -m)
# make demo PORT=8081 when 8080 is taken.
PORT ?= 8080
# make install PREFIX=/usr DESTDIR=/tmp/pkg
PREFIX     ?= /usr/local
# Units name $(PREFIX)/bin; the paths in systemd/*.service are rewritten from /usr/local.
DESTDIR    ?=
SYSTEMDDIR ?= /etc/systemd/system
SYSCONFDIR ?= /etc

# Deno must neither ask questions nor phone home (CI has no stdin and no internet).
export DENO_NO_UPDATE_CHECK := 1
export DENO_NO_PROMPT := 1
export NO_COLOR := 1

.PHONY: help setup check test demo agent proxy bench-api bench-proxy bench-agent bench-scale install clean

help:
	@echo "make setup        install npm deps and missing Debian packages (idempotent; apt needs root)"
	@echo "make check        deno check + deno lint (agent, shared, proxy); tsc --noEmit (all TypeScript)"
	@echo "make test         setup, check, then bun test (unit + end-to-end on real parts)"
	@echo "make demo         local RabbitMQ + vsb-proxy on 127.0.0.1:\$$PORT + a sample dataflow"
	@echo "make agent        dist/vsb-agent single binary (ARCH=amd64|arm64)"
	@echo "make proxy        dist/vsb-proxy and dist/vsb-consume single binaries (bun build --compile)"
	@echo "make bench-api | bench-proxy | bench-agent   benchmarks, one JSON line each"
	@echo "make bench-scale  streams over K = 1 and 2 proxies on one PostgreSQL; bench-api REPLICAS=2 on two"
	@echo "make install      binaries, systemd units, RabbitMQ drop-ins (PREFIX, DESTDIR)"
	@echo "make clean        remove dist/ and .tmp/"

setup:
	@bash scripts/setup.sh

CHECK := set -x; $(DENO) check agent/main.ts && $(DENO) lint agent shared proxy && $(TSC) --noEmit -p tsconfig.json

check: setup
	@$(CHECK)

# The tests run even when check fails (CI then still reports counts); either failing fails make.
test: setup
	@status=0; \
	( $(CHECK) ) || status=$$?; \
	$(BUN) test --timeout 120000 || status=$$?; \
	if [ $$status -ne 0 ]; then echo "make test: failed (check or bun test; see above)" >&2; fi; \
	exit $$status

demo: setup
	@PORT=$(PORT) bash scripts/demo.sh

agent: setup
	ARCH=$(ARCH) bash scripts/build_agent.sh

proxy: setup
	@mkdir -p dist
	$(BUN) build --compile --minify-whitespace --outfile dist/vsb-proxy proxy/main.ts
	$(BUN) build --compile --minify-whitespace --outfile dist/vsb-consume proxy/consume.ts

# make bench-api REPLICAS=2: two proxies on one PostgreSQL (the load split over them) instead of one on SQLite.
REPLICAS ?=
bench-api: setup
	$(BUN) bench/api.ts $(if $(REPLICAS),--replicas $(REPLICAS))

bench-scale: setup
	$(BUN) bench/scale.ts

bench-proxy: setup
	$(BUN) bench/proxy.ts

bench-agent: setup
	$(BUN) bench/agent.ts

# Installs what `make agent proxy` built. Services are not enabled or started here.
install:
	@test -x dist/vsb-proxy || { echo "install: dist/vsb-proxy is missing: run make proxy (and make agent) first" >&2; exit 1; }
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SYSTEMDDIR) $(DESTDIR)$(SYSTEMDDIR)/rabbitmq-server.service.d \
	  $(DESTDIR)$(SYSCONFDIR)/vsb $(DESTDIR)$(SYSCONFDIR)/rabbitmq/conf.d $(DESTDIR)$(PREFIX)/share/doc/vsb
	install -m 755 dist/vsb-proxy dist/vsb-consume $(DESTDIR)$(PREFIX)/bin/
	@if [ -x dist/vsb-agent ]; then install -m 755 dist/vsb-agent $(DESTDIR)$(PREFIX)/bin/; \
	  else echo "install: dist/vsb-agent not built (make agent): skipped" >&2; fi
	for unit in vsb-proxy.service vsb-proxy@.service vsb-agent.service; do \
	  sed 's|/usr/local/|$(PREFIX)/|g' systemd/$$unit > $(DESTDIR)$(SYSTEMDDIR)/$$unit && chmod 644 $(DESTDIR)$(SYSTEMDDIR)/$$unit; \
	done
	install -m 644 systemd/rabbitmq-server.service.d/vsb.conf $(DESTDIR)$(SYSTEMDDIR)/rabbitmq-server.service.d/vsb.conf
	install -m 644 systemd/rabbitmq-vsb.conf $(DESTDIR)$(SYSCONFDIR)/rabbitmq/conf.d/90-vsb.conf
	install -m 644 README.md systemd/proxy.example.json systemd/agent.example.json systemd/proxy.env.example systemd/agent.env.example \
	  systemd/proxy-instance.env.example systemd/haproxy-vsb.cfg \
	  $(DESTDIR)$(PREFIX)/share/doc/vsb/
	@# The units read these files; an operator's own copies are never overwritten.
	@for prog in proxy agent; do \
	  if [ -e $(DESTDIR)$(SYSCONFDIR)/vsb/$$prog.json ]; then echo "install: $(SYSCONFDIR)/vsb/$$prog.json exists: kept"; \
	  else install -m 644 systemd/$$prog.example.json $(DESTDIR)$(SYSCONFDIR)/vsb/$$prog.json; fi; \
	  if [ -e $(DESTDIR)$(SYSCONFDIR)/vsb/$$prog.env ]; then echo "install: $(SYSCONFDIR)/vsb/$$prog.env exists: kept"; \
	  else install -m 600 systemd/$$prog.env.example $(DESTDIR)$(SYSCONFDIR)/vsb/$$prog.env; fi; \
	done
	@# The proxy's API tokens: made once with a random operator token, root-only, never overwritten.
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/vsb/api-tokens ]; then echo "install: $(SYSCONFDIR)/vsb/api-tokens exists: kept"; \
	  else umask 077; { echo "# vsb-proxy API tokens: ROLE:TOKEN NAME per line, ROLE sensor, consumer or operator."; \
	    echo "# Give every vehicle its own sensor token (its NAME owns its dataflows), e.g.:"; \
	    echo "# sensor:$$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n') car-1"; \
	    echo "operator:$$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n') operator"; } > $(DESTDIR)$(SYSCONFDIR)/vsb/api-tokens; \
	    echo "install: $(SYSCONFDIR)/vsb/api-tokens made with a new operator token"; fi
	@echo "installed under $(DESTDIR)$(PREFIX); edit $(SYSCONFDIR)/vsb/proxy.json (publicUrl, iceAddresses) and proxy.env, check with: vsb-proxy --check --config $(SYSCONFDIR)/vsb/proxy.json"
	@echo "then: systemctl daemon-reload && systemctl enable --now rabbitmq-server vsb-proxy"

clean:
	rm -rf dist .tmp
