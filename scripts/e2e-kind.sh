#!/usr/bin/env bash
# make e2e-kind: the end-to-end scenario on a real Kubernetes cluster (kind).
# Needs Docker and kind on PATH; it cannot run on machines without a Docker engine
# (such as this project's CI), where the same scenario runs against the emulated API server
# in tests/k8s/ instead. Uses the project's own helm and kubectl from .tools/.
set -euo pipefail
cd "$(dirname "$0")/.."
cluster=bkjobs-e2e
image=bookkeeper-jobs:e2e
helm=.tools/helm
kubectl=.tools/kubectl

command -v docker >/dev/null && docker info >/dev/null 2>&1 || { echo "e2e-kind: needs a running Docker engine" >&2; exit 2; }
command -v kind >/dev/null || { echo "e2e-kind: needs kind (https://kind.sigs.k8s.io)" >&2; exit 2; }

kind create cluster --name "$cluster" --wait 120s
trap 'kind delete cluster --name "$cluster"' EXIT
export KUBECONFIG="$PWD/.tools/kind-$cluster.kubeconfig"
kind get kubeconfig --name "$cluster" > "$KUBECONFIG"

docker build -t "$image" .
kind load docker-image "$image" --name "$cluster"
"$helm" install bkjobs charts/bookkeeper-jobs -f charts/bookkeeper-jobs/values-dev.yaml \
  --set image.repository=bookkeeper-jobs --set image.tag=e2e --wait --timeout 10m

# values-dev.yaml names no auth Secret, so the chart generated BKJOBS_SECRETS_KEY (48
# characters) into one Secret that the API, the operator and every task pod read.
key_chars=$("$kubectl" get secret bkjobs-bookkeeper-jobs-secrets-key \
  -o jsonpath='{.data.secrets-key}' | base64 -d | wc -c)
[ "$key_chars" -eq 48 ] || { echo "e2e-kind: no generated secrets key ($key_chars characters)" >&2; exit 1; }

# The Service exposes api.service.port (80 by default) and forwards it to the pod's named
# port "http" (api.containerPort, 8000): port-forward to the Service's port, read from the
# Service itself, never to the container port.
service=svc/bkjobs-bookkeeper-jobs-api
service_port=$("$kubectl" get "$service" -o jsonpath='{.spec.ports[?(@.name=="http")].port}')
"$kubectl" port-forward "$service" "18000:$service_port" >/dev/null &
forward=$!
trap 'kill $forward; kind delete cluster --name "$cluster"' EXIT
for _ in $(seq 60); do
  curl -fsS http://127.0.0.1:18000/readyz >/dev/null 2>&1 && break
  sleep 1
done
curl -fsS http://127.0.0.1:18000/readyz >/dev/null || { echo "e2e-kind: the API is not ready through the port-forward" >&2; exit 1; }

BKJOBS_E2E_URL=http://127.0.0.1:18000 BKJOBS_E2E_KEY=dev-key-0123456789abcdefghij \
BKJOBS_E2E_KUBECTL="$kubectl" .venv/bin/pytest -p no:cacheprovider tests/e2e/kind_scenario.py
