#!/usr/bin/env bash
# The GPU check in one call (issue 17, item 7): <= 5 min on one CUDA GPU.
#
#   scripts/gpu_check.sh                     # on a machine with an NVIDIA GPU
#   GPU_CHECK_ON_CPU=1 scripts/gpu_check.sh  # rehearsal without a GPU: every step on the CPU, small
#
# Each figure is printed beside what it is compared to:
#   1. the tests that run only where CUDA is present (devices, bridge, knowledge base),
#   2. `semlink phy ber`: Sionna's BP on the GPU against the layered decoders on the CPU
#      (information Mb/s each, from the sweeps' own per-point timings),
#   3. FAISS: exact search of 1M x 128 vectors on the GPU against the CPU (queries/s, same top-10),
#   4. the bridge: torch <-> CuPy and torch -> FAISS on CUDA without host copies (data pointers),
#   5. a small `semlink run` with device = "cuda" whose rows equal the CPU run's within tolerance.
# The GPU extras (faiss-gpu, cupy) are installed when a GPU is present and they are missing (as
# scripts/setup.sh does on a GPU machine).
# The rehearsal (GPU_CHECK_ON_CPU=1) runs the same steps with "cpu" wherever "cuda" stands, at small
# sizes and with NumPy in place of CuPy: it checks the script's flags, APIs and files on a machine
# without a GPU (tests/test_gpu_check.py runs it); its figures say nothing about a GPU.
# Exit status: 0 when every step passed (or no GPU and no rehearsal: skipped), 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
OUT="${GPU_CHECK_OUT:-$(mktemp -d -t semlink-gpu-check-XXXXXX)}"
mkdir -p "$OUT"
failed=0
step() { echo; echo "== $*"; }
check() { if "$@"; then echo "   ok"; else echo "   FAILED: $*"; failed=1; fi; }

if [ "${GPU_CHECK_ON_CPU:-0}" = "1" ]; then
    GPU=cpu
    ITEMS="${GPU_CHECK_ITEMS:-20000}"; QUERIES=500; BER_BATCH=200; BER_ITER=1; TEST_PER_CLASS=40
    echo "gpu_check: REHEARSAL on the CPU (GPU_CHECK_ON_CPU=1): plumbing only, no GPU figures"
else
    GPU=cuda
    ITEMS="${GPU_CHECK_ITEMS:-1000000}"; QUERIES=10000; BER_BATCH=2000; BER_ITER=5; TEST_PER_CLASS=200
    if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
        echo "gpu_check: no NVIDIA GPU here (nvidia-smi finds none): skipped (GPU_CHECK_ON_CPU=1 rehearses it)"
        exit 0
    fi
    if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
        echo "gpu_check: nvidia-smi sees a GPU but torch does not (driver / CUDA build mismatch?): skipped"
        nvidia-smi -L
        exit 0
    fi
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    "$PY" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)"

    step "0. GPU extras (faiss-gpu, cupy)"
    "$PY" -c "import faiss, sys; sys.exit(0 if hasattr(faiss, 'StandardGpuResources') else 1)" 2>/dev/null \
        || "$PY" -m pip install -q ".[gpu]" || echo "   could not install faiss-gpu (offline?)"
    "$PY" -c "import cupy" 2>/dev/null || "$PY" -m pip install -q cupy-cuda12x || echo "   could not install cupy"
fi
export GPU ITEMS QUERIES

step "1. the tests that need CUDA (they skip without it)"
check "$PY" -m pytest -q -p no:cacheprovider tests/test_devices.py tests/bridge tests/kb/test_kb_gpu.py

step "2. LDPC (1024, 2048) QPSK, flat AWGN: Sionna's BP on $GPU vs the layered decoders on the CPU"
for run in "sionna-bp $GPU" "layered-bp cpu" "layered-nms cpu"; do
    set -- $run
    folder="$OUT/ber-$1-$2"
    rm -rf "$folder"
    "$PY" -m semlink.cli phy ber --out "$folder" --decoder "$1" --device "$2" --channel awgn --flat \
        --modulation qpsk --code 1024,2048 --snr-db 0:3:1 --batch-size "$BER_BATCH" \
        --target-block-errors 100000000 --max-iter "$BER_ITER" --seed 1 >/dev/null 2>"$folder.log" \
        || { echo "   $1 on $2: FAILED ($(tail -1 "$folder.log"))"; failed=1; continue; }
    check "$PY" - "$folder" "$1" "$2" <<'EOF'
import sys, pandas as pd
folder, decoder, device = sys.argv[1:4]
rows, timings = pd.read_csv(f"{folder}/results.csv"), pd.read_csv(f"{folder}/timings.csv")
assert set(rows["device"]) == {device.split(":")[0]}, rows["device"]
bits = float((rows["n_blocks"] * 1024).sum())
print(f"   {decoder:12s} on {device:4s}: {bits / timings['seconds'].sum() / 1e6:8.2f} information Mb/s over "
      f"{int(rows['n_blocks'].sum())} blocks (BLER at 0..3 dB: {', '.join(f'{b:.3g}' for b in rows['bler'])})")
EOF
done

