PY ?= python3

.PHONY: test audit bench smoke

test:
	$(PY) -m pytest -q

# dependency vulnerability scan (needs network access to the PyPI advisory data)
audit:
	$(PY) -m pip install -q pip-audit && $(PY) -m pip_audit --progress-spinner off

bench:
	$(PY) bench/throughput.py && $(PY) bench/http_bench.py && $(PY) bench/load.py && $(PY) bench/memory.py && $(PY) bench/accuracy.py

smoke:
	scripts/container-smoke.sh
