# pam_mfa: developer entry points. GNU make; run `make help`.
#
# Everything here works without a TTY and without stdin (CI runs `.ci/run`, i.e. `make test`).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules --no-print-directory

CARGO ?= cargo
# --locked once Cargo.lock is committed: CI must build exactly what was reviewed.
LOCKED := $(if $(wildcard Cargo.lock),--locked)
# Test binaries run this many tests at once (the end-to-end tests start real processes).
TEST_THREADS ?= $(shell nproc 2>/dev/null || echo 2)
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
TEST_LOG := $(TARGET_DIR)/make-test.log

# Build: pkg-config and the libpam headers (pamsm links -lpam).
APT_BUILD := pkg-config libpam0g-dev
# Run and test: a private dbus-daemon and busctl, PAM driven in-process (pamtester under
# pam_wrapper), codes computed with oathtool; sshd/sudo/pexpect for the real-login tests.
APT_RUNTIME := dbus-daemon dbus-bin pamtester libpam-wrapper oathtool sqlite3 \
	libpam-google-authenticator python3-pexpect openssh-server openssh-client sudo \
	util-linux iproute2
# Only if Cargo.lock pulls them in: bindgen (libclang) and hidapi's libudev probe.
APT_EXTRA := $(if $(shell grep -s '^name = "clang-sys"$$' Cargo.lock),libclang-dev) \
	$(if $(shell grep -s '^name = "hidapi"$$' Cargo.lock),libudev-dev)
APT_PACKAGES := $(strip $(APT_BUILD) $(APT_RUNTIME) $(APT_EXTRA))

APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
	install -y -qq --no-install-recommends

.PHONY: help deps build demo test clean

help: ## Show the targets
	@echo "Usage: make TARGET   (on a fresh Debian 12 machine, as root)"
	@echo
	@awk 'BEGIN { FS = ":.*## " } /^[a-z][a-zA-Z_-]*:.*## / { printf "  %-8s %s\n", $$1, $$2 }' \
		$(MAKEFILE_LIST)
	@echo
	@echo "Variables: TEST_THREADS=$(TEST_THREADS)  CARGO=$(CARGO)"

deps: ## Install the apt packages needed to build and test (skipped when present)
	@command -v $(CARGO) >/dev/null || { \
		echo "make deps: '$(CARGO)' not found. Install Rust (https://rustup.rs) with the" \
			"rustfmt and clippy components, and put ~/.cargo/bin on PATH." >&2; exit 1; }
	@missing=""; \
	for p in $(APT_PACKAGES); do \
		[ "$$(dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null)" = "install ok installed" ] \
			|| missing="$$missing $$p"; \
	done; \
	[ -z "$$missing" ] && exit 0; \
	if [ "$$(id -u)" -ne 0 ]; then \
		echo "make deps: missing packages:$$missing; run 'make deps' as root." >&2; exit 1; \
	fi; \
	echo "==> apt-get install$$missing"; \
	log=$$(mktemp); trap 'rm -f "$$log"' EXIT; \
	apt-get update -qq >"$$log" 2>&1 || { cat "$$log" >&2; exit 1; }; \
	if ! $(APT_INSTALL) $$missing >>"$$log" 2>&1; then \
		echo "make deps: apt-get install failed once (known one-off dpkg glitch); retrying" >&2; \
		$(APT_INSTALL) $$missing >>"$$log" 2>&1 || { cat "$$log" >&2; exit 1; }; \
	fi

build: deps ## Build the workspace (debug) and the shipped module (release-small)
	$(CARGO) build --workspace $(LOCKED)
	$(CARGO) build -p pam_mfa --profile release-small $(LOCKED)
	@echo "==> PAM module to install: $(TARGET_DIR)/release-small/libpam_mfa.so"

demo: deps ## Enroll a TOTP token and log in through libpam (private bus, no system changes)
	$(CARGO) build --workspace $(LOCKED)
	bash scripts/demo.sh

test: deps ## fmt check, clippy -D warnings, build, then unit and end-to-end tests
	@$(CARGO) fmt --version >/dev/null 2>&1 || { \
		echo "make test: rustfmt missing: rustup component add rustfmt" >&2; exit 1; }
	@$(CARGO) clippy --version >/dev/null 2>&1 || { \
		echo "make test: clippy missing: rustup component add clippy" >&2; exit 1; }
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets $(LOCKED) -- -D warnings </dev/null
	$(CARGO) build --workspace $(LOCKED) </dev/null
	@mkdir -p $(TARGET_DIR)
	@echo "$(CARGO) test --workspace $(LOCKED) -- --test-threads=$(TEST_THREADS)"
	@set +e; \
	$(CARGO) test --workspace $(LOCKED) -- --test-threads=$(TEST_THREADS) </dev/null 2>&1 \
		| tee $(TEST_LOG); \
	rc=$${PIPESTATUS[0]}; \
	echo; echo "==> Test summary (full log: $(TEST_LOG))"; \
	awk '/^ +(Running|Doc-tests) / { \
			name = $$NF; gsub(/[()]/, "", name); sub(/.*\//, "", name); sub(/-[0-9a-f]+$$/, "", name); \
			what = ($$1 == "Doc-tests") ? "doc-tests" : $$2; \
		} \
		/^test result:/ { \
			printf "  %-40s %s\n", name " (" what ")", $$0; \
			for (i = 1; i < NF; i++) if ($$(i + 1) ~ /^(passed|failed|ignored);?$$/) { \
				k = $$(i + 1); sub(/;/, "", k); total[k] += $$i; } \
		} \
		END { printf "%s\nTOTAL: %d passed, %d failed, %d skipped\n", \
			(rc == 0 ? "==> all tests passed" : "==> cargo test FAILED (rc=" rc ")"), \
			total["passed"], total["failed"], total["ignored"] }' rc=$$rc $(TEST_LOG); \
	exit $$rc

clean: ## cargo clean (removes the shared target directory)
	$(CARGO) clean
