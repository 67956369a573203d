# The two commands of the README: `make dashboard` and `make test`. Both set everything up.
# TORCH_SPEC pins the CPU wheel that lies on the development machines' disk; on another
# machine, `make test TORCH_SPEC=torch` takes whatever torch suits it.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q
PORT ?= 8501

.PHONY: dashboard test install install-test lint model benchmark benchmark-real clean

dashboard: $(VENV)/.installed
	$(BIN)/streamlit run dashboard/app.py --server.port $(PORT) --browser.gatherUsageStats false

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install "$(TORCH_SPEC)"
	$(PIP) install -e ".[all]"
	touch $@

# axe-core (the WCAG checker the browser tests inject) comes from npm, into the venv's folder.
$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -e ".[all,test]"
	npm install --prefix $(VENV)/node axe-core@4 --no-audit --no-fund --silent
	touch $@

lint: $(VENV)/.installed-test
	$(BIN)/ruff check recovery_model dashboard tests

model: $(VENV)/.installed
	$(BIN)/recovery train

benchmark: $(VENV)/.installed-test
	$(BIN)/python -m benchmarks.run

# The real data sets live outside the repository (never committed): REAL_DATA=folder of CSVs.
REAL_DATA ?= ../shared/real-data
benchmark-real: $(VENV)/.installed-test
	$(BIN)/python -m benchmarks.real_data --data-dir $(REAL_DATA)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
