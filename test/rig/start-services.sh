#!/usr/bin/env bash
# Starts what the integration tests need on a Debian 12 host, as root: a
# standalone containerd, a Docker daemon on top of it and the local busybox image (no image
# registry is reachable, so the image is built from busybox-static).
#
#   start-services.sh               everything above, each only if missing
#   start-services.sh start-dockerd start dockerd unless it already answers
#   start-services.sh stop-dockerd  stop dockerd and wait until it is gone
#   start-services.sh kill-dockerd  SIGKILL dockerd (a crash: no cleanup of its
#                                   socket, pid file or containers) and wait
#                                   until it is gone
#
# The dockerd command line lives here and only here; test/rig/docker.ts calls
# this script to stop, kill and restart the daemon.
set -euo pipefail

LOG_DIR=${MICROSTAT_RIG_LOG_DIR:-/var/log/microstat-rig}
DOCKERD_PIDFILE=/var/run/docker.pid
CONTAINERD_SOCKET=/run/containerd/containerd.sock
IMAGE=local/busybox:latest
WAIT_SECONDS=30

log() {
  printf 'start-services: %s\n' "$*" >&2
}

docker_answers() {
  docker version >/dev/null 2>&1
}

containerd_answers() {
  # Without the socket ctr would spend its 10 s dial timeout finding out.
  [[ -S $CONTAINERD_SOCKET ]] &&
    ctr --address "$CONTAINERD_SOCKET" --connect-timeout 2s version \
      >/dev/null 2>&1
}

# wait_for PREDICATE WHAT: polls every 0.2 s for up to WAIT_SECONDS.
wait_for() {
  local predicate=$1 what=$2 tries=$((WAIT_SECONDS * 5))
  while ((tries-- > 0)); do
    if "$predicate"; then
      return 0
    fi
    sleep 0.2
  done
  log "$what did not come up within ${WAIT_SECONDS}s"
  return 1
}

start_dockerd() {
  if docker_answers; then
    return 0
  fi
  start_containerd
  mkdir -p "$LOG_DIR"
  log "starting dockerd, log in $LOG_DIR/dockerd.log"
  # No iptables, no default bridge: the rig has no NAT and no outside network;
  # user-defined bridge networks still work. vfs needs no overlay support.
  # dockerd uses the standalone containerd, as on a packaged host. Named
  # explicitly: left to itself, dockerd trusts any file at the default socket
  # path, and a stale one left in a non-tmpfs /run makes it wait on nothing.
  setsid dockerd --iptables=false --ip-masq=false --bridge=none \
    --storage-driver=vfs --containerd="$CONTAINERD_SOCKET" \
    >>"$LOG_DIR/dockerd.log" 2>&1 </dev/null &
  if ! wait_for docker_answers dockerd; then
    tail -n 30 "$LOG_DIR/dockerd.log" >&2 || true
    return 1
  fi
}

dockerd_pid() {
  local pid
  pid=$(cat "$DOCKERD_PIDFILE" 2>/dev/null || true)
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    printf '%s\n' "$pid"
  fi
}

dockerd_gone() {
  [[ -z $(dockerd_pid) ]] && ! docker_answers
}

# signal_dockerd SIGNAL: sends SIGNAL to dockerd and waits until it is gone.
signal_dockerd() {
  local signal=$1 pid
  pid=$(dockerd_pid)
  if [[ -z $pid ]]; then
    log "no dockerd pid in $DOCKERD_PIDFILE"
    return 0
  fi
  log "sending SIG$signal to dockerd (pid $pid)"
  kill "-$signal" "$pid"
  wait_for dockerd_gone "dockerd exit on SIG$signal"
}

start_containerd() {
  if containerd_answers; then
    return 0
  fi
  mkdir -p "$LOG_DIR"
  log "starting containerd, log in $LOG_DIR/containerd.log"
  # Defaults put the socket at $CONTAINERD_SOCKET; containerd replaces a
  # stale socket file there itself.
  setsid containerd >>"$LOG_DIR/containerd.log" 2>&1 </dev/null &
  if ! wait_for containerd_answers containerd; then
    tail -n 30 "$LOG_DIR/containerd.log" >&2 || true
    return 1
  fi
}

build_image() {
  if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    return 0
  fi
  log "building $IMAGE from /bin/busybox"
  local root applet
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/tmp"
  chmod 1777 "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $(/bin/busybox --list); do
    # A link named busybox would replace the binary with a link to itself.
    if [[ $applet != busybox ]]; then
      ln -s busybox "$root/bin/$applet"
    fi
  done
  tar -C "$root" -c . |
    docker import --change 'ENV PATH=/bin' - "$IMAGE" >/dev/null
  rm -rf "$root"
}

main() {
  case ${1:-all} in
    all)
      start_containerd
      start_dockerd
      build_image
      ;;
    start-dockerd) start_dockerd ;;
    stop-dockerd) signal_dockerd TERM ;;
    kill-dockerd) signal_dockerd KILL ;;
    *)
      log "usage: $0 [all|start-dockerd|stop-dockerd|kill-dockerd]"
      return 2
      ;;
  esac
}

main "$@"
