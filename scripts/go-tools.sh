#!/usr/bin/env bash
# Pinned Go-built tools for the chart checks, into .tools/bin (ignored by git):
#   helm        - renders and lints charts/shoal (the tests run the real `helm template`)
#   kube-score  - lints the rendered manifests (stands in for kube-linter, see docs/install.md)
#   kustomize   - builds k8s/overlays (only when kubectl, which carries it, is missing)
# Each tool is rebuilt only when missing or at another version (a stamp file records it).
# Builds use the Go module proxy only. Run from anywhere; called by scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

HELM_VERSION=v3.19.5
# The Kubernetes minor helm's client libraries are built against (k8s.io/* v0.34 in helm 3.19):
# helm's own Makefile stamps it with -ldflags; without it `helm template` assumes Kubernetes 1.20.
HELM_K8S_MINOR=34
KUBE_SCORE_VERSION=v1.20.0

BIN="$PWD/.tools/bin"
mkdir -p "$BIN"

GO=${GO:-$(command -v go || true)}
if [ -z "$GO" ] && [ -x /usr/local/go/bin/go ]; then
  GO=/usr/local/go/bin/go
fi

# have NAME VERSION: true when .tools/bin/NAME exists and was built at VERSION.
have() {
  [ -x "$BIN/$1" ] && [ "$(cat "$BIN/.$1.version" 2>/dev/null)" = "$2" ]
}

# build NAME VERSION PACKAGE@VERSION [LDFLAGS]
build() {
  local name=$1 version=$2 pkg=$3 ldflags=${4:-}
  if have "$name" "$version"; then
    return 0
  fi
  if [ -z "$GO" ]; then
    echo "setup: please install Go 1.22 or newer (needed to build $name $version)" >&2
    exit 1
  fi
  echo "setup: building $name $version with go install (first time takes a few minutes)" >&2
  GOBIN="$BIN" GOFLAGS=-buildvcs=false "$GO" install -trimpath -ldflags "-s -w $ldflags" "$pkg"
  echo "$version" >"$BIN/.$name.version"
}

build helm "$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" \
  "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
   -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
   -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$HELM_K8S_MINOR \
   -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 \
   -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$HELM_K8S_MINOR"

build kube-score "$KUBE_SCORE_VERSION" "github.com/zegl/kube-score/cmd/kube-score@$KUBE_SCORE_VERSION" \
  "-X main.version=$KUBE_SCORE_VERSION"

# kustomize builds the k8s/ overlays in the tests; kubectl carries it, so only without kubectl.
KUSTOMIZE_VERSION=v5.5.0
if ! command -v kubectl >/dev/null 2>&1; then
  build kustomize "$KUSTOMIZE_VERSION" "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
fi
