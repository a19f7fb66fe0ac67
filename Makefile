# The two set-up commands are `make deploy` and `make test`: each (re)creates the local
# virtual environment when it is missing or older than pyproject.toml, then runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.yolopress-installed
CONFIG ?= configs/default.yaml
# cpu or gpu: which ONNX Runtime build (one of the two, never both). The Docker images take gpu and the tensorrt
# extra (desktop) or cpu and cuda (Jetson, where TensorRT comes from JetPack and PyPI has no aarch64
# onnxruntime-gpu), and create the venv with --system-site-packages so that it sees the image's TensorRT.
EXTRAS ?= cpu,openvino,dev
VENV_FLAGS ?=

# Never reach for the network at run time (weights, fonts, datasets, telemetry).
export YOLO_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup deploy test lint format bench evidence clean ship-teacher ship-student

$(STAMP): pyproject.toml
	@test -x $(BIN)/python && $(BIN)/python -c "import sys" 2>/dev/null || $(PYTHON) -m venv --clear $(VENV_FLAGS) $(VENV)
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	@touch $@

setup: $(STAMP)

deploy: $(STAMP)
	$(BIN)/yolopress deploy $(CONFIG)

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Benchmarks need a finished `make deploy` run; each prints a table and writes benchmarks/results/*.json.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_repeatability.py

lint: $(STAMP)
	$(BIN)/ruff check yolopress tests benchmarks
	$(BIN)/ruff format --check yolopress tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format yolopress tests benchmarks
	$(BIN)/ruff check --fix yolopress tests benchmarks

# Retrain the demo teacher from $(CONFIG) (no cache) and ship it in yolopress/assets: needed when the
# demo data or the default teacher config changes (tests/unit/test_shipped_teacher.py says so).
ship-teacher: $(STAMP)
	$(BIN)/yolopress teacher $(CONFIG) name=ship-teacher --no-cache --force teacher
	rm -rf yolopress/assets/stages/teacher-*
	key=$$($(BIN)/python -c "import json; print(json.load(open('runs/ship-teacher/teacher/stage.json'))['key'])") && \
	  cp -r runs/ship-teacher/teacher yolopress/assets/stages/teacher-$$key

# Pretrain the demo student's starting point (synthpre:yolo11n: YOLO11n on the generator's pretraining set,
# about 11 min on 2 CPU cores) and ship it in yolopress/assets/pretrained: needed only when that recipe changes.
ship-student: $(STAMP)
	$(BIN)/python -m yolopress.data.pretrain yolo11n yolopress/assets/pretrained/yolo11n-synthpre.pt

# The evidence study (benchmarks/evidence.py): every arm x seed of configs/evidence.yaml, resumable; hours.
evidence: $(STAMP)
	$(BIN)/python benchmarks/evidence.py

clean:
	rm -rf runs .pytest_cache .ruff_cache
