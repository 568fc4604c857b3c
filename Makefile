# One entry point: `make lab` opens the lab, `make test` runs every check.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The CPU build of torch, installed before anything else so no dependency pulls a CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: lab test install lint book clean fuzz js

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

# The book's JavaScript (the offline ipywidgets manager), pinned by js/package-lock.json.
JS_STAMP := js/node_modules/.installed
$(JS_STAMP): js/package.json js/package-lock.json
	npm ci --prefix js --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(JS_STAMP)

js: $(JS_STAMP)

install: $(STAMP) $(JS_STAMP)

lab: $(STAMP)
	$(BIN)/labkit lab

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP) $(JS_STAMP) lint
	$(BIN)/python -m pytest

# Property-based tests with many examples per entry point (make test runs a few of each).
FUZZ_EXAMPLES ?= 400
fuzz: $(STAMP)
	LABKIT_FUZZ=fuzz LABKIT_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/test_fuzz.py \
		-q -p no:cacheprovider --hypothesis-show-statistics -o faulthandler_timeout=600

# The course website: student/instructor versions, notebooks executed at their defaults, HTML.
book: $(STAMP) $(JS_STAMP)
	$(BIN)/labkit course book --config course.toml --out _book

clean:
	rm -rf $(VENV) build *.egg-info js/node_modules
