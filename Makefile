# Two commands for a fresh machine:
#   make demo   installs ecl into .venv and runs `ecl train` (ECL on the embedded digits-lt data)
#   make test   installs ecl and its test tools into .venv and runs the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch/torchvision pinned to the releases this workplace keeps on disk (no multi-GB download);
# any torch >= 2.10 works: override with `make TORCH_SPEC="torch torchvision" ...`.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
PYTEST_ARGS ?=

.PHONY: install demo test bench clean

$(BIN)/ecl: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_SPEC)
	$(BIN)/python -m pip install -q -e '.[test,export]'
	touch $@

install: $(BIN)/ecl

demo: install
	$(BIN)/ecl train

test: install
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs
