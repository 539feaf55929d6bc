#!/usr/bin/env bash
# The test command behind `make test`: lint, then pytest. Usage: .ci/tests.sh VENV [pytest args]
set -uo pipefail
venv=${1:-.venv}; shift || true
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export MPLBACKEND=Agg

# The browser tests drive Debian's headless Chromium; install it when we may (root + apt).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
        >/tmp/saescope-chromium-install.log 2>&1 || echo "warning: chromium install failed; browser tests will skip"
fi

# The crash-consistency harness (tests/reliability) kills commands with strace; install it likewise.
if ! command -v strace >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace) \
        >/tmp/saescope-strace-install.log 2>&1 || echo "warning: strace install failed; crash tests will skip"
fi

# Interop tests run against the real delphi, sparsify and SAEDashboard code (tests/interop,
# skipped with a reason when absent). Their declared dependencies would replace torch and
# numpy (delphi pulls vllm), so they come without them: the modules their loaders import are
# in the test extra already (sae-lens brings simple-parsing and einops) or listed here.
"$venv/bin/python" -m pip install -q --no-deps eai-delphi==0.1.3 sae-dashboard==0.8.0 \
    eai-sparsify==1.3.3 >/tmp/saescope-interop-install.log 2>&1 \
    && "$venv/bin/python" -m pip install -q natsort schedulefree blobfile asyncer >>/tmp/saescope-interop-install.log 2>&1 \
    || echo "warning: delphi/sparsify/sae-dashboard install failed; their interop tests will skip"

"$venv/bin/ruff" check src tests benchmarks || exit 1
"$venv/bin/python" -m pytest -q -p no:cacheprovider --timeout 600 "$@"
rc=$?
# Exit code 5: no test was collected (an empty selection); not a failure of the code.
if [ "$rc" = 5 ]; then echo "no tests selected"; exit 0; fi
exit "$rc"
