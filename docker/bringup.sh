#!/usr/bin/env bash
# First contact with a GPU, inside NVIDIA's TensorRT-LLM release container: five stages, each a
# control for the ones after it. Every stage logs to WORKDIR/stageN.log; the first failing stage
# stops the run and prints the end of its log and what to report. Nothing here has been run on a
# GPU yet (docker/README.md).
#
#   docker/bringup.sh                      all stages, 0 to 4
#   docker/bringup.sh --dry-run            print every stage's commands, run nothing
#   docker/bringup.sh --from-stage 2       stages 2, 3, 4  (e.g. after a stage-1 failure)
#   docker/bringup.sh --only-stage 4       stage 4 alone
#   docker/bringup.sh --workdir DIR        logs and outputs (default /tmp/redrafter-bringup)
#
# Stages:
#   0 environment     nvidia-smi; tensorrt_llm, tensorrt, torch versions and CUDA; the plugin
#                     library ($TRTLLM_REDRAFTER_PLUGIN_LIB, else plugins/build/; built with CMake
#                     when missing)
#   1 stock control   STOCK TensorRT-LLM ReDrafter, none of our code on the engine path: a standard
#                     (Apple-architecture, full-vocabulary) drafter, the image's own converters,
#                     trtllm-build, examples/run.py. The converter sequence follows the image:
#                     redrafter/convert_checkpoint.py --help lists --base_model_checkpoint_dir
#                     (TensorRT-LLM >= 1.0, e.g. 1.2.1): models/core/llama/convert_checkpoint.py makes
#                     the base checkpoint first; it does not (<= 0.21, e.g. 0.20.0): --model_dir on
#                     the HF model. --dry-run shows both
#   2 greedy engine   trtllm-redrafter build, run --backend trtllm on one prompt, and the same
#                     prompt through the reference backend (greedy tokens compared)
#   3 sampling engine trtllm-redrafter build --sampling, run --backend trtllm at temperature > 0
#   4 plugins alone   tests/gpu/check_kernels.sh (kernels, no TensorRT); the five creators
#                     registered in the real TensorRT; tests/test_plugins_build.py with the
#                     image's TensorRT headers (IPluginV3 harness, LD_PRELOAD probe)
#
# Environment (defaults in brackets):
#   PYTHON [python3]   MODEL [smollm2-135m-instruct]   DTYPE [bfloat16]   DRAFTER [the shipped one]
#   PROMPT             MAX_NEW_TOKENS [32]   NUM_BEAMS [4]   DRAFT_LEN [4]   TEMPERATURE [0.7]
#   DRAFTER_SEED [0]   TRTLLM_EXAMPLES [/app/tensorrt_llm/examples]   TENSORRT_ROOT [/usr/local/tensorrt]
#   CUDA_ARCHS ["80;86;89;90"]   BRINGUP_STRICT [0; 1: stage 2 fails when engine and reference differ]
#
# Exit status: 0 all selected stages passed (or --dry-run), 1 a stage failed, 2 bad arguments,
# 3 tensorrt_llm cannot be imported (checked before any stage).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

PYTHON=${PYTHON:-python3}
MODEL=${MODEL:-smollm2-135m-instruct}
DTYPE=${DTYPE:-bfloat16}
DRAFTER=${DRAFTER:-}
PROMPT=${PROMPT:-"Explain speculative decoding in two sentences."}
MAX_NEW_TOKENS=${MAX_NEW_TOKENS:-32}
NUM_BEAMS=${NUM_BEAMS:-4}
DRAFT_LEN=${DRAFT_LEN:-4}
TEMPERATURE=${TEMPERATURE:-0.7}
DRAFTER_SEED=${DRAFTER_SEED:-0}
TRTLLM_EXAMPLES=${TRTLLM_EXAMPLES:-/app/tensorrt_llm/examples}
TENSORRT_ROOT=${TENSORRT_ROOT:-/usr/local/tensorrt}
CUDA_ARCHS=${CUDA_ARCHS:-"80;86;89;90"}
BRINGUP_STRICT=${BRINGUP_STRICT:-0}
PLUGIN_LIB=${TRTLLM_REDRAFTER_PLUGIN_LIB:-$REPO/plugins/build/libtrtllm_redrafter_plugins.so}
export TRTLLM_REDRAFTER_PLUGIN_LIB=$PLUGIN_LIB

