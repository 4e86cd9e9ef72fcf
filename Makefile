# praxis: the two commands a fresh Debian machine needs are `make demo` and `make test`.
# Both install what they need themselves (Python's MCP SDK and ansible-core with pip;
# util-linux's `script` ships with Debian).

CARGO ?= cargo
PYTHON ?= python3
DEMO_DIR ?= /tmp/praxis-demo

.PHONY: demo test ci lint fmt-check clippy unit bench fuzz deps build release doc clean lab lab-down

# Runs praxis for real on the embedded defaults: build, `praxis init` into a temporary state
# directory, a scripted MCP session through the official Python SDK, then `praxis audit verify`.
demo: deps release
	rm -rf $(DEMO_DIR)
	@echo "== praxis init (state in $(DEMO_DIR)/state)"
	PRAXIS_STATE_DIR=$(DEMO_DIR)/state ./target/release/praxis init
	@echo "== a scripted MCP session (official Python SDK over stdio)"
	PRAXIS_STATE_DIR=$(DEMO_DIR)/state $(PYTHON) tests/support/mcp_client.py ./target/release/praxis --demo
	@echo "== praxis audit show"
	PRAXIS_STATE_DIR=$(DEMO_DIR)/state ./target/release/praxis audit show --tail 20
	@echo "== praxis audit verify"
	PRAXIS_STATE_DIR=$(DEMO_DIR)/state ./target/release/praxis audit verify
	@echo "== praxis doctor"
	PRAXIS_STATE_DIR=$(DEMO_DIR)/state ./target/release/praxis doctor

# Passes the tests: formatting, lints, and the whole test suite (unit, property, integration
# with a real MCP client, tidy).
test: deps fmt-check clippy unit

ci: test doc

deps:
	@$(PYTHON) -c 'import mcp' 2>/dev/null || $(PYTHON) -m pip install --quiet --disable-pip-version-check 'mcp>=1.20,<3'
	@command -v ansible-inventory >/dev/null || $(PYTHON) -m pip install --quiet --disable-pip-version-check 'ansible-core==2.19.14'
	@command -v script >/dev/null || (apt-get update -qq && apt-get install -y -qq bsdutils)
	@command -v /usr/sbin/sshd >/dev/null && command -v sudo >/dev/null && command -v /usr/sbin/nginx >/dev/null && command -v curl >/dev/null && command -v openssl >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server openssh-client sudo iproute2 nginx curl openssl ca-certificates)
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv)

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --locked --all-targets -- -D warnings

unit:
	$(CARGO) test --locked --lib --bins --tests

build:
	$(CARGO) build --locked

release:
	$(CARGO) build --locked --release

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --locked --no-deps

# A lab to try praxis against by hand (the tests start their own): 5 sshd hosts with nginx and
# the restricted `aiops` user, a Redfish emulator with TLS, terraform 1.0.3 with the null
# provider. Needs root. `make lab-down` stops it.
LAB_DIR ?= /run/praxis-lab
lab: deps
	bash tests/lab/lab-sshd.sh up -n 5 --nginx --dir $(LAB_DIR)/sshd
	PRAXIS_LAB_VENV=$(CURDIR)/target/lab-venv bash tests/lab/lab-redfish.sh up --tls --port 8000 --dir $(LAB_DIR)/redfish
	@echo "terraform: $$(bash tests/lab/lab-terraform.sh $(CURDIR)/target/lab-venv-tf $(LAB_DIR)/tf-plugins) (plugins in $(LAB_DIR)/tf-plugins)"
	@echo "ssh identity: $(LAB_DIR)/sshd/client/id_ed25519; hosts: $(LAB_DIR)/sshd/hosts.tsv; BMC CA: $(LAB_DIR)/redfish/ca.crt (admin / password)"

lab-down:
	-bash tests/lab/lab-redfish.sh down --dir $(LAB_DIR)/redfish
	-bash tests/lab/lab-sshd.sh down --purge --dir $(LAB_DIR)/sshd

# Writes docs/performance.md (release profile; takes a few minutes). fanout_bench starts a
# 20-host sshd lab (root, openssh-server; `make deps` installs it).
bench:
	$(CARGO) bench --locked --bench praxis_bench
	$(CARGO) bench --locked --bench fleet_bench
	$(CARGO) bench --locked --bench drift_bench
	$(CARGO) bench --locked --bench fanout_bench

# Runs every fuzz target for FUZZ_SECONDS each (libFuzzer via cargo-fuzz). Only a stable
# toolchain can be installed here, so RUSTC_BOOTSTRAP lets cargo-fuzz pass its -Z flags, and
# the sanitizer is off (ASan needs a nightly standard library).
FUZZ_SECONDS ?= 30
FUZZ_TARGETS = jsonrpc_line tool_arguments policy_compile audit_rows audit_args classify_command egress redfish host_output drift_imports
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install --locked cargo-fuzz
	cd fuzz && for target in $(FUZZ_TARGETS); do \
		RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run -O --sanitizer none $$target -- \
			-max_total_time=$(FUZZ_SECONDS) -max_len=65536 || exit 1; \
	done

clean:
	$(CARGO) clean
