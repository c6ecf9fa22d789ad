#!/usr/bin/env bash
# Builds the real Kubernetes components (kube-apiserver, kube-controller-manager, kube-proxy,
# kubectl) and etcd from Go modules, for the end-to-end tests and benchmarks only.
# Output: $K8S_BIN_DIR (printed on the last line), keyed by versions + go.sum so reruns are free.
# See ../../README.md ("End-to-end tests") and ../shared/docs/real-control-plane.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
K8S=${K8S_VERSION:-v1.37.2}
STG=v0.${K8S#v1.}
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=${GOFLAGS:--p=2}

if [ ! -f go.sum ] || [ "${REGEN:-0}" = 1 ]; then
  # Generate the wrapper module from k8s.io/kubernetes' own go.mod: every k8s.io/* it requires
  # at v0.0.0 (its staging modules) is replaced by the published module of the same release.
  rm -f go.mod go.sum
  go mod init example.invalid/k8s-bins >/dev/null 2>&1
  KKMOD=$(go mod download -json "k8s.io/kubernetes@$K8S" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  for m in $(awk '/^\t+k8s\.io\/[a-z0-9-]+ v0\.0\.0$/ {print $1}' "$KKMOD"); do
    go mod edit -replace="$m=$m@$STG"
  done
  go mod edit -require="k8s.io/kubernetes@$K8S"
  for t in kube-apiserver kube-controller-manager kube-proxy kubectl; do
    go mod edit -tool="k8s.io/kubernetes/cmd/$t"
  done
  go mod edit -tool=go.etcd.io/etcd/server/v3
  go mod tidy
fi

key=$(cat go.mod go.sum | sha256sum | cut -c1-12)
out=${K8S_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/nodeport-proxy/k8s-$K8S-$key}
if [ -x "$out/kube-apiserver" ] && [ -x "$out/etcd" ] && [ -x "$out/kubectl" ] \
   && [ -x "$out/kube-proxy" ] && [ -x "$out/kube-controller-manager" ]; then
  echo "$out"; exit 0
fi
mkdir -p "$out.tmp"
MINOR=${K8S#v1.}; MINOR=${MINOR%%.*}
LDF="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDF="$LDF -X $pkg.gitVersion=$K8S -X $pkg.gitMajor=1 -X $pkg.gitMinor=$MINOR -X $pkg.gitTreeState=clean"
done
start=$(date +%s)
go build -trimpath -ldflags "$LDF" -o "$out.tmp/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kubectl >&2
go build -trimpath -ldflags "-s -w" -o "$out.tmp/etcd" go.etcd.io/etcd/server/v3 >&2
rm -rf "$out"; mv "$out.tmp" "$out"
echo "built in $(( $(date +%s) - start ))s; $(du -sh "$out" | cut -f1) binaries" >&2
echo "$out"
