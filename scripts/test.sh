#!/usr/bin/env bash
# Lint, then run the whole test suite against SQLite and against PostgreSQL.
# Extra arguments go to both pytest runs, e.g. scripts/test.sh -k accounts -x
# HERITAGE_TEST_WORKERS sets pytest-xdist's worker count (default 2).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN=.venv/bin
WORKERS="${HERITAGE_TEST_WORKERS:-2}"
[ -x "$BIN/pytest" ] || { echo "test.sh: $BIN/pytest missing: run 'make install'" >&2; exit 1; }

declare -A status=()
steps=(ruff sqlite postgresql)

echo "==> ruff check"
rc=0
"$BIN/ruff" check . || rc=$?
status[ruff]=$rc

for db in sqlite postgresql; do
    echo "==> pytest --db=$db"
    rc=0
    "$BIN/pytest" -n "$WORKERS" --db="$db" "$@" || rc=$?
    status[$db]=$rc
done

failed=0
summary=""
for step in "${steps[@]}"; do
    rc=${status[$step]}
    case $rc in
        0) word=passed ;;
        5) word="FAILED (no tests collected)" ;;
        *) word="FAILED (exit $rc)" ;;
    esac
    [ "$rc" -eq 0 ] || failed=1
    summary+="$step: $word; "
done
if [ "$failed" -eq 0 ]; then
    echo "==> test.sh: ALL PASSED (${summary%; })"
else
    echo "==> test.sh: FAILED (${summary%; })"
fi
exit "$failed"
