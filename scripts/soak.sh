#!/usr/bin/env bash
# The full-size reliability run: what CI runs short, at full length.
#
#   scripts/soak.sh            # everything (about 10 minutes on 2 cores)
#   scripts/soak.sh --quick    # only the slow tests, without the 60 s load scripts
#
# 1. The tests marked `slow` with KNWALK_SOAK=1: racing split/deploy (150/100 rounds,
#    25 rounds of real `knwalk split` processes), kill -9 during writes (4 cycles,
#    8 writers), 50 API clients for 60 s, wrk on the gateway for 60 s, 1500 idle
#    connections against a cap of 400 and 2000 against a lowered file limit, 12
#    concurrent `sandbox up` on one state dir, a Deployment of 3000 replicas filled
#    while the API answers, all 28 gcloud flag sets through the real gcloud, and the
#    hypothesis tests with 1500 (API) / 800 (CLI) examples each,
#    on fresh seeds.
# 2. scripts/load_api.py (a namespace per client, then one shared namespace) and
#    scripts/load_gateway.py, 60 s each,
#    whose figures go to docs/benchmarks.md ("Reliability: load").
#
# Everything binds 127.0.0.1 and runs in temporary directories. Every step is bounded:
# the tests by their own sizes and deadlines, each step here by `timeout`.
# Exit status: 0 when every step passed.
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
LOG_DIR=${LOG_DIR:-$(mktemp -d -t knwalk-soak-XXXXXX)}
mkdir -p "$LOG_DIR"
status=0

step() {
    local name=$1 limit=$2
    shift 2
    echo "== $name (at most ${limit}s; log: $LOG_DIR/$name.log)"
    local start=$SECONDS
    if timeout --kill-after=30 "$limit" "$@" >"$LOG_DIR/$name.log" 2>&1; then
        echo "   ok in $((SECONDS - start))s"
    else
        echo "   FAILED (exit $?) after $((SECONDS - start))s; last lines:"
        tail -n 25 "$LOG_DIR/$name.log" | sed 's/^/   | /'
        status=1
    fi
}

echo "knwalk soak run, $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
KNWALK_SOAK=1 step slow-tests 2400 "$PY" -m pytest -q -n 0 -m slow -p no:cacheprovider -s \
    tests/test_reliability_race.py tests/test_reliability_durability.py \
    tests/test_reliability_load.py tests/test_hostile_connections.py \
    tests/test_sandbox_lifecycle.py tests/test_hostile_api_input.py
KNWALK_SOAK=1 step hypothesis 1800 "$PY" -m pytest -q -n 0 -p no:cacheprovider \
    tests/test_hostile_api.py tests/test_hostile_cli.py
if [ "${1:-}" != "--quick" ]; then
    step load-api 300 "$PY" scripts/load_api.py --clients 50 --duration 60
    step load-api-shared 300 "$PY" scripts/load_api.py --clients 50 --duration 60 --shared-namespace
    step load-gateway 300 "$PY" scripts/load_gateway.py --duration 60 --window 10
    grep -h -A9 "clients (\|requests in" "$LOG_DIR"/load-*.log
fi
echo "load average $(cut -d' ' -f1-3 /proc/loadavg); logs in $LOG_DIR"
[ $status -eq 0 ] && echo "SOAK OK" || echo "SOAK FAILED"
exit $status
