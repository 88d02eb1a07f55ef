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
# pam_wrapper), codes computed with oathtool; sshd/sudo/su/login, useradd (passwd) and
# busctl (systemd) for the real-login tests; a real SMTP server (aiosmtpd) and openssl
# (test certificates) for the email/SMS codes.
APT_RUNTIME := dbus-daemon dbus-bin pamtester libpam-wrapper oathtool sqlite3 \
	libpam-google-authenticator python3-pexpect openssh-server openssh-client sudo \
	util-linux iproute2 login passwd systemd python3-fido2 fido2-tools faketime \
	python3-aiosmtpd openssl
# Only if Cargo.lock pulls them in: bindgen (libclang) and hidapi's libudev probe.
APT_EXTRA := $(if $(shell grep -s '^name = "clang-sys"$$' Cargo.lock),libclang-dev) \
	$(if $(shell grep -s '^name = "hidapi"$$' Cargo.lock),libudev-dev)
APT_PACKAGES := $(strip $(APT_BUILD) $(APT_RUNTIME) $(APT_EXTRA))

APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
	install -y -qq --no-install-recommends

# make install / uninstall. Everything goes under $(DESTDIR)$(PREFIX), except the module,
# which goes where libpam looks for modules. Nothing under /etc is written.
PREFIX ?= /usr
DESTDIR ?=
# Cargo profile of mfad, mfactl and the page generator: release for real installs; debug
# reuses the build of `make test` (tests/tests/install.rs). The module is built release-small
# (optimised for size, stripped) unless PROFILE is something else than release.
PROFILE ?= release
MODULE_PROFILE ?= $(if $(filter release,$(PROFILE)),release-small,$(PROFILE))
# The shipped module is built as a cdylib alone: pam_mfa is also an rlib (for mfa-docs and
# the fuzz targets), and with both crate types rustc skips the whole-program LTO that keeps
# the module small (2.0 MB instead of 1.57 MB, measured). Other profiles: a plain build.
module_build = $(if $(filter release-small,$(1)),$(CARGO) rustc $(LOCKED) --profile release-small \
	-p pam_mfa --crate-type cdylib,$(CARGO) build $(LOCKED) $(call profile_flag,$(1)) -p pam_mfa)
# Debian: /usr/lib/<multiarch>/security (= /lib/... with merged /usr). Computed once, if used.
MULTIARCH = $(eval MULTIARCH := $$(shell dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null \
	|| gcc -print-multiarch 2>/dev/null))$(MULTIARCH)
