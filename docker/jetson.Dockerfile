# yolopress on a Jetson Orin (JetPack 6, L4T r36.4): the l4t-jetpack image supplies CUDA 12.6, cuDNN and
# TensorRT 10.3; PyTorch for the Jetson's GPU comes from NVIDIA's Jetson wheel index (PyPI's aarch64 torch is
# CPU-only), installed system-wide so the venv that `make` creates keeps it.
#
#   docker build -f docker/jetson.Dockerfile -t yolopress:jetson .          # on the Jetson (arm64)
#   docker run --rm --runtime nvidia -v "$PWD/runs:/workspace/yolopress/runs" yolopress:jetson   # make deploy
#
# To only benchmark a model on a Jetson, no image is needed: `yolopress bundle` (docs/tensorrt.md).
# Not built or run by yolopress's CI (no Docker engine, no Jetson there): it is linted with hadolint in `make test`.
ARG L4T_IMAGE=nvcr.io/nvidia/l4t-jetpack:r36.4.0
FROM ${L4T_IMAGE}

ARG TORCH_INDEX=https://pypi.jetson-ai-lab.io/jp6/cu126
ARG TORCH_VERSION=2.8.0
ARG TORCHVISION_VERSION=0.23.0

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends make python3-pip python3-venv python3-libnvinfer libgl1 \
    && rm -rf /var/lib/apt/lists/*

RUN python3 -m pip install --no-cache-dir --index-url "${TORCH_INDEX}" \
    "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}"

ENV YOLO_OFFLINE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VENV_FLAGS=--system-site-packages \
    EXTRAS=cpu,openvino,dev,cuda

WORKDIR /workspace/yolopress
COPY pyproject.toml README.md Makefile ./
COPY yolopress ./yolopress
RUN make setup
COPY . .

CMD ["make", "deploy"]
