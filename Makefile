# s2mat: two commands do everything on a fresh machine.
#   make demo   install, then simulate a street, map it and score it
#   make test   install, then run the test suite
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
EXTRAS ?= ros,vlm,bench,dev
APT_PACKAGES := libusb-1.0-0 libgomp1
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml ros2_ws/src/s2mat_ros/setup.py Makefile | cksum | cut -d' ' -f1)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup demo test lint bench bench-vlm bench-ros bench-frontend bench-mapping bench-tracking bench-pipeline bench-sim clean

setup: $(STAMP)

$(STAMP):
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; fi
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	@$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[$(EXTRAS)]" -e ros2_ws/src/s2mat_ros
	@rm -f $(VENV)/.installed-*; touch $@

demo: setup
	$(VENV)/bin/s2mat demo

# The ROS 2 tests start DDS participants and node processes: they run in a pytest process of
# their own, apart from the ~180 other tests (torch, open3d and their thread pools).
test: setup
	$(PY) -m pytest -q --ignore=tests/ros
	$(PY) -m pytest -q tests/ros

lint: setup
	$(VENV)/bin/ruff check .

bench: bench-sim bench-frontend bench-mapping bench-tracking bench-pipeline bench-ros bench-vlm

bench-sim: setup
	$(PY) benchmarks/bench_sim.py

bench-mapping: setup
	$(PY) benchmarks/bench_mapping.py

bench-tracking: setup
	$(PY) benchmarks/bench_tracking.py

bench-pipeline: setup
	$(PY) benchmarks/bench_pipeline.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

bench-frontend: setup
	$(PY) benchmarks/bench_frontend.py

bench-ros: setup
	$(PY) benchmarks/bench_ros.py

bench-vlm: setup
	$(PY) benchmarks/bench_vlm.py
