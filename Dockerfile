# yolopress on a desktop or server NVIDIA GPU (x86_64): NVIDIA's TensorRT container supplies CUDA, cuDNN and
# TensorRT 10 with its Python bindings; yolopress goes into a virtual environment that sees them.
#
#   docker build -t yolopress .
#   docker run --rm --gpus all -v "$PWD/runs:/workspace/yolopress/runs" yolopress               # make deploy
#   docker run --rm --gpus all -v "$PWD/runs:/workspace/yolopress/runs" yolopress make test
#
# Not built or run by yolopress's CI (no Docker engine there): it is linted with hadolint in `make test`.
ARG TRT_IMAGE=nvcr.io/nvidia/tensorrt:24.12-py3
FROM ${TRT_IMAGE}

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends make python3-venv libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

# --system-site-packages: the venv that `make` creates sees the container's TensorRT; extras add cuda-python and
# onnxruntime-gpu (ONNX Runtime's CUDA provider, in place of the CPU package)
ENV YOLO_OFFLINE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VENV_FLAGS=--system-site-packages \
    EXTRAS=gpu,openvino,dev,tensorrt

WORKDIR /workspace/yolopress
COPY pyproject.toml README.md Makefile ./
COPY yolopress ./yolopress
RUN make setup
COPY . .

CMD ["make", "deploy"]
