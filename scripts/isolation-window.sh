#!/usr/bin/env bash
# Does bridge isolation lapse while the engine creates networks?
#
# A client container on one bridge network connects, from 60 loops at once, to a server
# on another (internal) bridge network for SECONDS seconds, while this script creates
# and removes CHURN networks. Isolation must drop every connection; each one that
# answers is printed as a crossing. A control round without churn comes first.
#
# Also polls `iptables -S FORWARD` and counts the moments the jump to
# DOCKER-ISOLATION-STAGE-1 (20.10) or DOCKER-FORWARD (28) is missing.
#
# Needs root, the engine on this host, and the test image (scripts/provision-engine.sh).
# Usage: scripts/isolation-window.sh [SECONDS] [CHURN]
set -euo pipefail

secs=${1:-25}
churn=${2:-40}
image=${NETFENCE_TEST_IMAGE:-netfence-busybox:latest}
tag="nf-window-$$"

cleanup() {
  docker rm -f "$tag-server" "$tag-client" >/dev/null 2>&1 || true
  for n in $(docker network ls -q --filter "name=$tag"); do
    docker network rm "$n" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

docker network create "$tag-front" >/dev/null
docker network create --internal "$tag-back" >/dev/null
docker run -d --name "$tag-server" --network "$tag-back" "$image" \
  nc -ll -p 5432 -e echo crossed >/dev/null
docker run -d --name "$tag-client" --network "$tag-front" "$image" sleep 100000 >/dev/null
ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$tag-server")

# Prints one line per connection that answered within the round.
attempts() {
  timeout $((secs + 10)) docker exec "$tag-client" sh -c "
    for j in \$(seq 1 60); do (
      end=\$((\$(date +%s) + $secs))
      while [ \$(date +%s) -lt \$end ]; do
        nc -w1 $ip 5432 </dev/null 2>/dev/null | grep -q crossed && echo crossed
      done
    ) & done; wait" || true
}

jump_missing() {
  local end=$((SECONDS + secs)) polls=0 missing=0
  while [ $SECONDS -lt $end ]; do
    polls=$((polls + 1))
    iptables -S FORWARD | grep -qE -- '-j (DOCKER-ISOLATION-STAGE-1|DOCKER-FORWARD)$' \
      || missing=$((missing + 1))
  done
  echo "$missing of $polls"
}

echo "engine $(docker version --format '{{.Server.Version}}'), ${secs}s per round"
echo "control (no network created): $(attempts | grep -c crossed || true) connections crossed"

jump_missing >"/tmp/$tag-polls" &
poller=$!
attempts >"/tmp/$tag-crossed" &
client=$!
for i in $(seq 1 "$churn"); do
  docker network create "$tag-churn-$i" >/dev/null
  docker network rm "$tag-churn-$i" >/dev/null
done
wait "$client" "$poller"
crossed=$(grep -c crossed "/tmp/$tag-crossed" || true)
echo "with $churn networks created and removed: $crossed connections crossed;" \
  "the FORWARD jump was missing in $(cat "/tmp/$tag-polls") polls"
rm -f "/tmp/$tag-crossed" "/tmp/$tag-polls"
[ "$crossed" -eq 0 ]
