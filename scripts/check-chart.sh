#!/usr/bin/env bash
# Lint, render and validate the Helm chart offline, for every values scenario:
#   - `helm lint --strict` with each ci/*-values.yaml and the values-dev/values-prod overlays;
#   - `helm template --include-crds` of each, validated by `kubernetes-validate --strict`
#     against Kubernetes 1.29.0 (the chart's minimum) and the newest schemas it bundles;
#   - the task Job the operator would build from the chart's BKJOBS_TASK_TEMPLATE
#     (scripts/render-task-job.py), validated the same way.
# Custom resources (ServiceMonitor, KopfPeering) have no bundled schema: kubernetes-validate
# warns and passes them; the BookkeepingJob schema itself is tested by tests/unit/test_crd.py.
# Needs the venv's python and kubernetes-validate first on PATH (`make chart-check` does it).
set -euo pipefail
cd "$(dirname "$0")/.."

ROOT=$(pwd)
CHART="$ROOT/charts/bookkeeper-jobs"
HELM="$ROOT/.tools/helm"
MIN_VERSION=1.29.0
[ -x "$HELM" ] || scripts/install-tools.sh

NEWEST=$(python -c 'import kubernetes_validate; print(kubernetes_validate.latest_version())')
VERSIONS=("$MIN_VERSION" "$NEWEST")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

validate() {  # every document of $1 against every version, rejecting unknown fields
  local version
  for version in "${VERSIONS[@]}"; do
    if ! kubernetes-validate --strict --quiet -k "$version" "$1"; then
      echo "check-chart: $2 does not validate against Kubernetes $version" >&2
      return 1
    fi
  done
}

failed=0
for values in "$CHART"/ci/*-values.yaml "$CHART"/values-dev.yaml "$CHART"/values-prod.yaml; do
  scenario=${values#"$CHART"/}
  echo "check-chart: $scenario"
  if ! lint=$("$HELM" lint --strict "$CHART" -f "$values" 2>&1); then
    echo "$lint" >&2
    failed=1
    continue
  fi
  rendered="$out/rendered.yaml"
  if ! "$HELM" template bkjobs "$CHART" --namespace books --include-crds -f "$values" \
    >"$rendered" 2>"$out/stderr"; then
    cat "$out/stderr" >&2
    failed=1
    continue
  fi
  validate "$rendered" "helm template -f $scenario" || failed=1
  if python "$ROOT/scripts/render-task-job.py" <"$rendered" >"$out/task-job.yaml"; then
    validate "$out/task-job.yaml" "the task Job built with $scenario" || failed=1
  else
    echo "check-chart: cannot build the task Job with $scenario" >&2
    failed=1
  fi
done

if [ "$failed" -ne 0 ]; then
  echo "check-chart: FAILED" >&2
  exit 1
fi
echo "check-chart: ok (helm lint + template, kubernetes-validate --strict ${VERSIONS[*]})"
