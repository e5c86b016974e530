#!/usr/bin/env bash
# Build (once) the end-to-end control plane binaries from the Go module proxy and cache them.
#
#   etcd                      go.etcd.io/etcd/server/v3      (e2e/tools/etcd, our own main.go)
#   kube-apiserver,
#   kube-controller-manager,
#   kube-scheduler, kubectl   k8s.io/kubernetes              (e2e/tools/kube, staging replaces)
#   kwok                      sigs.k8s.io/kwok/cmd/kwok      (e2e/tools/kwok)
#
# The versions are pinned by the go.mod files under e2e/tools/. Binaries land in
# .cache/e2e/bin/<key>/ (ignored by git), <key> naming every pinned version, so only the first run
# pays for the build. Prints the binary folder on stdout (the last line); logs go to stderr.
# Env: SHOAL_E2E_BIN_DIR overrides the output folder; GO overrides the go binary.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/e2e/tools"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0

modver() { # modver FILE MODULE -> the version of MODULE required in FILE
    awk -v m="$2" '$1 == m && $2 ~ /^v/ {print $2; exit} $1 == "require" && $2 == m {print $3; exit}' "$1"
}

K8S_VERSION="$(modver "$TOOLS/kube/go.mod" k8s.io/kubernetes)"
ETCD_VERSION="$(modver "$TOOLS/etcd/go.mod" go.etcd.io/etcd/server/v3)"
KWOK_VERSION="$(modver "$TOOLS/kwok/go.mod" sigs.k8s.io/kwok)"
if [[ -z "$K8S_VERSION" || -z "$ETCD_VERSION" || -z "$KWOK_VERSION" ]]; then
    echo "e2e-tools: cannot read pinned versions from $TOOLS/*/go.mod" >&2
    exit 2
fi
GO_VERSION="$("$GO" env GOVERSION)"
KEY="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_${GO_VERSION}"
BIN="${SHOAL_E2E_BIN_DIR:-$ROOT/.cache/e2e/bin/$KEY}"
mkdir -p "$BIN"

log() { echo "e2e-tools: $*" >&2; }

# build NAME... : build the missing ones only; each lands atomically (tmp dir, then mv).
need() {
    local missing=()
    for name in "$@"; do [[ -x "$BIN/$name" ]] || missing+=("$name"); done
    echo "${missing[@]:-}"
}

build() { # build MODULE_DIR LDFLAGS PKG...
    local dir="$1" ldflags="$2"
    shift 2
    local tmp
    tmp="$(mktemp -d "$BIN/.build.XXXXXX")"
    local start=$SECONDS
    log "building $* (in $dir) ..."
    (cd "$dir" && "$GO" build -trimpath -ldflags "-s -w $ldflags" -o "$tmp/" "$@") >&2
    for f in "$tmp"/*; do mv -f "$f" "$BIN/"; done
    rmdir "$tmp"
    log "built $* in $((SECONDS - start)) s"
}

if [[ -n "$(need etcd)" ]]; then
    build "$TOOLS/etcd" \
        "-X go.etcd.io/etcd/api/v3/version.GitSHA=${ETCD_VERSION}-shoal-e2e" \
        ./cmd/etcd
fi

if [[ -n "$(need kwok)" ]]; then
    build "$TOOLS/kwok" \
        "-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${K8S_VERSION#v}" \
        sigs.k8s.io/kwok/cmd/kwok
fi

MAJOR="${K8S_VERSION#v}"
MAJOR="${MAJOR%%.*}"
MINOR="${K8S_VERSION#v*.}"
MINOR="${MINOR%%.*}"
KVER=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    KVER+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$MAJOR -X $pkg.gitMinor=$MINOR"
    KVER+=" -X $pkg.gitCommit=0000000000000000000000000000000000000000 -X $pkg.gitTreeState=clean"
    KVER+=" -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

missing="$(need kube-apiserver kube-controller-manager kube-scheduler kubectl)"
if [[ -n "$missing" ]]; then
    pkgs=()
    for name in $missing; do pkgs+=("k8s.io/kubernetes/cmd/$name"); done
    build "$TOOLS/kube" "$KVER" "${pkgs[@]}"
fi

for name in etcd kwok kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    [[ -x "$BIN/$name" ]] || { log "missing $BIN/$name after build"; exit 1; }
done
log "binaries ready in $BIN"
echo "$BIN"