step "3. FAISS: exact search, $ITEMS x 128 float32, $QUERIES queries, k = 10: $GPU vs CPU"
check "$PY" - <<'EOF'
import os, time, numpy as np, torch
from semlink.kb import KnowledgeBase
gpu, n, nq = os.environ["GPU"], int(os.environ["ITEMS"]), int(os.environ["QUERIES"])
rng = np.random.default_rng(0)
items = torch.from_numpy(rng.standard_normal((n, 128), dtype=np.float32))
labels = torch.from_numpy(rng.integers(0, 100, n))
queries = torch.from_numpy(rng.standard_normal((nq, 128), dtype=np.float32))
found = {}
for name, device in (("cpu", "cpu"), ("gpu", gpu)):
    kb = KnowledgeBase.build(items, labels, factory="Flat", device=device)
    q = queries.to(device)
    kb.search(q[:100], k=10)  # warm-up
    tic = time.perf_counter()
    result = kb.search(q, k=10)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - tic
    found[name] = result
    assert result.ids.device.type == torch.device(device).type, result.ids.device
    print(f"   {device:4s}: {nq / seconds:10.0f} queries/s")
same = (found["cpu"].ids.cpu() == found["gpu"].ids.cpu()).float().mean().item()
print(f"   same top-10 ids on {gpu} and the CPU: {same:.4f} (ties may differ)")
assert same > 0.99
EOF

step "4. bridge: torch <-> CuPy and torch -> FAISS on $GPU without host copies"
check "$PY" - <<'EOF'
import os, torch
from semlink.bridge import as_faiss_input, data_ptr, shares_memory, to_numpy, to_torch
gpu = os.environ["GPU"]
t = torch.arange(12.0, device=gpu).reshape(3, 4)
if gpu.startswith("cuda"):
    import cupy
    other, name = cupy.from_dlpack(t), "CuPy"
else:
    other, name = to_numpy(t), "NumPy"  # the rehearsal: the same crossing on the host
back = to_torch(other)
print(f"   torch -> {name} -> torch: same memory: {shares_memory(t, back)} "
      f"(ptr {data_ptr(t):#x} vs {data_ptr(back):#x}), on {back.device}")
assert shares_memory(t, back) and back.device == t.device
f = as_faiss_input(t)
print(f"   torch -> FAISS input: {type(f).__name__} on {getattr(f, 'device', 'host')}, same memory: {shares_memory(t, f)}")
assert shares_memory(t, f)
EOF

step "5. a small semlink run on $GPU equals the CPU run (within tolerance)"
for side in reference other; do  # the reference on the CPU, the other on $GPU
    device=cpu; [ "$side" = other ] && device="$GPU"
    tag="run-$side"
    cat > "$OUT/$tag.toml" <<TOML
# A small kbsc_offline: 2000 training images, $TEST_PER_CLASS test images per class (half queries, half KB), 3 epochs, two SNRs.
name = "gpu_check_$device"
seed = 42
device = "$device"
[data]
dataset = "fashion-mnist"
train_per_class = 200
test_per_class = $TEST_PER_CLASS
[encoder]
spec = "efficientnet-lite0"
image_size = 64
[link]
csi = "ls"
interpolation = "lin"
[link.channel]
name = "tdl-a"
[link.ofdm]
[[systems]]
type = "kbsc"
name = "kbsc-k256"
channel_uses = 128
train = { recipe = "robust", epochs = 3, batch_size = 128 }
[[systems]]
type = "raw"
[train]
snr_db = [0, 10]
[eval]
snr_db = [0, 10]
TOML
    rm -rf "$OUT/$tag"
    start=$(date +%s)
    "$PY" -m semlink.cli run "$OUT/$tag.toml" --out "$OUT/$tag" --no-cache --progress none >/dev/null 2>"$OUT/$tag.log" \
        || { echo "   semlink run on $device: FAILED ($(tail -1 "$OUT/$tag.log"))"; failed=1; }
    echo "   $device: $(( $(date +%s) - start )) s"
done
check "$PY" - "$OUT" "$GPU" <<'EOF'
import sys, pandas as pd
out, gpu = sys.argv[1:3]
cpu, other = (pd.read_csv(f"{out}/run-{side}/results.csv") for side in ("reference", "other"))
keys = [k for k in ("system", "budget", "variant", "channel", "snr_db") if k in cpu]
merged = cpu.merge(other, on=keys, suffixes=("_cpu", "_gpu"))
assert len(merged) == len(cpu) == len(other) > 0, (len(merged), len(cpu), len(other))
# The two devices draw other random streams (channel, training batches), so a row may differ by
# chance: 4 standard deviations of the difference of two independent accuracies on n queries, plus
# 2 points for two codecs trained on other streams. The rehearsal (cpu twice) must match exactly.
p, n = merged["top1_accuracy_cpu"], merged["n_queries_cpu"]
tolerance = (4 * (2 * p * (1 - p) / n) ** 0.5 + 0.02) * (gpu != "cpu")
difference = (merged["top1_accuracy_cpu"] - merged["top1_accuracy_gpu"]).abs()
for (_, row), d, t in zip(merged.iterrows(), difference, tolerance):
    print(f"   {row['system']:10s} {row['snr_db']:>5}: cpu {row['top1_accuracy_cpu']:.3f}, {gpu} "
          f"{row['top1_accuracy_gpu']:.3f}, |difference| {d:.3f} (tolerance {t:.3f})")
assert (difference <= tolerance + 1e-12).all()
EOF

echo
if [ "$failed" -eq 0 ]; then echo "gpu_check: all checks passed (outputs in $OUT)"; else echo "gpu_check: FAILED (outputs in $OUT)"; fi
exit "$failed"