NAMES=("environment" "stock TensorRT-LLM ReDrafter (control)" "our greedy engine" "our sampling engine"
  "plugins alone")
DRY_RUN=0
FROM_STAGE=""
ONLY_STAGE=""
WORKDIR=/tmp/redrafter-bringup
STOCK_ERA=""  # stage 1: 1.x or 0.2x (stock_era)
CMD_FILE=/dev/null  # the stage's current command, for "What to report"
declare -a RESULTS=() TIMES=()

# ---- Python one-liners: package functions only ----------------------------------------------
PY_VERSIONS='import tensorrt_llm, tensorrt, torch; print("tensorrt_llm", tensorrt_llm.__version__); print("tensorrt", tensorrt.__version__); print("torch", torch.__version__, "CUDA", torch.version.cuda); assert torch.cuda.is_available(), "torch sees no CUDA device"; print("device", torch.cuda.get_device_name(0), "sm_%d%d" % torch.cuda.get_device_capability(0))'
PY_PLUGIN_PATH='from trtllm_redrafter.ops.plugins import plugin_library_path; print("plugin library", plugin_library_path())'
PY_TRTLLM_VERSION='import tensorrt_llm; print(tensorrt_llm.__version__)'
PY_MODEL_DIR='import sys; from trtllm_redrafter.models import resolve_model; print(resolve_model(sys.argv[1]))'
# A standard drafter: Apple's architecture with its own full-vocabulary LM head (no
# lm_head_from_target, no reduced draft vocabulary), RNN in Apple's SiLU form, seeded weights.
PY_STANDARD_DRAFTER='import sys; from trtllm_redrafter.trtllm.hf_model import read_base_model; from trtllm_redrafter.runtime.drafter import DrafterConfig, init_drafter; s = read_base_model(sys.argv[1]); init_drafter(DrafterConfig(s.vocab_size, s.hidden_size, exit_dim=s.hidden_size), seed=int(sys.argv[3])).save(sys.argv[2]); print("standard drafter", s.vocab_size, "x", s.hidden_size, "in", sys.argv[2])'
# argv: engine.jsonl reference.jsonl strict; JSON lines only (tensorrt_llm prints a banner to stdout)
PY_COMPARE='import json, sys; e, r = ([json.loads(x) for x in open(f) if x.startswith("{")][0]["token_ids"] for f in sys.argv[1:3]); assert e, "the engine produced no tokens"; k = next((i for i, (a, b) in enumerate(zip(e, r)) if a != b), min(len(e), len(r))); print(f"engine {len(e)} tokens, reference {len(r)}: " + ("identical" if e == r else f"differ from token {k}")); sys.exit(1 if e != r and sys.argv[3] == "1" else 0)'
PY_TOKENS='import json, sys; n = len([json.loads(x) for x in open(sys.argv[1]) if x.startswith("{")][0]["token_ids"]); print(f"sampling engine: {n} tokens"); sys.exit(0 if n else 1)'
PY_REGISTER='import tensorrt; from trtllm_redrafter.ops import plugins as p; p.load_plugin_library(); names = [(p.PACK_BEAMS_PLUGIN, p.PLUGIN_VERSION), (p.GREEDY_ACCEPT_PLUGIN, p.GREEDY_ACCEPT_VERSION), (p.WARP_SOFTMAX_PLUGIN, p.PLUGIN_VERSION), (p.SAMPLING_ACCEPT_PLUGIN, p.PLUGIN_VERSION), (p.FUSED_SAMPLING_ACCEPT_PLUGIN, p.PLUGIN_VERSION)]; [p.plugin_creator(n, v) for n, v in names]; print("TensorRT", tensorrt.__version__, "namespace", p.PLUGIN_NAMESPACE, "registered:", ", ".join(f"{n} v{v}" for n, v in names))'

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

