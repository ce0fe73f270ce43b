#!/usr/bin/env bash
# Build a real Kubernetes control plane (kube-apiserver, kube-controller-manager,
# kube-scheduler) and etcd from their Go modules with the machine's Go toolchain,
# and install the binaries into a version-keyed cache directory outside the
# checkout (groundwork for issue 12: the cluster suites against a real API server).
#
# Nothing is downloaded except Go modules through the configured GOPROXY; no
# prebuilt Kubernetes or etcd binary is used.
#
# Usage:
#   scripts/build-control-plane.sh            # prints the bin directory as its last stdout line
#   BIN=$(scripts/build-control-plane.sh | tail -n 1)
#   nice -n 19 scripts/build-control-plane.sh # on a busy machine: let the build yield the CPU
#
# Environment:
#   K8S_VERSION       Kubernetes release to build (default below; needs a Go toolchain
#                     at least as new as the `go` line of k8s.io/kubernetes's go.mod)
#   ETCD_VERSION      etcd release (module go.etcd.io/etcd/server/v3)
#   BKJOBS_CACHE_DIR  cache root (default $HOME/.cache/bookkeeper-jobs)
#
# Layout:
#   ${BKJOBS_CACHE_DIR:-$HOME/.cache/bookkeeper-jobs}/control-plane/k8s-<k8s>-etcd-<etcd>/bin/
#       kube-apiserver kube-controller-manager kube-scheduler etcd
#
# A second run with the binaries present only checks that they exist and prints
# the path. Go's module cache and build cache stay in their default locations
# (`go env GOMODCACHE GOCACHE`), never in the checkout; the scratch Go modules
# used for the build live in a temporary directory that is removed on exit.
# See scripts/control-plane.md for versions, measurements and smoke-test flags.
set -euo pipefail

# Pinned versions. k8s v1.37.2 is the newest stable release on the module proxy
# when this was written; its go.mod says `go 1.26.0`. Its build/dependencies.yaml
# names etcd 3.7.0 as the tested etcd; v3.7.3 is the newest patch of that minor.
K8S_VERSION="${K8S_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.7.3}"

CACHE_ROOT="${BKJOBS_CACHE_DIR:-$HOME/.cache/bookkeeper-jobs}"
PREFIX="$CACHE_ROOT/control-plane/k8s-${K8S_VERSION#v}-etcd-${ETCD_VERSION#v}"
BIN_DIR="$PREFIX/bin"

K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler)
ALL_BINS=("${K8S_CMDS[@]}" etcd)

have_all() {
    local b
    for b in "${ALL_BINS[@]}"; do
        [[ -x "$BIN_DIR/$b" ]] || return 1
    done
}

# Fast path: everything already built for these versions.
if have_all; then
    echo "$BIN_DIR"
    exit 0
fi

# From here on, all chatter goes to stderr; stdout carries only the bin path.
exec 3>&1 1>&2

log() { printf '[build-control-plane] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v go >/dev/null || die "no 'go' on PATH (Go >= 1.26 is needed for k8s $K8S_VERSION)"

mkdir -p "$PREFIX"

# Serialise concurrent builds of the same version (e.g. a pytest session and a
# `make cluster-up` started together): the second one waits, then finds the
# binaries and returns.
if command -v flock >/dev/null; then
    exec 9>"$PREFIX/.lock"
    flock 9
    if have_all; then
        echo "$BIN_DIR" >&3
        exit 0
    fi
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/bkjobs-control-plane.XXXXXX")"
STAGE="$PREFIX/bin.partial.$$"
cleanup() { rm -rf "$WORK" "$STAGE"; }
trap cleanup EXIT

# Keep Go away from any go.work above the scratch directory, and let it resolve
# and record module requirements as it goes (the scratch go.mod starts with no
# go.sum). GOPROXY / GOSUMDB / GOMODCACHE / GOCACHE stay as the machine has them.
export GOWORK=off
export CGO_ENABLED=0
GO_BUILD=(go build -mod=mod -trimpath)

log "go: $(go version); GOPROXY=$(go env GOPROXY); GOMODCACHE=$(go env GOMODCACHE)"
log "building Kubernetes $K8S_VERSION and etcd $ETCD_VERSION into $BIN_DIR"
start=$SECONDS

# --- Kubernetes ---------------------------------------------------------------
# k8s.io/kubernetes cannot be required plainly: its go.mod requires each
# k8s.io/<staging> module at v0.0.0 and replaces it with ./staging/src/k8s.io/<staging>,
# and neither the replace lines (ignored outside the main module) nor the staging
# directories (nested modules are cut out of the module zip) come along. So the
# scratch module requires k8s.io/kubernetes and replaces every staging module by
# its published tag: k8s v1.X.Y <=> staging v0.X.Y.
STAGING_VERSION="v0.${K8S_VERSION#v1.}"

mkdir -p "$WORK/k8s" "$STAGE"
cd "$WORK/k8s"
K8S_MOD_JSON="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION")" \
    || die "cannot download k8s.io/kubernetes@$K8S_VERSION: $K8S_MOD_JSON"
# Read one string field of `go mod download -json` output from stdin.
json_field() { sed -nE "s/^[[:space:]]*\"$1\": \"(.*)\",?$/\1/p"; }
K8S_GOMOD="$(json_field GoMod <<<"$K8S_MOD_JSON")"
K8S_INFO="$(json_field Info <<<"$K8S_MOD_JSON")"
[[ -f "$K8S_GOMOD" ]] || die "no go.mod for k8s.io/kubernetes@$K8S_VERSION in the module cache"

