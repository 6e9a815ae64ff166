#!/usr/bin/env bash
# The whole loop on the bundled example, in a scratch copy (the repository stays clean).
# Run it with `make demo`, which creates the virtualenv and puts `conveyor` on PATH.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
work="${DEMO_DIR:-$(mktemp -d -t conveyor-demo-XXXXXX)}"
mkdir -p "$work"
rm -rf "$work/breast-cancer"
cp -r "$here/breast-cancer" "$work/breast-cancer"
cd "$work/breast-cancer"

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; "${@:2}"; }

git init -q
git add -A
git -c user.name=demo -c user.email=demo@example.com commit -qm "example project"

step "The pipeline: validation stages run before the stages that read the data" conveyor dag
step "First run: every stage executes" conveyor run
git add -A
git -c user.name=demo -c user.email=demo@example.com commit -qm "train the baseline"
step "Second run: nothing changed, nothing runs" conveyor run
rm -rf data models metrics.json
step "Outputs deleted: restored from the cache, not recomputed" conveyor run
step "Quality gates, first time: no champion yet, so the comparison is skipped; promote it" \
  conveyor check --promote champion
sed -i.bak 's/^  C: 1.0$/  C: 0.3/' params.yaml && rm -f params.yaml.bak
step "A param changed: which stages are stale, and why" conveyor status
step "Only the stages that depend on it run again" conveyor run
step "What changed, as a table for the pull request" conveyor diff --md
step "The new candidate against the champion, on the same holdout, with statistics" \
  conveyor check --promote challenger
step "The pull-request report (markdown + plots; HTML with the images inlined)" \
  conveyor report -o report
conveyor report --format html -o report
sed -n '1,30p' report/report.md
ls report
cp data/prepared/test.csv incoming.csv
sed -i.bak '2s/^[a-z]*,/west,/; 3s/,[0-9.]*,/,-1.5,/' incoming.csv && rm -f incoming.csv.bak
step "New data that breaks the schema is caught, row by row" \
  conveyor validate incoming.csv --schema schemas/breast-cancer.yaml || true
step "A canary: 10% of users go to the challenger, each user always to the same version" \
  conveyor traffic set breast-cancer 1=90 2=10 --sticky X-Conveyor-Key
free_port() { python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port="$(free_port)"
hook_port="$(free_port)"
# Notifications go to a local webhook receiver that verifies each signature; the monitor
# loop inside `conveyor serve` checks an input-drift alert rule every 5 s.
export DEMO_HOOK_SECRET="demo-secret-$RANDOM" DEMO_HOOK_URL="http://127.0.0.1:$hook_port/conveyor"
cat >> conveyor.yaml <<'YAML'

notify:
  - webhook: {name: demo-hook, url_env: DEMO_HOOK_URL, secret_env: DEMO_HOOK_SECRET, allow_private: true}
monitor:
  interval: 5s
  alerts:
    - {name: input-drift, model: breast-cancer, when: drift, window: 1m, for: 10s, min_features: 5}
YAML
python "$here/receiver.py" "$hook_port" notifications.log &
receiver=$!
conveyor serve --port "$port" > serve.log 2>&1 &
server=$!
trap 'kill "$server" "$receiver" ${loader:-} 2>/dev/null || true' EXIT
step "The gateway (conveyor serve) answers real requests; which version answered whom" \
  python "$here/canary_requests.py" "http://127.0.0.1:$port" breast-cancer data/prepared/train.csv 200

# Progressive delivery, with real requests: load.py keeps ~300 requests/s coming while the
# rollout controller inside `conveyor serve` judges the canary against the stable version.
# Clients send rows like those the model was trained on (its reference data): the holdout's
# 143 rows sent round and round for minutes would be a distribution of their own, and the
# monitor would rightly call it drift.
load() { python "$here/load.py" "http://127.0.0.1:$port" breast-cancer "${1:-data/prepared/train.csv}" > load.log & loader=$!; }
loaded() { kill -TERM "$loader"; wait "$loader" || true; printf 'meanwhile, '; cat load.log; }
load
step "A canary of v2 under load: pre-traffic checks, then 20% -> 50% -> 100% of traffic, each step judged against v1" \
  conveyor deploy breast-cancer 2 --strategy canary --steps 20,50,100 --interval 20s --wait
loaded
step "A faulty version: it passes the pre-traffic checks, but fails ~30% of real requests" \
  python "$here/faulty_model.py" data/prepared/train.csv
conveyor models register latest --name breast-cancer
load
step "Deployed as a canary, it is rolled back at its first failing verdict" \
  conveyor deploy breast-cancer 3 --strategy canary --steps 20,50,100 --interval 20s --wait \
  || echo "conveyor deploy --wait exited $? (1: rolled back); v2 kept, or got back, all traffic"
loaded
step "Why: each metric's verdict with its evidence" conveyor rollout status breast-cancer
step "Every rollout of the model" conveyor rollout history breast-cancer

# Monitoring: the gateway profiles every request's inputs and predictions; the monitor loop
# compares the last minute with the reference data stored with the version.
python "$here/drifted.py" data/prepared/train.csv drifted.csv
load drifted.csv
# The gateway writes each minute's profile once the minute is over: 75 s of drifted traffic
# make sure the last whole minute is all drifted.
step "Drifted traffic for 75 s (a new scanner: every 'mean *' feature reads 40% higher); the alert it raised" \
  python "$here/wait_for.py" notifications.log alert.firing 240 75
step "What drifted in the last minute, feature by feature: test, effect, bar (report with plots in drift-report/)" \
  conveyor monitor drift breast-cancer --window 1m -o drift-report || true
loaded
step "The alert, kept in the store until the drift clears" conveyor monitor alerts
step "Every notification the webhook receiver got, each signature verified" cat notifications.log
kill "$server" "$receiver" && wait "$server" 2>/dev/null || true
step "The champion as a self-contained bundle: model, pinned requirements, serve.py, Dockerfile" \
  conveyor package breast-cancer@champion -o bundle
step "Every run, checks included" conveyor runs
step "Where the champion came from: version <- run <- stages <- data digests <- git commit" \
  conveyor models lineage breast-cancer/1
step "The registry: versions, aliases and their checks" conveyor models versions

printf '\nThe demo project is in %s\n' "$work/breast-cancer"