usage_error() {
  echo "bringup.sh: $1 (see --help)" >&2
  exit 2
}

parse_args() {
  while (($#)); do
    case $1 in
      --dry-run) DRY_RUN=1 ;;
      --from-stage | --only-stage | --workdir)
        (($# >= 2)) || usage_error "$1 needs a value"
        [[ -n $2 ]] || usage_error "$1 needs a non-empty value"
        case $1 in
          --workdir) WORKDIR=$2 ;;
          *)
            [[ $2 =~ ^[0-4]$ ]] || usage_error "$1 takes a stage number from 0 to 4, not '$2'"
            if [[ $1 == --from-stage ]]; then FROM_STAGE=$2; else ONLY_STAGE=$2; fi
            ;;
        esac
        shift
        ;;
      -h | --help)
        usage
        exit 0
        ;;
      *) usage_error "unknown argument '$1'" ;;
    esac
    shift
  done
  if [[ -n $FROM_STAGE && -n $ONLY_STAGE ]]; then
    usage_error "give --from-stage or --only-stage, not both"
  fi
}

# ---- command helpers: print in --dry-run, else record, log and run ------------------------------
quote() {  # the arguments as one line that a shell reads back as the same words
  local out="" arg q="'"
  for arg in "$@"; do
    if [[ $arg =~ ^[A-Za-z0-9_./:=,+@%-]+$ ]]; then
      out+=" $arg"
    else
      out+=" $q${arg//$q/$q\\$q$q}$q"
    fi
  done
  printf '%s' "${out# }"
}

