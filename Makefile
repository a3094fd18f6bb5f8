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

.PHONY: install system-data demo test readme-keys clean

$(BIN)/ecl: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_SPEC)
	$(BIN)/python -m pip install -q -e '.[test,export]'
	touch $@

install: $(BIN)/ecl

demo: install
	$(BIN)/ecl train

# Debian packages the tests use when present: the 70,000 Fashion-MNIST images (dataset
# fashion-mnist-lt) and Chromium (the report's browser test). Installed only as root with apt-get;
# otherwise the tests that need them skip and say how to get them.
DEBIAN_PACKAGES ?= dataset-fashion-mnist chromium
system-data:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian packages: $(DEBIAN_PACKAGES)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEBIAN_PACKAGES) >/dev/null) \
			|| echo "warning: apt-get could not install $(DEBIAN_PACKAGES); the tests that need them will skip"; \
	else \
		echo "not root or no apt-get: skipping $(DEBIAN_PACKAGES) (tests that need them will skip;" \
		     "as root: apt-get install $(DEBIAN_PACKAGES))"; \
	fi

test: install system-data
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

readme-keys: install  # regenerate README's table of configuration keys from ecl.config
	$(BIN)/python -c 'import re; from ecl.config import keys_markdown as k; p="README.md"; s=open(p).read(); \
	open(p, "w").write(re.sub(r"(<!-- config-keys:begin -->\n).*?(\n<!-- config-keys:end -->)", \
	lambda m: m.group(1) + k() + m.group(2), s, flags=re.S))'

clean:
	rm -rf $(VENV) runs
