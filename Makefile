# Two commands on a fresh machine: `make run` starts the service, `make test` runs the checks.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Image storage of `make image` (buildah, vfs): large; `make image-clean` removes it.
IMAGE_STORE ?= /var/tmp/cobalt-cds-images

.PHONY: run test lint bench install lock image image-clean

$(BIN)/cds: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,postgres]'
	touch $(BIN)/cds

install: $(BIN)/cds

run: install
	$(BIN)/cds serve

test: install lint
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check cds tests bench
	$(BIN)/hadolint Dockerfile

bench: install
	$(BIN)/cds bench

# requirements.lock: the image's dependencies (runtime and postgres extra) pinned with hashes.
lock: install
	$(BIN)/uv pip compile pyproject.toml --extra postgres --generate-hashes --universal --python-version 3.11 \
		--no-strip-extras --quiet -o requirements.lock

# Build the image with buildah on Debian-made bases, then run it and call it (tests/image).
image: install
	IMAGE_STORE=$(IMAGE_STORE) deploy/image/build.sh
	IMAGE_STORE=$(IMAGE_STORE) $(BIN)/python -m pytest -m image tests/image

image-clean:
	rm -rf $(IMAGE_STORE)