announce() {  # one command line: on stdout in --dry-run; else into the stage log and the terminal
  if ((DRY_RUN)); then
    printf '    %s\n' "$1"
    return 0
  fi
  printf '%s\n' "$1" >"$CMD_FILE"
  printf '+ %s\n' "$1"
  if ((${#1} > 160)); then printf '    + %s ...\n' "${1:0:156}" >&3; else printf '    + %s\n' "$1" >&3; fi
}

step() {
  announce "$(quote "$@")"
  ((DRY_RUN)) || "$@"
}

capture() {  # capture FILE CMD...: CMD's stdout into FILE (and the log)
  local file=$1
  shift
  announce "$(quote "$@") > $(quote "$file")"
  ((DRY_RUN)) && return 0
  mkdir -p "$(dirname "$file")"
  "$@" >"$file"
  cat "$file"
}

captured() {  # the last line a capture wrote (a placeholder in --dry-run)
  if ((DRY_RUN)); then printf '<last line of %s>' "$1"; else tail -n 1 "$1"; fi
}

need_file() {  # need_file PATH WHY
  announce "test -f $(quote "$1")"
  ((DRY_RUN)) && return 0
  if [[ ! -f $1 ]]; then
    echo "missing: $1: $2"
    return 1
  fi
  echo "found: $1"
}

note() {  # a short result shown in the summary table
  ((DRY_RUN)) || printf '%s\n' "$1" >"$WORKDIR/stage$STAGE.note"
}

# ---- the stages ------------------------------------------------------------------------------
stage_0() {
  step nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader
  step "$PYTHON" -c "$PY_VERSIONS"
  if ((DRY_RUN)) || [[ ! -f $PLUGIN_LIB ]]; then
    if ((DRY_RUN)); then printf '    # only when %s is missing:\n' "$PLUGIN_LIB"; fi
    step cmake -S plugins -B plugins/build "-DCMAKE_CUDA_ARCHITECTURES=$CUDA_ARCHS" "-DTENSORRT_ROOT=$TENSORRT_ROOT"
    step cmake --build plugins/build -j "$(nproc)"
  fi
  need_file "$PLUGIN_LIB" "not built (the CMake log above says why); if TRTLLM_REDRAFTER_PLUGIN_LIB is set, it must name the built library"
  step "$PYTHON" -c "$PY_PLUGIN_PATH"
}

# ---- stage 1: stock TensorRT-LLM ReDrafter, two converter eras ----------------------------------
# Read in NVIDIA/TensorRT-LLM (none of it run against either image yet):
#   <= 0.21  examples/redrafter/convert_checkpoint.py @ 0e8b9484: --model_dir (the HF base, loaded with
#            transformers' LlamaForCausalLM, weights by tensorrt_llm.models.medusa.weight.convert_hf_llama)
#            --drafter_model_dir --output_dir --dtype --redrafter_num_beams --redrafter_draft_len_per_beam;
#            trtllm-build flags as examples/redrafter/README.md @ 2d234357 builds.
#   >= 1.0   examples/redrafter/convert_checkpoint.py @ 31a9cd42: --base_model_checkpoint_dir (a TRT-LLM
#            checkpoint: its config.json and rank{r}.safetensors are copied, the drafter's weights added
#            under drafter.) and the same other flags; examples/redrafter/README.md @ a35c38f3 makes that
#            checkpoint first with examples/models/core/llama/convert_checkpoint.py --model_dir
#            --output_dir --dtype (flags in convert_checkpoint.py @ fd96a08b) and builds with the same
#            trtllm-build flags.
#   both     greedy is the default: --redrafter_no_greedy_search is store_false into
#            redrafter_greedy_search (there is no --redrafter_greedy_search); stage 1 passes neither.
#            The drafter's config.json fields read: hidden_size, exit_dim, num_draft_layers, rnn.
#            run.py's --engine_dir, --tokenizer_dir, --max_output_len, --input_text: examples/run.py @ 05316d33.
# Tied LM head (SmolLM2-135M, tie_word_embeddings true): >= 1.0 handles it on the llama converter's
# default path, the unified converter (TRTLLM_DISABLE_UNIFIED_CONVERTER unset): LLaMAConfig takes
# tie_word_embeddings from the HF config (tensorrt_llm/models/llama/config.py @ 89fd9b74) and
# from_hugging_face then loads lm_head from model.embed_tokens (tensorrt_llm/models/llama/model.py
# @ 89fd9b74); the legacy path was not checked, so the step unsets that variable. <= 0.21: not checked
# at 0e8b9484's convert_hf_llama; a stage-1 failure there names the suspect (stage1_hint).
stage_1() {
  local out=$WORKDIR/stage1 hf redrafter=$TRTLLM_EXAMPLES/redrafter/convert_checkpoint.py
  local why="TensorRT-LLM's examples are not under TRTLLM_EXAMPLES=$TRTLLM_EXAMPLES; set TRTLLM_EXAMPLES to this image's examples/ (find / -path '*examples/redrafter/convert_checkpoint.py')"
  ((DRY_RUN)) || rm -f "$out/era.txt"
  need_file "$redrafter" "$why"
  need_file "$TRTLLM_EXAMPLES/run.py" "$why"
  # the era test: the converter's own --help (it imports tensorrt_llm; only announced in --dry-run)
  capture "$out/convert_help.txt" "$PYTHON" "$redrafter" --help
  capture "$out/tensorrt_llm_version.txt" "$PYTHON" -c "$PY_TRTLLM_VERSION"
  capture "$out/model_dir.txt" "$PYTHON" -c "$PY_MODEL_DIR" "$MODEL"
  hf=$(captured "$out/model_dir.txt")
  step "$PYTHON" -c "$PY_STANDARD_DRAFTER" "$hf" "$out/drafter" "$DRAFTER_SEED"
  if ((DRY_RUN)); then
    printf '    # converter sequence: chosen at run time from the --help above; both variants:\n'
    printf '    # (a) TensorRT-LLM >= 1.0 (e.g. 1.2.1): --help lists --base_model_checkpoint_dir\n'
    stock_convert_1x "$redrafter" "$hf" "$out"
    printf '    # (b) TensorRT-LLM <= 0.21 (e.g. 0.20.0): --help does not list it\n'
    stock_convert_020 "$redrafter" "$hf" "$out"
  else
    stock_era "$out"
    if [[ $STOCK_ERA == 1.x ]]; then
      stock_convert_1x "$redrafter" "$hf" "$out"
    else
      stock_convert_020 "$redrafter" "$hf" "$out"
    fi
  fi
  step trtllm-build --checkpoint_dir "$out/checkpoint" --output_dir "$out/engine" --gemm_plugin "$DTYPE" \
    --speculative_decoding_mode explicit_draft_tokens --max_batch_size 4
  step "$PYTHON" "$TRTLLM_EXAMPLES/run.py" --engine_dir "$out/engine" --tokenizer_dir "$hf" \
    --max_output_len "$MAX_NEW_TOKENS" --input_text "$PROMPT"
}

say() {  # one line into the stage log and onto the terminal (stdout alone in --dry-run)
  printf '%s\n' "$1"
  ((DRY_RUN)) || printf '    %s\n' "$1" >&3
}

stock_era() {  # stock_era OUT: STOCK_ERA=1.x or 0.2x from OUT/convert_help.txt; the version is the reason shown
  local version major by_version=""
  version=$(tail -n 1 "$1/tensorrt_llm_version.txt")
  major=${version%%.*}
  if [[ $major =~ ^[0-9]+$ ]]; then
    if ((major >= 1)); then by_version=1.x; else by_version=0.2x; fi
  fi
  if grep -q -- --base_model_checkpoint_dir "$1/convert_help.txt"; then
    STOCK_ERA=1.x
    say "stock converter: --help lists --base_model_checkpoint_dir, so the TensorRT-LLM >= 1.0 sequence (tensorrt_llm $version)"
    note "converter >= 1.0 (base checkpoint first), tensorrt_llm $version"
  else
    STOCK_ERA=0.2x
    say "stock converter: --help has no --base_model_checkpoint_dir, so the TensorRT-LLM <= 0.21 sequence (tensorrt_llm $version)"
    note "converter <= 0.21 (--model_dir), tensorrt_llm $version"
  fi
  if [[ -n $by_version && $by_version != "$STOCK_ERA" ]]; then
    say "warning: the version alone would say the other sequence; following the converter's --help"
  fi
  printf '%s\n%s\n' "$STOCK_ERA" "$version" >"$1/era.txt"
}

stock_convert_1x() {  # stock_convert_1x CONVERTER HF OUT: HF -> OUT/base_checkpoint -> OUT/checkpoint
  local llama=$TRTLLM_EXAMPLES/models/core/llama/convert_checkpoint.py
  need_file "$llama" "the TensorRT-LLM >= 1.0 sequence needs the Llama converter for the base checkpoint (examples/redrafter/README.md); find / -path '*llama/convert_checkpoint.py'"
  step env -u TRTLLM_DISABLE_UNIFIED_CONVERTER "$PYTHON" "$llama" --model_dir "$2" \
    --output_dir "$3/base_checkpoint" --dtype "$DTYPE"
  step "$PYTHON" "$1" --base_model_checkpoint_dir "$3/base_checkpoint" --drafter_model_dir "$3/drafter" \
    --output_dir "$3/checkpoint" --dtype "$DTYPE" --redrafter_num_beams "$NUM_BEAMS" \
    --redrafter_draft_len_per_beam "$DRAFT_LEN"
}

stock_convert_020() {  # stock_convert_020 CONVERTER HF OUT: HF -> OUT/checkpoint in one step
  step "$PYTHON" "$1" --model_dir "$2" --drafter_model_dir "$3/drafter" --output_dir "$3/checkpoint" \
    --dtype "$DTYPE" --redrafter_num_beams "$NUM_BEAMS" --redrafter_draft_len_per_beam "$DRAFT_LEN"
}

stage1_hint() {  # after a stage-1 failure: which sequence ran, and the suspect for it
  local era=$WORKDIR/stage1/era.txt
  [[ -f $era ]] || return 0
  if [[ $(head -n 1 "$era") == 1.x ]]; then
    echo "Stage 1 ran the TensorRT-LLM >= 1.0 sequence (tensorrt_llm $(tail -n 1 "$era")): models/core/llama/convert_checkpoint.py made $WORKDIR/stage1/base_checkpoint (upstream source loads a tied LM head from model.embed_tokens there), then redrafter/convert_checkpoint.py --base_model_checkpoint_dir added the drafter; the failed command below says which step broke."
  else
    echo "Stage 1 ran the TensorRT-LLM <= 0.21 sequence (tensorrt_llm $(tail -n 1 "$era")): redrafter/convert_checkpoint.py --model_dir converts the HF base itself. If MODEL ties its LM head to the embedding (SmolLM2-135M: tie_word_embeddings true) and the log ends in a KeyError for 'lm_head.weight', the tie is the likely cause: that era's Llama weight code is not known to handle it. Try a MODEL with its own lm_head, or the 1.2.1 image."
  fi
}

build_ours() {  # build_ours OUT [extra build flags]
  local out=$1
  shift
  step trtllm-redrafter build -o "$out" --model "$MODEL" --dtype "$DTYPE" ${DRAFTER:+--drafter "$DRAFTER"} \
    --num-beams "$NUM_BEAMS" --draft-len "$DRAFT_LEN" --max-batch-size 4 --max-input-len 512 \
    --max-seq-len 1024 --overwrite "$@"
}

stage_2() {
  local out=$WORKDIR/stage2
  build_ours "$out"
  capture "$out/engine.jsonl" trtllm-redrafter run --backend trtllm --engine "$out/engine" --json \
    --max-new-tokens "$MAX_NEW_TOKENS" "$PROMPT"
  capture "$out/reference.jsonl" trtllm-redrafter run --json --model "$MODEL" --dtype "$DTYPE" \
    ${DRAFTER:+--drafter "$DRAFTER"} --max-new-tokens "$MAX_NEW_TOKENS" "$PROMPT"
  capture "$out/compare.txt" "$PYTHON" -c "$PY_COMPARE" "$out/engine.jsonl" "$out/reference.jsonl" "$BRINGUP_STRICT"
  note "$(captured "$out/compare.txt")"
}

stage_3() {
  local out=$WORKDIR/stage3
  build_ours "$out" --sampling
  capture "$out/engine.jsonl" trtllm-redrafter run --backend trtllm --engine "$out/engine" --json \
    --temperature "$TEMPERATURE" --seed 0 --max-new-tokens "$MAX_NEW_TOKENS" "$PROMPT"
  capture "$out/tokens.txt" "$PYTHON" -c "$PY_TOKENS" "$out/engine.jsonl"
  note "$(captured "$out/tokens.txt")"
}

stage_4() {
  step env "PYTHON=$PYTHON" bash tests/gpu/check_kernels.sh --skip-timing
  step "$PYTHON" -c "$PY_REGISTER"
  need_file "$TENSORRT_ROOT/include/NvInfer.h" "set TENSORRT_ROOT to the directory whose include/ holds TensorRT's headers (find / -name NvInfer.h)"
  step env "REDRAFTER_TRT_INCLUDE_DIRS=$TENSORRT_ROOT/include" REDRAFTER_REQUIRE_NVCC=1 \
    "$PYTHON" -m pytest -q -rs tests/test_plugins_build.py
}

# ---- running, reporting ----------------------------------------------------------------------
require_trtllm() {
  local out
  if ! out=$("$PYTHON" -c 'import tensorrt_llm' 2>&1); then
    echo "bringup.sh: $PYTHON cannot import tensorrt_llm ($(tail -n 1 <<<"$out")); run this inside NVIDIA's TensorRT-LLM release container with --gpus all (docker/README.md)" >&2
    exit 3
  fi
}

# Never call run_stage (or anything that runs a stage) as a condition (if, !, &&, ||): bash then
# ignores set -e in everything it runs, subshells included, and a failing command would not stop its stage.
run_stage() {  # run_stage N: sets RESULTS[N]
  local n=$1 log=$WORKDIR/stage$1.log start=$SECONDS rc
  STAGE=$n
  CMD_FILE=$WORKDIR/stage$n.cmd
  : >"$CMD_FILE"
  rm -f "$WORKDIR/stage$n.note"
  printf '== stage %s: %s (log: %s)\n' "$n" "${NAMES[$n]}" "$log"
  set +e
  (
    set -euo pipefail
    "stage_$n"
  ) >"$log" 2>&1
  rc=$?
  set -e
  TIMES[n]=$((SECONDS - start))
  if ((rc == 0)); then
    RESULTS[n]=PASS
    printf 'PASS stage %s: %s (%s s)\n' "$n" "${NAMES[$n]}" "${TIMES[n]}"
  else
    RESULTS[n]="FAIL (exit $rc)"
  fi
}

report_failure() {
  local n=$1 log=$WORKDIR/stage$1.log version smi
  version=$("$PYTHON" -m pip show tensorrt_llm 2>/dev/null | sed -n 's/^Version: //p') || true
  smi=$(nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv,noheader 2>&1 | head -n 1) || true
  printf 'FAIL stage %s: %s\n' "$n" "${NAMES[$n]}"
  printf -- '---- last 40 lines of %s\n' "$log"
  tail -n 40 "$log"
  printf -- '----\n'
  if ((n == 1)); then
    stage1_hint
    echo "Stage 1 is stock TensorRT-LLM (none of our code builds or runs that engine); to go on with ours: docker/bringup.sh --from-stage 2"
  fi
  echo "What to report (paste this block and attach the log):"
  printf '  log:            %s\n' "$log"
  printf '  failed command: %s\n' "$(cat "$WORKDIR/stage$n.cmd")"
  printf '  tensorrt_llm:   %s (pip show tensorrt_llm)\n' "${version:-unknown}"
  printf '  nvidia-smi:     %s\n' "${smi:-unknown}"
  printf '  rerun:          docker/bringup.sh --only-stage %s --workdir %s\n' "$n" "$(quote "$WORKDIR")"
}

summary() {  # summary STAGES...: the table over all stages
  local n result extra
  echo
  echo "| stage | name | result | seconds | note |"
  echo "|---|---|---|---|---|"
  for n in 0 1 2 3 4; do
    result=${RESULTS[n]:-}
    if [[ -z $result ]]; then
      if [[ " $* " == *" $n "* ]]; then result="not run"; else result="skipped"; fi
    fi
    extra=""
    if [[ -f $WORKDIR/stage$n.note ]]; then extra=$(<"$WORKDIR/stage$n.note"); fi
    printf '| %s | %s | %s | %s | %s |\n' "$n" "${NAMES[$n]}" "$result" "${TIMES[n]:-}" "$extra"
  done
}

selected_stages() {
  if [[ -n $ONLY_STAGE ]]; then
    echo "$ONLY_STAGE"
  else
    seq "${FROM_STAGE:-0}" 4
  fi
}

main() {
  local stages n
  parse_args "$@"
  mapfile -t stages < <(selected_stages)
  exec 3>&1
  if ((DRY_RUN)); then
    for n in "${stages[@]}"; do
      STAGE=$n
      printf '== stage %s: %s (log: %s/stage%s.log)\n' "$n" "${NAMES[$n]}" "$WORKDIR" "$n"
      "stage_$n"
    done
    echo "dry run: nothing was run"
    return 0
  fi
  require_trtllm
  mkdir -p "$WORKDIR"
  for n in "${stages[@]}"; do
    run_stage "$n"
    if [[ ${RESULTS[n]} != PASS ]]; then
      report_failure "$n"
      summary "${stages[@]}"
      echo "RESULT: FAIL at stage $n"
      return 1
    fi
  done
  summary "${stages[@]}"
  echo "RESULT: PASS (stages ${stages[*]})"
}

main "$@"
