# cgman: every target bootstraps its own virtualenv (.venv) from the system
# Python, installing python3/python3-venv with apt when they are missing.
# (editable_mode=compat: a plain .pth path entry; the default import hook
# costs ~10 ms on every interpreter start.)
# Targets that write the cgroup tree need root: sudo make run / sudo make test.

VENV    ?= .venv
CONFIG  ?= etc/cgman
CGMAN   := $(VENV)/bin/cgman
PY      := $(VENV)/bin/python

.PHONY: run test test-unit test-kernel test-vm test-vm-systemd bench docs compile clean-groups clean

$(VENV)/.installed: pyproject.toml
	@py=$$(command -v /usr/bin/python3 || command -v python3 || true); \
	if [ -z "$$py" ] || ! "$$py" -m venv --help >/dev/null 2>&1; then \
	    echo "== installing python3 and python3-venv (apt)"; \
	    apt-get update -qq && apt-get install -y -qq python3 python3-venv >/dev/null || exit 1; \
	    py=$$(command -v /usr/bin/python3 || command -v python3); \
	fi; \
	"$$py" -c 'import sys; sys.exit(sys.version_info < (3, 9))' || { echo "cgman needs Python >= 3.9"; exit 1; }; \
	rm -rf $(VENV); \
	if ! "$$py" -m venv $(VENV) >/dev/null 2>&1; then \
	    echo "== installing python3-venv (apt)"; \
	    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && rm -rf $(VENV) && "$$py" -m venv $(VENV) || exit 1; \
	fi; \
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[test]' \
	    --config-settings editable_mode=compat || exit 1
	@# pip's console-script wrappers import re (with enum: ~10 ms) to tidy argv[0];
	@# cgman exec starts in scripts and loops, so the scripts are replaced by plain ones.
	@for tool in cgman:cli cgmand:daemon; do \
	    printf '#!%s\nimport sys\nfrom cgmand.%s import entry\nsys.exit(entry())\n' \
	        "$(abspath $(PY))" "$${tool#*:}" > $(VENV)/bin/$${tool%%:*} || exit 1; \
	done
	@touch $@

# Byte-compile cgman (PYTHONDONTWRITEBYTECODE may be set): start-up matters.
compile: $(VENV)/.installed
	@PYTHONDONTWRITEBYTECODE= $(PY) -m compileall -q cgmand

# The main job: apply the shipped example configuration, then show its status.
# Under systemd the groups live below the delegated cgman-groups.service,
# installed here for this boot only (/run/systemd/system).
run: compile
	@[ "$$(id -u)" = 0 ] || { echo "make run changes the cgroup tree: run it as root (sudo make run)"; exit 77; }
	@if [ -d /run/systemd/system ]; then \
	    install -m 0644 systemd/cgman.slice systemd/cgman-groups.service /run/systemd/system/ && \
	    systemctl daemon-reload && systemctl start cgman-groups.service || exit 1; \
	fi
	$(CGMAN) --config-dir $(CONFIG) apply
	$(CGMAN) --config-dir $(CONFIG) status

# Remove the groups `make run` created (they must be empty; busy ones are kept).
clean-groups: $(VENV)/.installed
	@tmp=$$(mktemp -d) && $(CGMAN) --config-dir $$tmp apply; rc=$$?; rm -rf $$tmp; exit $$rc

# Unit tier (fake trees) and kernel tier (the real cgroup tree; needs root).
test: $(VENV)/.installed
	$(PY) -m pytest tests

test-unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit

test-kernel: $(VENV)/.installed
	$(PY) -m pytest tests/kernel

# Tier 3, in QEMU guests (tests/vm/vm.py; installs qemu-system-x86 and
# busybox-static, and fetches Debian's kernel once into ~/.cache/cgman):
# the kernel tier on a pure cgroup v2 kernel, and the systemd tests with
# systemd as PID 1 running cgman's own units.
VM := $(PY) tests/vm/vm.py
GUEST_PY := $(abspath $(PY))

# A hung test dumps its stack after 300 s; a hung guest is stopped after 900 s.
GUEST_PYTEST := $(GUEST_PY) -m pytest -p no:cacheprovider -o faulthandler_timeout=300

test-vm: compile
	CGMAN_REQUIRE_KERNEL=1 $(VM) run --timeout 900 --env CGMAN_REQUIRE_KERNEL -- \
	    $(GUEST_PYTEST) tests/kernel -m "not systemd"

# The guest boots with the project's three units. The copy of cgmand.service
# runs this checkout's venv (which may live below /tmp or /home: so without
# PrivateTmp= and ProtectHome=), and fills the guest's /etc/cgman from
# etc/cgman first ("+": outside the unit's read-only /etc).
VM_UNITS := build/vm-units
test-vm-systemd: compile
	@mkdir -p $(VM_UNITS) && sed -e 's|/usr/local/bin/|$(abspath $(VENV))/bin/|' \
	    -e '/^PrivateTmp=/d' -e '/^ProtectHome=/d' \
	    -e 's|^ExecStart=.*|ExecStartPre=+/bin/sh -c "test -d /etc/cgman \|\| cp -r $(abspath etc/cgman) /etc/cgman"\n&|' \
	    systemd/cgmand.service > $(VM_UNITS)/cgmand.service
	CGMAN_REQUIRE_KERNEL=1 $(VM) run --timeout 900 --systemd --env CGMAN_REQUIRE_KERNEL \
	    --unit systemd/cgman.slice --unit systemd/cgman-groups.service --unit $(VM_UNITS)/cgmand.service -- \
	    $(GUEST_PYTEST) tests/kernel -m systemd

# cgman against libcgroup's cgconfigparser, in the same run (installs cgroup-tools).
bench: compile
	@command -v cgconfigparser >/dev/null || { apt-get update -qq && apt-get install -y -qq cgroup-tools >/dev/null; }
	$(PY) bench/apply.py

# Regenerate the knob reference in docs/config.md from the knob table.
docs: $(VENV)/.installed
	$(PY) -m cgmand.docgen --write docs/config.md

clean:
	rm -rf $(VENV) .pytest_cache
