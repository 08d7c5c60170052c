#!/usr/bin/env bash
# The kind end-to-end driver (`make e2e`): cluster, images, dependencies, chart, LabelingProject,
# then the pytest suite (tests/e2e/test_kind.py). Diagnostics go to test-artifacts/e2e/ on
# failure; the cluster is deleted at the end (KEEP_CLUSTER=1 keeps it for debugging).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CLUSTER="labelhive-e2e"
NS="labelhive-e2e"
SYSTEM_NS="labelhive-system"
PROJECT="e2e"
CNPG_PROJECT="e2e-pg"
APP_IMAGE="${APP_IMAGE:-ghcr.io/labelhive/labelhive:0.1.0}"
OPERATOR_IMAGE="${OPERATOR_IMAGE:-ghcr.io/labelhive/labelhive-operator:0.1.0}"
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-kindest/node:v1.33.1}"
TRAEFIK_CHART_VERSION="${TRAEFIK_CHART_VERSION:-34.4.1}"
# set (CI sets it): install the CloudNativePG operator and run the spec.database.cluster project
CNPG_CHART_VERSION="${CNPG_CHART_VERSION:-}"
ARTIFACTS="${ARTIFACTS:-$ROOT/test-artifacts/e2e}"
PYTEST="${PYTEST:-$ROOT/.venv/bin/pytest}"
KEEP_CLUSTER="${KEEP_CLUSTER:-0}"

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || { echo "make e2e needs $tool on PATH" >&2; exit 2; }
done
docker info >/dev/null || { echo "make e2e needs a running Docker engine" >&2; exit 2; }

collect() {
  echo "collecting diagnostics in $ARTIFACTS" >&2
  mkdir -p "$ARTIFACTS"
  kubectl get all,lp,pvc,networkpolicy,ingress,events -A -o wide >"$ARTIFACTS/get-all.txt" 2>&1 || true
  kubectl -n "$NS" get lp "$PROJECT" -o yaml >"$ARTIFACTS/labelingproject.yaml" 2>&1 || true
  kubectl -n "$NS" get lp "$CNPG_PROJECT" -o yaml >"$ARTIFACTS/labelingproject-pg.yaml" 2>&1 || true
  kubectl get clusters.postgresql.cnpg.io -A -o yaml >"$ARTIFACTS/cnpg-clusters.yaml" 2>&1 || true
  for ns in "$NS" "$SYSTEM_NS" e2e-deps traefik cnpg-system; do
    kubectl -n "$ns" describe all,lp,networkpolicy,ingress >"$ARTIFACTS/describe-$ns.txt" 2>&1 || true
    for pod in $(kubectl -n "$ns" get pods -o name 2>/dev/null); do
      kubectl -n "$ns" logs "$pod" --all-containers --prefix --timestamps \
        >"$ARTIFACTS/logs-$ns-${pod#pod/}.txt" 2>&1 || true
      kubectl -n "$ns" logs "$pod" --all-containers --prefix --previous \
        >"$ARTIFACTS/logs-$ns-${pod#pod/}-previous.txt" 2>&1 || true
    done
  done
  kind export logs --name "$CLUSTER" "$ARTIFACTS/kind" >/dev/null 2>&1 || true
}

finish() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    collect
  fi
  if [ "$KEEP_CLUSTER" != "1" ]; then
    kind delete cluster --name "$CLUSTER" || true
  fi
  exit "$rc"
}
trap finish EXIT

echo "--- cluster"
kind create cluster --name "$CLUSTER" --config "$HERE/kind-config.yaml" \
  --image "$KIND_NODE_IMAGE" --wait 180s

echo "--- images"
make -C "$ROOT" images APP_IMAGE="$APP_IMAGE" OPERATOR_IMAGE="$OPERATOR_IMAGE"
kind load docker-image --name "$CLUSTER" "$APP_IMAGE" "$OPERATOR_IMAGE"

echo "--- ingress controller (Traefik on the control-plane's hostPort 80)"
helm upgrade --install traefik traefik --repo https://traefik.github.io/charts \
  --version "$TRAEFIK_CHART_VERSION" --namespace traefik --create-namespace \
  --set ports.web.hostPort=80 --set service.type=ClusterIP \
  --set-string nodeSelector.ingress-ready=true \
  --set 'tolerations[0].key=node-role.kubernetes.io/control-plane' \
  --set 'tolerations[0].operator=Exists' --set 'tolerations[0].effect=NoSchedule' \
  --wait --timeout 5m

echo "--- PostgreSQL and MinIO"
kubectl apply -f "$HERE/manifests/deps.yaml"
kubectl -n e2e-deps rollout status statefulset/postgres --timeout=5m
kubectl -n e2e-deps rollout status deployment/minio --timeout=5m

if [ -n "$CNPG_CHART_VERSION" ]; then
  echo "--- CloudNativePG operator (chart $CNPG_CHART_VERSION)"
  helm upgrade --install cnpg cloudnative-pg --repo https://cloudnative-pg.github.io/charts \
    --version "$CNPG_CHART_VERSION" --namespace cnpg-system --create-namespace \
    --wait --timeout 5m
