# One entry point: `make lab` opens the lab, `make test` runs every check.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The CPU build of torch, installed before anything else so no dependency pulls a CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: lab test install lint book clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

install: $(STAMP)

lab: $(STAMP)
	$(BIN)/labkit lab

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP) lint
	$(BIN)/python -m pytest

# The course website: student/instructor versions, notebooks executed at their defaults, HTML.
book: $(STAMP)
	$(BIN)/labkit course book --config course.toml --out _book

clean:
	rm -rf $(VENV) build *.egg-info