# Staging modules: every `k8s.io/<name> => ./staging/...` replace, whether in a
# `replace (...)` block or on a single `replace` line.
mapfile -t STAGING < <(sed -nE \
    's#^[[:space:]]*(replace[[:space:]]+)?(k8s\.io/[^[:space:]]+)[[:space:]]+=>[[:space:]]+\./staging/.*#\2#p' \
    "$K8S_GOMOD")
((${#STAGING[@]} > 0)) || die "found no staging replace lines in $K8S_GOMOD"
# Any other local-path replace would need a source tree we do not have.
if grep -Eq '=>[[:space:]]+\.\.?/' <(grep -Ev '=>[[:space:]]+\./staging/' "$K8S_GOMOD"); then
    die "k8s.io/kubernetes@$K8S_VERSION has a non-staging local replace; extend this script"
fi

{
    echo "// Generated by scripts/build-control-plane.sh; scratch module, not part of the project."
    echo "module bookkeeper-jobs.invalid/control-plane-build"
    echo
    # Same language version and GODEBUG defaults as the Kubernetes build itself.
    grep -E '^(go|godebug)[[:space:]]' "$K8S_GOMOD"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    for m in "${STAGING[@]}"; do
        echo "	$m => $m $STAGING_VERSION"
    done
    echo ")"
} >go.mod
log "k8s scratch go.mod: ${#STAGING[@]} staging replace lines at $STAGING_VERSION"

# Version stamping as hack/lib/version.sh does it, so `--version` and /version
# report the real release (kubectl and helm check the server version). The build
# date is the release tag's time from the proxy, which keeps builds reproducible.
# The git commit is not known from a module zip and is left empty.
ver="${K8S_VERSION#v}"
major="${ver%%.*}"
minor="${ver#*.}"
minor="${minor%%.*}"
build_date="$(sed -nE 's/.*"Time":"([^"]+)".*/\1/p' "$K8S_INFO" 2>/dev/null || true)"
build_date="${build_date:-1970-01-01T00:00:00Z}"
K8S_LDFLAGS="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    K8S_LDFLAGS+=" -X '$pkg.gitVersion=$K8S_VERSION'"
    K8S_LDFLAGS+=" -X '$pkg.gitMajor=$major' -X '$pkg.gitMinor=$minor'"
    K8S_LDFLAGS+=" -X '$pkg.gitTreeState=clean' -X '$pkg.gitCommit='"
    K8S_LDFLAGS+=" -X '$pkg.buildDate=$build_date'"
done

# Build tags as the release build (hack/lib/golang.sh) uses for non-debug binaries.
K8S_TAGS="selinux,notest,grpcnotrace"

pkgs=()
for c in "${K8S_CMDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
# One `go build` for all three commands: they share almost the whole package graph.
log "go build ${K8S_CMDS[*]} (cold: about 6 min on 2 cores)"
"${GO_BUILD[@]}" -tags "$K8S_TAGS" -ldflags "$K8S_LDFLAGS" -o "$STAGE/" "${pkgs[@]}"
log "Kubernetes binaries built after $((SECONDS - start)) s"

# --- etcd ---------------------------------------------------------------------
# The etcd binary is the main package at the root of go.etcd.io/etcd/server/v3
# (server/main.go calls etcdmain.Main(os.Args)); etcd's own build does
# `cd server && go build`. Its go.mod replaces go.etcd.io/etcd/{api,client,pkg}
# with ../ paths, but requires the same tag of each, so a scratch module that
# requires the server module resolves them from the proxy unchanged.
mkdir -p "$WORK/etcd"
cd "$WORK/etcd"
ETCD_MOD_JSON="$(go mod download -json "go.etcd.io/etcd/server/v3@$ETCD_VERSION")" \
    || die "cannot download go.etcd.io/etcd/server/v3@$ETCD_VERSION: $ETCD_MOD_JSON"
ETCD_GOMOD="$(json_field GoMod <<<"$ETCD_MOD_JSON")"
[[ -f "$ETCD_GOMOD" ]] || die "no go.mod for go.etcd.io/etcd/server/v3@$ETCD_VERSION in the module cache"
{
    echo "// Generated by scripts/build-control-plane.sh; scratch module, not part of the project."
    echo "module bookkeeper-jobs.invalid/etcd-build"
    echo
    grep -E '^go[[:space:]]' "$ETCD_GOMOD"
    echo
    echo "require go.etcd.io/etcd/server/v3 $ETCD_VERSION"
} >go.mod
log "go build etcd"
"${GO_BUILD[@]}" -ldflags "-s -w" -o "$STAGE/etcd" go.etcd.io/etcd/server/v3

# --- install ------------------------------------------------------------------
# Check every binary runs before publishing the directory, then swap it in with
# one rename so an interrupted build never leaves a half-filled bin/.
for b in "${ALL_BINS[@]}"; do
    out="$("$STAGE/$b" --version 2>&1)" || die "$b --version failed: $out"
    log "$b: ${out%%$'\n'*}"
done
rm -rf "$BIN_DIR"
mv "$STAGE" "$BIN_DIR"
log "done in $((SECONDS - start)) s"
echo "$BIN_DIR" >&3
