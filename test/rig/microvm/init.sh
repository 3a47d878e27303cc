#!/bin/sh
# /init of the rig's guest (busybox ash, PID 1). Loads the virtio-fs driver,
# mounts the kataShared tag where the Kata agent would, then runs one command
# per line read from the serial console and answers with a marker line the
# host waits for:
#   busy <seconds>   spin on the vCPU without forking
#   alloc <MiB>      write that much into tmpfs, so guest RAM gets touched
#   share <MiB>      write that much into the virtio-fs share (host disk)
#   free             delete what alloc and share wrote; the host keeps the
#                    pages, as there is no balloon
#   ping             nothing; an empty line repeats MSRIG-READY
# Every command ends with "MSRIG-DONE <line>", or "MSRIG-FAIL <line>".

/bin/busybox --install -s /bin
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
SHARED=/run/kata-containers/shared/containers
mkdir -p /mem "$SHARED"
# tmpfs defaults to half of RAM; alloc must be able to go further.
mount -t tmpfs -o size=90% mem /mem

exec </dev/ttyS0 >/dev/ttyS0 2>&1
stty -echo

# The host lists the modules in dependency order (guest-image.ts).
while read -r module; do
  insmod "/lib/modules/$module.ko" || echo "MSRIG-WARN insmod $module"
done </lib/modules/load-order
mount -t virtiofs kataShared "$SHARED" ||
  echo 'MSRIG-WARN virtiofs mount failed'

# /proc/uptime in centiseconds, read without forking.
uptime_cs() {
  read -r up _ </proc/uptime
  cs=${up#*.}
  now=$((${up%.*} * 100 + ${cs#0}))
}

busy() {
  uptime_cs
  end=$((now + $1 * 100))
  while [ "$now" -lt "$end" ]; do uptime_cs; done
}

blobs=0
alloc() {
  blobs=$((blobs + 1))
  dd if=/dev/zero of="/mem/blob$blobs" bs=1M count="$1" 2>/dev/null
}

# Written through virtio-fs, so virtiofsd itself reads these guest pages.
share() {
  blobs=$((blobs + 1))
  dd if=/dev/zero of="$SHARED/blob$blobs" bs=1M count="$1" conv=fsync \
    2>/dev/null
}

free_blobs() {
  while [ "$blobs" -gt 0 ]; do
    rm -f "/mem/blob$blobs" "$SHARED/blob$blobs"
    blobs=$((blobs - 1))
  done
}

# Arithmetic on a non-number would end this shell, and with it the guest;
# a leading zero would make it octal.
is_count() {
  case "$1" in '' | 0?* | *[!0-9]*) return 1 ;; esac
}

run() {
  [ $# -le 2 ] || return 1
  case "$1" in
    busy) is_count "$2" && busy "$2" ;;
    alloc) is_count "$2" && alloc "$2" ;;
    share) is_count "$2" && share "$2" ;;
    free) free_blobs ;;
    ping) ;;
    *) return 1 ;;
  esac
}

# Command lines are split on spaces below; they must never glob.
set -f
echo MSRIG-READY
while read -r line; do
  [ -z "$line" ] && echo MSRIG-READY && continue
  # shellcheck disable=SC2086 # split the line into command and argument
  if run $line; then
    echo "MSRIG-DONE $line"
  else
    echo "MSRIG-FAIL $line"
  fi
done
echo 'MSRIG-WARN console closed'
poweroff -f
