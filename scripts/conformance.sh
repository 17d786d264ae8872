#!/usr/bin/env bash
# Runs upstream Triton's own language tests (test_core.py at a pinned commit, unchanged) against
# this checkout and prints the classified report (passed / refused / wrong numbers / crash / ...).
# Not part of CI: the main selection takes 20 minutes or more on 2 cores.
#
#   bash scripts/conformance.sh                         # main selection (~3,200 ids)
#   bash scripts/conformance.sh test_shift_op           # all parametrisations of one function
#   bash scripts/conformance.sh 'test_shift_op[1-int8-uint8->>]'
#   bash scripts/conformance.sh test_dot -x             # extra arguments go to pytest
#
# The harness lives in the steering repo's shared/conformance (its README explains the categories
# and the two upstream files). This script sets everything up idempotently, inside .conformance/
# (git-ignored; nothing fetched from upstream is ever committed):
#   - .conformance/upstream/: test_core.py and _internal_testing.py, checked against pinned hashes.
#     test_core.py is assembled from saved pages (.conformance/upstream/pages, see the harness
#     README) or copied from TM_CONFORMANCE_UPSTREAM (a folder holding both files);
#     _internal_testing.py comes from the triton 3.9.0 wheel on PyPI (pip download) if missing.
#   - the Python: this checkout's .venv (scripts/venv.sh; rebuild it after Rust changes, or set
#     TM_CONFORMANCE_BUILD=1 to have this script run maturin first), plus torch, pytest-xdist and
#     pytest-timeout from a separate venv, TM_CONFORMANCE_VENV (default .conformance/venv; created
#     with a CPU-only torch if missing) added to PYTHONPATH. Several checkouts can share one.
# Environment: NPROC (xdist workers, default 2), TC_SELECT / TC_SELECT_FILE (see the harness),
# TM_CONFORMANCE_HARNESS (the harness folder, default ../shared/conformance or ../../shared/conformance).
# Results: .conformance/results/project-<tag>.{report.txt,json,log,xml}. Exit status as the
# harness: 0 no wrong numbers and no crashes, 1 some, 2 the run itself failed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

HARNESS=${TM_CONFORMANCE_HARNESS:-}
if [[ -z $HARNESS ]]; then
    for c in "$ROOT/../shared/conformance" "$ROOT/../../shared/conformance"; do
        [[ -f $c/run.sh ]] && { HARNESS=$(cd "$c" && pwd); break; }
    done
fi
[[ -n $HARNESS && -f $HARNESS/run.sh ]] || {
    echo "conformance harness not found: set TM_CONFORMANCE_HARNESS to the shared/conformance folder" >&2
    exit 2
}

UP=.conformance/upstream
mkdir -p "$UP" .conformance/results
if [[ ! -f $UP/test_core.py ]]; then
    if [[ -n ${TM_CONFORMANCE_UPSTREAM:-} && -f $TM_CONFORMANCE_UPSTREAM/test_core.py ]]; then
        cp "$TM_CONFORMANCE_UPSTREAM/test_core.py" "$UP/"
    elif [[ -d $UP/pages ]]; then
        python3 "$HARNESS/fetch_upstream.py" pages "$UP/pages" "$UP"
    else
        echo "no $UP/test_core.py: save its 19 pages in $UP/pages ($HARNESS/README.md, \"Fetch\")" >&2
        echo "or set TM_CONFORMANCE_UPSTREAM to a folder that holds test_core.py and _internal_testing.py" >&2
        exit 2
    fi
fi
if [[ ! -f $UP/_internal_testing.py ]]; then
    if [[ -n ${TM_CONFORMANCE_UPSTREAM:-} && -f $TM_CONFORMANCE_UPSTREAM/_internal_testing.py ]]; then
        cp "$TM_CONFORMANCE_UPSTREAM/_internal_testing.py" "$UP/"
    else
        python3 "$HARNESS/fetch_upstream.py" wheel "$UP"
    fi
fi
python3 "$HARNESS/fetch_upstream.py" check "$UP"

# This checkout's build of triton_metal.
if [[ ! -x .venv/bin/python ]]; then
    bash scripts/venv.sh pytest ml_dtypes
elif [[ ${TM_CONFORMANCE_BUILD:-0} == 1 ]]; then
    VIRTUAL_ENV="$ROOT/.venv" PATH="$ROOT/.venv/bin:$PATH" .venv/bin/maturin develop --release -q
fi

# torch (CPU only: PyPI's Linux wheel would pull ~5 GB of CUDA libraries, which nothing here uses),
# pytest-xdist and pytest-timeout, in their own venv.
TV=${TM_CONFORMANCE_VENV:-$ROOT/.conformance/venv}
if [[ ! -x $TV/bin/python ]] || ! "$TV/bin/python" -c "import torch, xdist, pytest_timeout" 2>/dev/null; then
    python3 -m venv "$TV"
    "$TV/bin/pip" install -q --no-deps torch
    "$TV/bin/pip" install -q filelock typing-extensions sympy networkx jinja2 fsspec mpmath markupsafe \
        pytest pytest-timeout pytest-xdist
fi
SITE=$("$TV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")

# The python run.sh is given: this checkout's .venv with the torch venv on its path.
PY=.conformance/python
cat > "$PY" <<EOF
#!/usr/bin/env bash
export PYTHONPATH="$SITE\${PYTHONPATH:+:\$PYTHONPATH}"
exec "$ROOT/.venv/bin/python" "\$@"
EOF
chmod +x "$PY"
"$PY" -c "import torch; torch.ones(2) + 1; import triton_metal" || {
    echo "$PY cannot import torch and triton_metal" >&2
    exit 2
}

exec bash "$HARNESS/run.sh" "$PY" "$UP" "$@"