fi

echo "--- the chart"
helm upgrade --install labelhive "$ROOT" --namespace "$SYSTEM_NS" --create-namespace \
  --set "labelhive-operator.image.repository=${OPERATOR_IMAGE%:*}" \
  --set-string "labelhive-operator.image.tag=${OPERATOR_IMAGE##*:}" \
  --set labelhive-operator.image.pullPolicy=Never \
  --wait --timeout 5m

echo "--- the LabelingProject (namespace with Pod Security restricted)"
kubectl create namespace "$NS"
kubectl label namespace "$NS" pod-security.kubernetes.io/enforce=restricted \
  pod-security.kubernetes.io/enforce-version=latest
kubectl -n "$NS" create secret generic e2e-db \
  --from-literal=uri=postgresql://labelhive:e2e-postgres-password@postgres.e2e-deps.svc:5432/labelhive
kubectl -n "$NS" create secret generic e2e-s3 \
  --from-literal=AWS_ACCESS_KEY_ID=e2e-access-key \
  --from-literal=AWS_SECRET_ACCESS_KEY=e2e-secret-key-0123456789
kubectl apply -f "$HERE/manifests/project.yaml"
kubectl -n "$NS" patch lp "$PROJECT" --type=merge -p \
  "{\"spec\":{\"image\":{\"repository\":\"${APP_IMAGE%:*}\",\"tag\":\"${APP_IMAGE##*:}\"}}}"

echo "--- the CRD's CEL rules, by the API server (server-side dry-run of invalid projects)"
# each file says what the API server must answer (`# refused: MESSAGE`); nothing is stored
for file in "$HERE"/invalid/*.yaml; do
  want="$(sed -n 's/^# refused: //p' "$file")"
  if out="$(kubectl apply --dry-run=server -f "$file" 2>&1)"; then
    echo "${file##*/}: accepted by the API server; expected the refusal: $want" >&2
    exit 1
  fi
  case "$out" in
    *"$want"*) echo "refused as expected: ${file##*/}" ;;
    *) echo "${file##*/}: refused, but not with \"$want\": $out" >&2; exit 1 ;;
  esac
done
# the transition rule: an update of the Redis storage is refused
if out="$(kubectl -n "$NS" patch lp "$PROJECT" --dry-run=server --type=merge \
  -p '{"spec":{"redis":{"storage":{"size":"9Gi"}}}}' 2>&1)"; then
  echo "a change of spec.redis.storage was accepted: $out" >&2
  exit 1
fi
case "$out" in
  *"redis.storage (size, storageClassName) is immutable"*) echo "refused as expected: redis.storage update" ;;
  *) echo "the storage update was refused for another reason: $out" >&2; exit 1 ;;
esac

kubectl -n "$NS" wait --for=condition=Ready "lp/$PROJECT" --timeout=15m

echo "--- the suite"
LABELHIVE_E2E=1 E2E_NAMESPACE="$NS" E2E_PROJECT="$PROJECT" E2E_HOST=labelhive.e2e.test \
  E2E_URL=http://127.0.0.1:18080 \
  "$PYTEST" -m kind -p no:cacheprovider --timeout=2400 -v "$HERE/test_kind.py"

echo "--- a CloudNativePG database (spec.database.cluster), where its operator is installed"
if kubectl get crd clusters.postgresql.cnpg.io >/dev/null 2>&1; then
  kubectl apply -f "$HERE/manifests/project-cnpg.yaml"
  kubectl -n "$NS" patch lp "$CNPG_PROJECT" --type=merge -p \
    "{\"spec\":{\"image\":{\"repository\":\"${APP_IMAGE%:*}\",\"tag\":\"${APP_IMAGE##*:}\"}}}"
  # Ready: the Cluster's primary serves, the migration Job ran against it, web and workers serve
  kubectl -n "$NS" wait --for=condition=Ready "lp/$CNPG_PROJECT" --timeout=15m
  kubectl -n "$NS" wait --for=condition=Ready "clusters.postgresql.cnpg.io/$CNPG_PROJECT-db" \
    --timeout=5m
  secret="$(kubectl -n "$NS" get deployment "$CNPG_PROJECT-web" -o \
    jsonpath='{.spec.template.spec.containers[?(@.name=="web")].env[?(@.name=="DATABASE_URL")].valueFrom.secretKeyRef.name}')"
  if [ "$secret" != "$CNPG_PROJECT-db-app" ]; then
    echo "the web Pods read DATABASE_URL from '$secret', not CloudNativePG's $CNPG_PROJECT-db-app" >&2
    exit 1
  fi
  kubectl -n "$NS" delete lp "$CNPG_PROJECT" --wait --timeout=5m
else
  echo "CloudNativePG is not installed (CNPG_CHART_VERSION unset): spec.database.cluster not run"
fi
