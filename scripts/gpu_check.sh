#!/usr/bin/env bash
# GPU check in one call (issue 17, item 7) - DRAFT: never run on a GPU yet; the lead finishes it.
#
#   scripts/gpu_check.sh            # <= 5 min on one CUDA GPU; exits 0 with "skipped" without one
#
# Each figure is printed beside what it is compared to:
#   1. the CUDA tests (pytest tests that skip without CUDA, selected by name),
#   2. `semlink phy ber`: Sionna's BP on the GPU against the layered decoders on the CPU
#      (information Mb/s each, from the runs' wall time),
#   3. FAISS: exact search of 1M x 128 vectors on the GPU against the CPU (queries/s),
#   4. the bridge: torch <-> CuPy / FAISS on CUDA without host copies (data pointers compared),
#   5. a small `semlink run` with device = "cuda" whose rows equal the CPU run's within tolerance.
# The GPU extras (faiss-gpu, cupy) are installed here when a GPU is present and they are missing.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
OUT="${GPU_CHECK_OUT:-$(mktemp -d -t semlink-gpu-check-XXXXXX)}"
failed=0
step() { echo; echo "== $*"; }
check() { if "$@"; then echo "   ok"; else echo "   FAILED: $*"; failed=1; fi; }

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "gpu_check: no NVIDIA GPU here (nvidia-smi finds none): skipped"
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

step "1. CUDA tests"
check "$PY" -m pytest -q -x -m "not slow" -k "cuda or gpu" tests/

step "2. LDPC: Sionna BP on the GPU vs the layered decoders on the CPU (information Mb/s)"
ber_args=(--channel awgn --flat --modulation qpsk --code 1024,2048 --snr-db 0:3:1 --batch-size 2000
          --target-block-errors 100000 --max-iter 5 --seed 1)
for run in "sionna-bp cuda" "layered-bp cpu" "layered-nms cpu"; do
    set -- $run
    start=$(date +%s.%N)
    # --device is the lead's to add to `semlink phy ber` (the sweep's link on the named device).
    "$PY" -m semlink.cli phy ber --out "$OUT/ber-$1-$2" --decoder "$1" ${2:+--device $2} "${ber_args[@]}" >/dev/null \
        || { echo "   $1 on $2: FAILED"; failed=1; continue; }
    end=$(date +%s.%N)
    "$PY" - "$OUT/ber-$1-$2" "$start" "$end" "$1" "$2" <<'EOF'
import sys, pandas as pd
out, start, end, decoder, device = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
rows = pd.read_csv(f"{out}/results.csv")
bits = float((rows["num_blocks"] * 1024).sum()) if "num_blocks" in rows else float("nan")
print(f"   {decoder:12s} on {device:4s}: {bits / (end - start) / 1e6:8.2f} information Mb/s "
      f"(BLER at the sweep's SNRs: {', '.join(f'{b:.3g}' for b in rows.get('bler', []))})")
EOF
done

step "3. FAISS: exact search, 1M x 128 float32, 10k queries, k = 10: GPU vs CPU"
check "$PY" - <<'EOF'
import time, numpy as np, torch
from semlink.kb import KnowledgeBase
rng = np.random.default_rng(0)
items = torch.from_numpy(rng.standard_normal((1_000_000, 128), dtype=np.float32))
labels = torch.from_numpy(rng.integers(0, 100, 1_000_000))
queries = torch.from_numpy(rng.standard_normal((10_000, 128), dtype=np.float32))
found = {}
for device in ("cpu", "cuda"):
    kb = KnowledgeBase.build(items, labels, factory="Flat", device=device)
    q = queries.to("cuda") if device == "cuda" else queries
    kb.search(q[:100], k=10)
    tic = time.perf_counter()
    result = kb.search(q, k=10)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - tic
    found[device] = result
    print(f"   {device:4s}: {len(queries) / seconds:10.0f} queries/s")
same = (found["cpu"].ids.cpu() == found["cuda"].ids.cpu()).float().mean().item()
print(f"   same top-10 ids on GPU and CPU: {same:.4f} (ties may differ)")
assert same > 0.99
EOF

step "4. bridge: torch <-> CuPy / FAISS on CUDA without host copies"
check "$PY" - <<'EOF'
import torch
from semlink.bridge import as_faiss_input, data_ptr, shares_memory, to_torch
t = torch.arange(12.0, device="cuda").reshape(3, 4)
import cupy
c = cupy.from_dlpack(t)
back = to_torch(c)
print(f"   torch -> CuPy -> torch: same device memory: {shares_memory(t, back)} (ptr {data_ptr(t):#x} vs {data_ptr(back):#x})")
assert shares_memory(t, back) and back.device.type == "cuda"
f = as_faiss_input(t)
print(f"   torch -> FAISS input: {type(f).__name__} on {getattr(f, 'device', 'host')}, same memory: {shares_memory(t, f)}")
assert shares_memory(t, f)
EOF

step "5. semlink run on CUDA equals the CPU run (within tolerance)"
for device in cpu cuda; do
    cat > "$OUT/small_$device.toml" <<TOML
# A small kbsc_offline: 2000 training images, 400 test images, 2 epochs, two SNRs.
name = "gpu_check_$device"
seed = 42
device = "$device"
[data]
dataset = "fashion-mnist"
train_per_class = 200
test_per_class = 40
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
[[systems]]
type = "raw"
[train]
epochs = 2
[eval]
snr_db = [0, 10]
TOML
done
for device in cpu cuda; do
    start=$(date +%s)
    "$PY" -m semlink.cli run "$OUT/small_$device.toml" --out "$OUT/run-$device" --no-cache >/dev/null \
        || { echo "   semlink run on $device: FAILED"; failed=1; }
    echo "   $device: $(( $(date +%s) - start )) s"
done
check "$PY" - "$OUT" <<'EOF'
import sys, pandas as pd
out = sys.argv[1]
cpu, gpu = (pd.read_csv(f"{out}/run-{d}/results.csv") for d in ("cpu", "cuda"))
keys = ["system", "budget", "channel", "snr_db"]
merged = cpu.merge(gpu, on=[k for k in keys if k in cpu], suffixes=("_cpu", "_cuda"))
worst = (merged["top1_accuracy_cpu"] - merged["top1_accuracy_cuda"]).abs().max()
print(f"   {len(merged)} rows; largest top-1 difference CUDA vs CPU: {worst:.4f} (tolerance 0.02: "
      "different kernels and random streams on the two devices)")
assert worst <= 0.02
EOF

echo
if [ "$failed" -eq 0 ]; then echo "gpu_check: all checks passed (outputs in $OUT)"; else echo "gpu_check: FAILED (outputs in $OUT)"; fi
exit "$failed"
