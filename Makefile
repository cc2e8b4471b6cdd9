# Two commands for a new user: `make demo` and `make test`. Both set up what is missing first
# (tools/setup_env.py makes .venv/ and installs the stack; seconds when it is ready).
PYTHON ?= python3
VENV   ?= .venv
VPY    := $(VENV)/bin/python

.PHONY: setup wheelhouse demo test test-fast bench gpu-check complexity clean-demo

setup:
	@$(PYTHON) tools/setup_env.py --venv $(VENV)

# The frameworks' wheels (190 MB), fetched by the wheel's own `c3-setup --download`: the test of
# the README's install for wheel users installs from them (tests reach no package index).
# Fetched again when the recipe changes.
WHEELHOUSE := $(VENV)/wheelhouse
$(WHEELHOUSE)/.complete: c3_dense/stack.py | setup
	@$(VPY) -m c3_dense setup --download $(WHEELHOUSE) > $(VENV)/wheelhouse.log || \
		{ cat $(VENV)/wheelhouse.log; exit 1; }
	@touch $@
wheelhouse: setup $(WHEELHOUSE)/.complete

demo: setup
	@$(VPY) tools/demo.py

# Two test processes, a module each at a time (module fixtures are built once), the longest
# modules first (tests/conftest.py orders them; xdist would reorder by test count). Their OpenMP
# threads wait passively: two 2-thread processes on 2 cores then run as fast as two 1-thread
# ones, and a process left alone still uses both cores (spinning threads would halve both).
# A passed test's folders are removed at once (tests/conftest.py does the same for a module's
# fixtures): the suite writes gigabytes of checkpoints, more than a small CI disk holds at once.
TEST_WORKERS ?= 2
TEST_ENV := OMP_WAIT_POLICY=PASSIVE
PYTEST := $(TEST_ENV) $(VPY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder \
	-o tmp_path_retention_policy=failed -o tmp_path_retention_count=1
test: setup wheelhouse
	@$(PYTEST) --durations=15 tests

# The core, the export paths and one short end-to-end path per adapter (a few minutes);
# `make test` runs everything.
test-fast: setup
	@$(PYTEST) -m "not slow or adapter_path" tests

bench: setup
	@$(VPY) bench/bench_c3.py
	@$(VPY) bench/bench_block.py

gpu-check: setup
	@$(VPY) bench/gpu_check.py

complexity: setup
	@$(VPY) tools/complexity.py

clean-demo:
	rm -rf output/demo datasets/c3_demo
