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

step "The pipeline" conveyor dag
step "First run: every stage executes" conveyor run
git add -A
git -c user.name=demo -c user.email=demo@example.com commit -qm "train the baseline"
step "Second run: nothing changed, nothing runs" conveyor run
rm -rf data models metrics.json
step "Outputs deleted: restored from the cache, not recomputed" conveyor run
sed -i.bak 's/^  C: 1.0$/  C: 0.1/' params.yaml && rm -f params.yaml.bak
step "A param changed: which stages are stale, and why" conveyor status
step "Only the stages that depend on it run again" conveyor run
step "What changed, as a table for the pull request" conveyor diff --md
git checkout -q -- params.yaml conveyor.lock
step "Back to the committed params: the old model comes back from the run cache" conveyor run
step "Every run is recorded" conveyor runs
step "Register the trained model (logged by src/train.py with the SDK)" \
  conveyor models register latest --name breast-cancer
step "Make it the champion" conveyor models promote breast-cancer 1 --to champion
step "Where it came from: version <- run <- stages <- data digests <- git commit" \
  conveyor models lineage breast-cancer/1

printf '\nThe demo project is in %s\n' "$work/breast-cancer"
