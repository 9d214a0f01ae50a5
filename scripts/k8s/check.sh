#!/usr/bin/env bash
# Renders kustomize overlays in deploy/overlays (all of them, or the ones named) and validates every
# object offline:
#  - Kubernetes kinds against the Kubernetes OpenAPI JSON schemas bundled in the PyPI package
#    kubernetes-validate (strict: unknown fields fail);
#  - custom resources (KEDA ScaledObject / TriggerAuthentication, ServiceMonitor) against the schemas
#    in deploy/crds/ (see its README).
#
#   check.sh [overlay...]
#
# Tools and schemas (pinned in scripts/k8s/tools.sh) are fetched when missing and cached under .cache/k8s.
# The rendered YAML is left in .cache/k8s/rendered/<overlay>.yaml. The test suite runs this per overlay
# (tests/deploy/kubeconform.test.ts); tests/deploy/policy.test.ts renders with the cached kustomize itself.
set -euo pipefail
cd "$(dirname "$0")/../.."

bash scripts/k8s/tools.sh fetched || bash scripts/k8s/tools.sh fetch
eval "$(bash scripts/k8s/tools.sh env)"
CACHE=.cache/k8s
mkdir -p "$CACHE/rendered"

started=$(date +%s)
if (($#)); then overlays=("$@"); else overlays=(); for dir in deploy/overlays/*/; do overlays+=("$(basename "$dir")"); done; fi

echo "== kustomize $("$BIN/kustomize" version), kubeconform $KUBECONFORM_VERSION, Kubernetes $K8S_VERSION schemas"
status=0
for overlay in "${overlays[@]}"; do
  dir="deploy/overlays/$overlay"
  [ -d "$dir" ] || { echo "== $overlay: no such overlay ($dir)"; status=1; continue; }
  out="$CACHE/rendered/$overlay.yaml"
  echo "== $overlay: kustomize build"
  "$BIN/kustomize" build "$dir" > "$out.tmp.$$" || { status=1; rm -f "$out.tmp.$$"; continue; }
  mv -f "$out.tmp.$$" "$out"
  echo "== $overlay: kubeconform ($(grep -c '^kind:' "$out") objects)"
  "$BIN/kubeconform" -strict -summary -output text \
    -kubernetes-version "$K8S_VERSION" \
    -schema-location "$SCHEMAS/{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
    -schema-location "deploy/crds/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json" \
    "$out" || status=1
done
echo "== k8s checks $([ $status = 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - started ))s"
exit $status
