# kvmtune — `make demo` runs it on the bundled demo host, `make test` runs every test tier.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# What building libvirt-python and the test tiers need from Debian.
BUILD_PKGS := libvirt-dev pkg-config gcc tmux prometheus
PYTEST := $(PY) -m pytest -p no:cacheprovider

.PHONY: demo test test-fast lint setup bench screenshots lab-up lab-down scale-lab-up scale-lab-down clean

# The demo needs no hypervisor and no system packages: the package alone.
$(VENV)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

# Tests and live hosts add libvirt-python (built against libvirt-dev) and the test tools.
$(VENV)/.installed: $(VENV)/.base
	scripts/ensure-packages.sh $(BUILD_PKGS)
	$(PY) -m pip install -q -e '.[test,libvirt]'
	touch $@

setup: $(VENV)/.installed

demo: $(VENV)/.base
	$(VENV)/bin/kvmtune --demo

# ruff (style and bug patterns) and mypy (strict, the whole package).
lint: setup
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/mypy

# unit, libvirt (test driver) and ui tiers: no root, no daemon.
test-fast: setup
	$(PYTEST) -q -rs tests/unit tests/libvirt tests/ui

# Lint, then all four tiers. The lab tier brings up a real libvirtd + QEMU guests when it can (root on
# Debian); elsewhere its tests skip with one line saying why. Under CI (CI=true) a lab that
# cannot run or come up fails the run, and so does any skipped lab or libvirt test
# (tests/conftest.py); the lab is taken down after its tier whatever the result, so its guests'
# emulated CPUs are not taken from the other tiers.
test: setup
	@rc=0; \
	$(MAKE) --no-print-directory lint || { rc=1; echo "make test: lint failed (ruff or mypy, above): the run fails" >&2; }; \
	if why=$$(scripts/lab.sh can-run); then \
		scripts/lab.sh up || { rc=$$?; echo "make test: lab-up failed (exit $$rc, see the lab: lines above): the run fails" >&2; }; \
	elif [ "$${CI:-}" = true ]; then \
		echo "make test: CI=true and the lab tier cannot run: $$why" >&2; rc=1; \
	else \
		echo "$$why" >&2; \
	fi; \
	$(PYTEST) -q -rs tests/lab || rc=$$?; \
	if [ "$${CI:-}" = true ]; then scripts/lab.sh down || true; fi; \
	$(PYTEST) -q -rs tests/libvirt tests/ui tests/unit || rc=$$?; \
	exit $$rc

lab-up: setup
	scripts/lab.sh up

lab-down:
	scripts/lab.sh down

# The lab plus SCALE (default 50) BIOS-only guests, for bench/host_cost.py at scale.
SCALE ?= 50
scale-lab-up: setup
	scripts/lab.sh scale-up $(SCALE)

scale-lab-down:
	scripts/lab.sh scale-down

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

screenshots: setup
	$(PY) scripts/screenshots.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
