#!/usr/bin/env bash
# GPU verification of the latency check (run on a machine with an NVIDIA GPU):
# TensorFlow with its CUDA wheels, the credit sample's Keras model, batch sizes
# 1/64/1024, on the GPU and then on the CPU, plus the check itself end to end; then
# ONNX Runtime on its CUDA execution provider and PyTorch on CUDA tensors (the same
# MLP as ONNX, .pt2 and TorchScript), and the check on an ONNX candidate with device: gpu.
set -euo pipefail
python3 -m venv /tmp/gpu-venv
/tmp/gpu-venv/bin/pip install -q -e '.[tf]' 'tensorflow[and-cuda]>=2.16'
export TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=2 MLFLOW_TRACKING_URI=sqlite:////tmp/gpu-mlflow.db
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
/tmp/gpu-venv/bin/python -c "import tensorflow as tf; print(tf.config.list_physical_devices('GPU'))"
/tmp/gpu-venv/bin/python sample_models/credit/build.py --out /tmp/gpu-sample --no-register
for device in gpu cpu; do
  /tmp/gpu-venv/bin/python benchmarks/latency.py --device "$device" --runs 5 --artifacts /tmp/gpu-sample
done
cat > /tmp/gpu-sample/latency.yaml <<'YAML'
version: 1
model: {candidate: candidate_good.keras}
data: {eval: eval.parquet, target: default,
       features: [income, debt_ratio, age, credit_history_years, late_payments, loan_amount]}
checks:
  latency: {device: gpu, require_gpu: true, batch_sizes: [1, 64, 1024], thresholds: {p95_ms: {max: 50}}}
YAML
/tmp/gpu-venv/bin/validate run -c /tmp/gpu-sample/latency.yaml --json "${OUT:-/tmp}/gpu-latency.json"
/tmp/gpu-venv/bin/python -c "
import json, sys; c = json.load(open(sys.argv[1]))['checks'][0]
print(c['status'], c['message']); print(json.dumps(c['details']['device'], indent=1))
" "${OUT:-/tmp}/gpu-latency.json"

# ONNX Runtime's CUDA provider and a CUDA build of torch (the default Linux wheel).
/tmp/gpu-venv/bin/pip install -q onnxruntime-gpu onnx skl2onnx torch
/tmp/gpu-venv/bin/python -c "import onnxruntime as o, torch; print(o.get_available_providers(), torch.cuda.is_available())"
for device in gpu cpu; do
  /tmp/gpu-venv/bin/python benchmarks/latency.py --formats-only --device "$device"
done
/tmp/gpu-venv/bin/python - <<'PY'
import numpy as np
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.linear_model import LogisticRegression
import pandas as pd
features = ["income", "debt_ratio", "age", "credit_history_years", "late_payments", "loan_amount"]
frame = pd.read_parquet("/tmp/gpu-sample/eval.parquet")
model = LogisticRegression(max_iter=500).fit(frame[features], frame["default"])
graph = convert_sklearn(model, initial_types=[("input", FloatTensorType([None, 6]))],
                        options={LogisticRegression: {"zipmap": False}})
open("/tmp/gpu-sample/model.onnx", "wb").write(graph.SerializeToString())
PY
sed 's/candidate_good.keras/model.onnx/' /tmp/gpu-sample/latency.yaml > /tmp/gpu-sample/latency-onnx.yaml
/tmp/gpu-venv/bin/validate run -c /tmp/gpu-sample/latency-onnx.yaml --json "${OUT:-/tmp}/gpu-latency-onnx.json"
/tmp/gpu-venv/bin/python -c "
import json, sys; c = json.load(open(sys.argv[1]))['checks'][0]
print(c['status'], c['message']); print(json.dumps(c['details']['device']['models'], indent=1))
" "${OUT:-/tmp}/gpu-latency-onnx.json"
