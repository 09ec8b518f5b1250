#!/usr/bin/env bash
# Every suite once, side by side (they spend most of their time waiting on calls, outages
# and clocks, not computing); `make test` runs this after installing. Unit and integration
# tests on the embedded defaults (with coverage) and on the machine's PostgreSQL and Redis;
# end-to-end tests inside a private network namespace on the embedded defaults, and on a
# PostgreSQL, a redis-server and a coturn started inside that namespace.
# CI_SERIAL=1 runs them one after the other. Without a PostgreSQL on 127.0.0.1:5432 the
# PostgreSQL unit/integration job is left out, unless REQUIRE_POSTGRES is set (CI sets it).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTEST=(.venv/bin/python -m pytest -q -ra -p no:cacheprovider)
SECONDS=0
LOGS=$(mktemp -d)
trap 'rm -rf "$LOGS"' EXIT

# The suites spend most of their time waiting (calls, outages, clocks), not computing, so
# they run side by side; each writes its own log, printed whole when all are done.
# CI_SERIAL=1 runs them one after the other instead.
names=()
titles=()
job() {
  local name=$1 title=$2
  shift 2
  names+=("$name")
  titles+=("$title")
  (
    started=$SECONDS rc=0
    "$@" >"$LOGS/$name.log" 2>&1 || rc=$?
    echo "$rc $((SECONDS - started))" >"$LOGS/$name.rc"
  ) &
  if [ -n "${CI_SERIAL:-}" ]; then wait; fi
}

job lint "lint, formatting and types" make lint
job audit "dependency audit" make audit
job unit-embedded "unit and integration tests on the embedded defaults (SQLite, embedded Redis)" \
  env -u DATABASE_URL -u REDIS_URL COVERAGE_FILE="$LOGS/coverage" "${PYTEST[@]}" --cov=telehealth \
  --cov-report=term:skip-covered tests/unit tests/integration
if pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1 || [ -n "${REQUIRE_POSTGRES:-}" ]; then
  job unit-postgres "unit and integration tests on PostgreSQL and the machine's Redis" \
    env DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \
    REDIS_URL=redis://127.0.0.1:6379/15 "${PYTEST[@]}" tests/unit tests/integration
else
  echo "no PostgreSQL on 127.0.0.1:5432: the PostgreSQL unit/integration job is left out"
fi
# The end-to-end jobs start once the others are done: their timing tests (two web processes
# sharing a call, a flood next door) failed when four suites shared the two cores.
wait
# The two page crawls (axe on every page state; every page state in French) see the same
# pages on either backend: each runs once, one per e2e job, so the jobs take about as long.
job e2e-embedded "end-to-end tests on the embedded defaults (SQLite, embedded Redis), with coturn" \
  env -u DATABASE_URL -u REDIS_URL E2E_BACKEND=embedded \
  .venv/bin/python tests/netns.py "${PYTEST[@]}" -m "not quiet" tests/e2e \
  --ignore=tests/e2e/test_accessibility_browser.py
job e2e-postgres "end-to-end tests on PostgreSQL and redis-server in the namespace, with coturn" \
  env -u DATABASE_URL -u REDIS_URL E2E_BACKEND=postgres \
  .venv/bin/python tests/netns.py "${PYTEST[@]}" -m "not quiet" tests/e2e \
  --ignore=tests/e2e/test_french_pages_browser.py
wait
# Tests that measure latency or liveness (a flood next door, two processes sharing a call)
# get the machine to themselves, one backend after the other: beside two browser suites
# they measured the neighbours' video encoding, not the server.
for backend in embedded postgres; do
  job "quiet-$backend" "end-to-end timing tests alone, on the $backend backend" \
    env -u DATABASE_URL -u REDIS_URL E2E_BACKEND=$backend \
    .venv/bin/python tests/netns.py "${PYTEST[@]}" -m quiet tests/e2e
  wait
done

failed=0
for i in "${!names[@]}"; do
  name=${names[$i]}
  echo "== ${titles[$i]}"
  cat "$LOGS/$name.log"
  read -r rc took <"$LOGS/$name.rc"
  echo "   ($name: ${took} s, exit code $rc)"
  # pytest's 5 means "no tests collected"; that must not pass silently either.
  if [ "$rc" -eq 5 ]; then echo "no tests were collected"; fi
  if [ "$rc" -ne 0 ]; then failed=1; fi
done
total=$(COVERAGE_FILE="$LOGS/coverage" .venv/bin/coverage report --format=total 2>/dev/null || echo "?")
echo "coverage of telehealth/ by the unit and integration tests: $total %"
echo "== CI took $((SECONDS / 60)) min $((SECONDS % 60)) s"
exit "$failed"
