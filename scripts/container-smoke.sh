#!/usr/bin/env bash
# Build the Docker image without a Docker engine and smoke-test it for real:
#   1. a Debian base image made locally with mmdebstrap (no registry is reachable here),
#   2. podman build --isolation chroot --format docker (keeps HEALTHCHECK), host CA bundle mounted,
#   3. podman image mount + chroot --userspec running the image's own CMD as its USER,
#   4. curl /healthz and /v1/classify, then SIGTERM.
# Needs root and Debian's podman, mmdebstrap, curl. Usage: scripts/container-smoke.sh [port]
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${1:-18080}
BASE=localhost/framing-base:bookworm
IMAGE=localhost/framing:smoke

if ! podman image exists "$BASE"; then
  echo "== building base image $BASE with mmdebstrap"
  tmp=$(mktemp -d)
  mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates,passwd \
    bookworm "$tmp/base.tar"
  podman import --quiet "$tmp/base.tar" "$BASE" >/dev/null
  rm -rf "$tmp"
fi

echo "== podman build"
podman build --quiet --isolation chroot --network host --format docker \
  --build-arg BASE_IMAGE="$BASE" -v /etc/ssl/certs:/etc/ssl/certs:ro -t "$IMAGE" . >/dev/null
podman image inspect "$IMAGE" --format 'user={{.Config.User}} exposed={{.Config.ExposedPorts}} healthcheck={{.Config.Healthcheck.Test}}'

echo "== start the image's own command in a chroot, as its user"
root=$(podman image mount "$IMAGE")
cmd=$(podman image inspect "$IMAGE" --format '{{json .Config.Cmd}}')
user=$(podman image inspect "$IMAGE" --format '{{.Config.User}}')
mapfile -t envs < <(podman image inspect "$IMAGE" --format '{{range .Config.Env}}{{println .}}{{end}}' | sed '/^$/d')
mount --bind /proc "$root/proc" 2>/dev/null || true
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; umount "$root/proc" 2>/dev/null || true; podman image unmount "$IMAGE" >/dev/null || true; }
trap cleanup EXIT
# run the CMD with the image's environment, the port moved so several runs do not collide
start=$(python3 -c 'import json,sys; print(" ".join(json.loads(sys.argv[1])[2:]))' "$cmd" | sed "s/--port 8000/--port $PORT/")
env -i "${envs[@]}" HOME=/tmp WORKERS=1 chroot --userspec="$user" "$root" sh -c "$start" &
pid=$!
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 1
done
echo "== GET /healthz"
curl -fsS "http://127.0.0.1:$PORT/healthz"; echo
echo "== POST /v1/classify (a seed paragraph)"
curl -fsS "http://127.0.0.1:$PORT/v1/classify" -H 'content-type: application/json' \
  -d '{"text": "By bypassing traditional SWIFT-based financial systems, participants are exploring blockchain-based settlements that remain resilient to external sanctions.", "explain": true}' \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); p=d["paragraphs"][0]; print("labels", p["labels"], "scores", {k: round(v, 3) for k, v in p["scores"].items()}, "evidence", {k: [e["term"] for e in v] for k, v in p["evidence"].items() if k in p["labels"]})'
echo "== the model file in the image is read-only for the service user"
chroot --userspec="$user" "$root" sh -c 'test ! -w /opt/framing/models/framing.skops && echo read-only'
kill -TERM "$pid"; wait "$pid" || true; pid=
echo "== smoke test passed"
