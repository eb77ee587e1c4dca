#!/usr/bin/env bash
# Stop the one-node CI SLURM cluster started by .ci/slurm-up.sh.
# Stops slurmd, slurmctld, munged by their pid files (never by name); a daemon
# whose pid file is missing, stale or names another process is skipped.
# Harmless if nothing is running.
set -euo pipefail

log() { echo "slurm-down: $*" >&2; }

# stop_by_pidfile PIDFILE NAME
stop_by_pidfile() {
  local pf=$1 name=$2 pid
  if [[ ! -s $pf ]]; then log "$name: no pid file ($pf), not running"; return 0; fi
  pid=$(tr -dc '0-9' <"$pf")
  if [[ -z $pid ]] || ! kill -0 "$pid" 2>/dev/null; then
    log "$name: stale pid file ($pf), removing"; rm -f "$pf"; return 0
  fi
  if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" != "$name" ]]; then
    log "$name: pid $pid from $pf is not $name, leaving it alone"; rm -f "$pf"; return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 75); do            # up to 15 s
    # gone, or a zombie waiting for PID 1 to reap it
    if ! kill -0 "$pid" 2>/dev/null || [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" == "Z" ]]; then
      log "$name: stopped (pid $pid)"; rm -f "$pf"; return 0
    fi
    sleep 0.2
  done
  log "$name: still alive after 15 s, sending SIGKILL to pid $pid"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pf"
}

# Same paths as in .ci/slurm-up.sh (SlurmdPidFile/SlurmctldPidFile in slurm.conf).
stop_by_pidfile /run/slurmd.pid slurmd
stop_by_pidfile /run/slurmctld.pid slurmctld
stop_by_pidfile /run/munge/munged.pid munged