PAMDIR ?= $(if $(MULTIARCH),/usr/lib/$(MULTIARCH)/security,/usr/lib/security)
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
DBUSPOLICYDIR ?= $(PREFIX)/share/dbus-1/system.d
DBUSSERVICEDIR ?= $(PREFIX)/share/dbus-1/system-services
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/vendor-completions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
PAMCONFIGDIR ?= $(PREFIX)/share/pam-configs
DOCDIR ?= $(PREFIX)/share/doc/pam_mfa
EXAMPLEDIR ?= $(DOCDIR)/examples
# A profile's cargo flag and output directory (cargo calls the dev profile's directory debug).
profile_flag = --profile $(if $(filter debug,$(1)),dev,$(1))
profile_dir = $(TARGET_DIR)/$(if $(filter dev,$(1)),debug,$(1))
# Generated for `make install`: man pages, completions, and the systemd unit and D-Bus
# activation file naming the installed mfad.
STAGE_DIR ?= $(TARGET_DIR)/install
EXAMPLES := contrib/mfad.toml $(sort $(wildcard contrib/pam.d/*.example)) \
	contrib/sshd_config.d/pam_mfa.conf
# What `make install` installs, as MODE SOURCE DESTINATION (without DESTDIR), besides one
# man page per mfactl subcommand (mfactl.1, mfactl-*.1).
INSTALL_FILES = \
	0644 $(call profile_dir,$(MODULE_PROFILE))/libpam_mfa.so $(PAMDIR)/pam_mfa.so \
	0755 $(call profile_dir,$(PROFILE))/mfad $(SBINDIR)/mfad \
	0755 $(call profile_dir,$(PROFILE))/mfactl $(BINDIR)/mfactl \
	0644 $(STAGE_DIR)/mfad.service $(SYSTEMDUNITDIR)/mfad.service \
	0644 contrib/dbus/org.pam_mfa.Mfad.conf $(DBUSPOLICYDIR)/org.pam_mfa.Mfad.conf \
	0644 $(STAGE_DIR)/org.pam_mfa.Mfad.service $(DBUSSERVICEDIR)/org.pam_mfa.Mfad.service \
	0644 $(STAGE_DIR)/man/man8/mfad.8 $(MANDIR)/man8/mfad.8 \
	0644 $(STAGE_DIR)/man/man8/pam_mfa.8 $(MANDIR)/man8/pam_mfa.8 \
	0644 $(STAGE_DIR)/completions/bash/mfactl $(BASHCOMPDIR)/mfactl \
	0644 $(STAGE_DIR)/completions/zsh/_mfactl $(ZSHCOMPDIR)/_mfactl \
	0644 $(STAGE_DIR)/completions/fish/mfactl.fish $(FISHCOMPDIR)/mfactl.fish \
	0644 contrib/pam-configs/mfa $(PAMCONFIGDIR)/mfa \
	$(foreach f,$(EXAMPLES),0644 $(f) $(EXAMPLEDIR)/$(notdir $(f)))

.PHONY: help deps build demo test install install-build uninstall clean

help: ## Show the targets
	@echo "Usage: make TARGET   (on a fresh Debian 12 machine, as root)"
	@echo
	@awk 'BEGIN { FS = ":.*## " } /^[a-z][a-zA-Z_-]*:.*## / { printf "  %-9s %s\n", $$1, $$2 }' \
		$(MAKEFILE_LIST)
	@echo
	@echo "Variables: TEST_THREADS=$(TEST_THREADS)  CARGO=$(CARGO)"
	@echo "  install: DESTDIR=$(DESTDIR)  PREFIX=$(PREFIX)  PAMDIR=$(PAMDIR)  PROFILE=$(PROFILE)"

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
	$(call module_build,release-small)
	@echo "==> PAM module to install: $(TARGET_DIR)/release-small/libpam_mfa.so"

demo: deps ## Enroll a TOTP token and log in through libpam (private bus, no system changes)
	$(CARGO) build --workspace $(LOCKED)
	bash scripts/demo.sh

test: deps ## fmt check, clippy -D warnings, build, unit and end-to-end tests, then fuzz-smoke
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
	@# Every fuzz target for a short while (after the tests: a crash fails `make test` too).
	$(MAKE) fuzz-smoke FUZZ_SECONDS=$(TEST_FUZZ_SECONDS)

# mfad, mfactl and mfa-docs (PROFILE), the module (MODULE_PROFILE), then the generated files
# of $(STAGE_DIR).
install-build:
	$(CARGO) build $(LOCKED) $(call profile_flag,$(PROFILE)) -p mfad -p mfactl -p mfa-docs </dev/null
	$(call module_build,$(MODULE_PROFILE)) </dev/null
	@rm -rf $(STAGE_DIR) && mkdir -p $(STAGE_DIR)
	$(call profile_dir,$(PROFILE))/mfa-docs $(STAGE_DIR) >/dev/null
	sed 's|^Exec=/usr/sbin/mfad$$|Exec=$(SBINDIR)/mfad|' contrib/dbus/org.pam_mfa.Mfad.service \
		>$(STAGE_DIR)/org.pam_mfa.Mfad.service
	sed 's|^ExecStart=/usr/sbin/mfad$$|ExecStart=$(SBINDIR)/mfad|' contrib/systemd/mfad.service \
		>$(STAGE_DIR)/mfad.service
	@grep -qx 'Exec=$(SBINDIR)/mfad' $(STAGE_DIR)/org.pam_mfa.Mfad.service \
		&& grep -qx 'ExecStart=$(SBINDIR)/mfad' $(STAGE_DIR)/mfad.service \
		|| { echo "make install: no Exec=/ExecStart=/usr/sbin/mfad line to rewrite" >&2; exit 1; }

install: install-build ## Build (release) and install into DESTDIR, PREFIX (default /usr), PAMDIR
	@set -- $(INSTALL_FILES); \
	for page in $(STAGE_DIR)/man/man1/*.1; do \
		set -- "$$@" 0644 "$$page" "$(MANDIR)/man1/$${page##*/}"; \
	done; \
	while [ $$# -gt 0 ]; do \
		echo "install -D -m $$1 $$2 $(DESTDIR)$$3"; \
		install -D -m "$$1" "$$2" "$(DESTDIR)$$3"; \
		shift 3; \
	done
	@echo
	@echo "==> Installed; nothing was enabled or started. Next steps, as root:"
	@echo "  systemctl daemon-reload && systemctl enable --now mfad"
	@echo "  mfactl whoami                  # answers once mfad is up"
	@echo "  mfactl enroll totp USER        # every account that logs in through the services"
	@echo "  pam-auth-update --enable mfa   # every service (common-auth); or edit /etc/pam.d/sshd"
	@echo "                                 # and /etc/pam.d/sudo: $(EXAMPLEDIR)/"
	@echo "WARNING: keep a root shell open until a login from a second, new session works."
	@echo "A broken PAM stack, or mfad not running, locks every user out, root included."
	@$(if $(filter /usr/share/dbus-1/system.d,$(DBUSPOLICYDIR)),:,\
		echo "Note: the system bus reads policies from /usr/share/dbus-1/system.d and"; \
		echo "/etc/dbus-1/system.d only, not $(DBUSPOLICYDIR) (see DBUSPOLICYDIR).")

uninstall: ## Remove what `make install` installed (give it the same variables)
	@echo "==> Disable pam_mfa first (pam-auth-update --disable mfa, or remove its lines from"
	@echo "    /etc/pam.d/*) and stop mfad (systemctl disable --now mfad): a PAM stack naming a"
	@echo "    missing pam_mfa.so refuses every login."
	@set -- $(INSTALL_FILES); \
	files=(); \
	while [ $$# -gt 0 ]; do files+=("$(DESTDIR)$$3"); shift 3; done; \
	files+=($(DESTDIR)$(MANDIR)/man1/mfactl.1 $(DESTDIR)$(MANDIR)/man1/mfactl-*.1); \
	for f in "$${files[@]}"; do \
		if [ -e "$$f" ] || [ -L "$$f" ]; then echo "rm -f $$f"; rm -f "$$f"; fi; \
	done; \
	for d in $(DESTDIR)$(EXAMPLEDIR) $(DESTDIR)$(DOCDIR); do \
		if [ -d "$$d" ] && [ -z "$$(ls -A "$$d")" ]; then echo "rmdir $$d"; rmdir "$$d"; fi; \
	done

.PHONY: bench
# Release mfad (as `make install` builds it), the shipped module (release-small) and the bench
# crate; then the side-by-side run (root, a few minutes; LEAK_CALLS=1000000 for a full
# million-call leak check) and the criterion benches of mfa-core's hot paths.
bench: deps ## Speed and footprint vs pam_google_authenticator (root; target/bench/results.json)
	$(CARGO) build $(LOCKED) --release -p mfad </dev/null
	$(call module_build,release-small) </dev/null
	$(CARGO) build $(LOCKED) --release -p mfa-bench </dev/null
	$(TARGET_DIR)/release/mfa-bench --target-dir $(TARGET_DIR) \
		$(if $(LEAK_CALLS),--leak-calls $(LEAK_CALLS)) </dev/null
	$(CARGO) bench $(LOCKED) -p mfa-core --bench hot_paths -- \
		--warm-up-time 1 --measurement-time 2 </dev/null

.PHONY: fuzz-smoke
# cargo-fuzz (libFuzzer) on the stable toolchain: `--sanitizer none` needs no -Z flag, so no
# nightly and no RUSTC_BOOTSTRAP; coverage instrumentation (sancov) works on stable. The fuzz
# crate is its own workspace (fuzz/Cargo.toml), built in fuzz/target. `make test` runs it last
# with TEST_FUZZ_SECONDS per target: on a fresh machine the cargo-fuzz install (~1.5 min) and
# the instrumented build (~6 min) come first. FUZZ_SECONDS per target; fails on the first
# crash (the input is kept in fuzz/artifacts/TARGET/).
FUZZ_TARGETS := module_args config codes otpauth_uri ssh_auth_info fido2 daemon_verify conversation
FUZZ_SECONDS ?= 15
TEST_FUZZ_SECONDS ?= 10
CARGO_FUZZ_VERSION := 0.13.2
fuzz-smoke: deps ## Build every fuzz target and run each for FUZZ_SECONDS (default 15)
	@cargo-fuzz --version 2>/dev/null | grep -qF "$(CARGO_FUZZ_VERSION)" \
		|| $(CARGO) install --locked --version $(CARGO_FUZZ_VERSION) cargo-fuzz </dev/null
	cd fuzz && $(CARGO) fuzz build --sanitizer none -O </dev/null
	@mkdir -p $(TARGET_DIR)
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/corpus/$$t; \
		log=$(abspath $(TARGET_DIR))/fuzz-$$t.log; \
		echo "==> fuzz $$t for $(FUZZ_SECONDS) s (log: $$log)"; \
		if ! (cd fuzz && $(CARGO) fuzz run --sanitizer none -O $$t corpus/$$t -- \
				-max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 </dev/null >"$$log" 2>&1); then \
			tail -n 60 "$$log" >&2; echo "make fuzz-smoke: $$t FAILED (input in fuzz/artifacts/$$t/)" >&2; \
			exit 1; \
		fi; \
		grep -E '^Done [0-9]+ runs' "$$log" | sed "s/^/   $$t: /"; \
	done

clean: ## cargo clean (removes the shared target directory)
	$(CARGO) clean
