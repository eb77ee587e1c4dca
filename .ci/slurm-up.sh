#!/usr/bin/env bash
# Bring up a real one-node SLURM cluster (munged + slurmctld + slurmd) on this
# host, for CI. Debian 12, run as root, no systemd needed.
#
# Idempotent: installs packages only if missing, creates the munge key only if
# missing, rewrites /etc/slurm/slurm.conf only if its content changes, starts
# each daemon only if its pid file does not point at a live process of that
# name. Running it twice is harmless.  Stop everything with .ci/slurm-down.sh.
#
# Env overrides (optional):
#   SLURM_UP_TIMEOUT   seconds to wait for the node to be usable (default 60)
#   SLURM_MEM_PERCENT  share of MemTotal advertised as RealMemory (default 80)
set -euo pipefail

TIMEOUT="${SLURM_UP_TIMEOUT:-60}"
MEM_PERCENT="${SLURM_MEM_PERCENT:-80}"

# Pid files: .ci/slurm-down.sh reads the same paths.
MUNGED_PID=/run/munge/munged.pid
SLURMCTLD_PID=/run/slurmctld.pid
SLURMD_PID=/run/slurmd.pid
CONF=/etc/slurm/slurm.conf

log() { echo "slurm-up: $*" >&2; }
die() { echo "slurm-up: ERROR: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root"
start_ts=$(date +%s)

# --- 1. packages ------------------------------------------------------------
need_install=0
for b in sbatch srun sinfo scontrol slurmctld slurmd munged munge; do
  command -v "$b" >/dev/null 2>&1 || need_install=1
done
if [[ $need_install -eq 1 ]]; then
  log "installing slurmctld slurmd slurm-client munge (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    slurmctld slurmd slurm-client munge >/dev/null
fi

# pid_alive PIDFILE NAME -> 0 if the pid file names a live process called NAME
pid_alive() {
  local pf=$1 name=$2 pid
  [[ -s $pf ]] || return 1
  pid=$(tr -dc '0-9' <"$pf")
  [[ -n $pid ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name" ]] || return 1
  # A killed daemon can linger as a zombie until PID 1 reaps it: count it as dead.
  [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != "Z" ]]
}

# --- 2. munge ---------------------------------------------------------------
install -d -o munge -g munge -m 0700 /etc/munge
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
if [[ ! -s /etc/munge/munge.key ]]; then
  log "creating /etc/munge/munge.key"
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key

if pid_alive "$MUNGED_PID" munged; then
  log "munged already running (pid $(cat "$MUNGED_PID"))"
else
  rm -f "$MUNGED_PID"
  log "starting munged"
  runuser -u munge -- /usr/sbin/munged --pid-file="$MUNGED_PID"
  for _ in $(seq 1 50); do pid_alive "$MUNGED_PID" munged && break; sleep 0.2; done
fi
munge -n | unmunge >/dev/null 2>&1 || die "munge -n | unmunge failed (see /var/log/munge/munged.log)"

# --- 3. slurm.conf ----------------------------------------------------------
HOST=$(hostname -s)
CPUS=$(nproc)
MEM_MB=$(awk -v p="$MEM_PERCENT" '/^MemTotal:/ {printf "%d", $2 / 1024 * p / 100}' /proc/meminfo)
install -d -m 0755 /etc/slurm /var/log/slurm /var/spool/slurmctld /tmp/slurmd

tmpconf=$(mktemp)
trap 'rm -f "$tmpconf"' EXIT
cat >"$tmpconf" <<EOF
# Written by .ci/slurm-up.sh -- one-node CI cluster; do not edit by hand.
ClusterName=local
SlurmctldHost=${HOST}
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Jobs without --mem would otherwise get the whole node's memory.
DefMemPerCPU=1000
ReturnToService=2
# squeue keeps finished jobs visible this long; the snakemake slurm plugin's
# squeue status mode relies on it.
MinJobAge=300
SlurmUser=root
SlurmdUser=root
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SlurmdSpoolDir=/tmp/slurmd
StateSaveLocation=/var/spool/slurmctld
SlurmctldPidFile=${SLURMCTLD_PID}
SlurmdPidFile=${SLURMD_PID}
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=${HOST} CPUs=${CPUS} RealMemory=${MEM_MB} State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
conf_changed=0
if ! cmp -s "$tmpconf" "$CONF"; then
  install -m 0644 "$tmpconf" "$CONF"
  conf_changed=1
  log "wrote $CONF (host=$HOST cpus=$CPUS RealMemory=${MEM_MB}MB)"
fi

# --- 4. daemons -------------------------------------------------------------
if pid_alive "$SLURMCTLD_PID" slurmctld; then
  log "slurmctld already running (pid $(cat "$SLURMCTLD_PID"))"
  if [[ $conf_changed -eq 1 ]]; then
    log "slurm.conf changed: scontrol reconfigure (node/CPU changes need slurm-down.sh + slurm-up.sh)"
    scontrol reconfigure || true
  fi
else
  rm -f "$SLURMCTLD_PID"
  log "starting slurmctld"
  slurmctld
fi
if pid_alive "$SLURMD_PID" slurmd; then
  log "slurmd already running (pid $(cat "$SLURMD_PID"))"
else
  rm -f "$SLURMD_PID"
  log "starting slurmd"
  slurmd
fi

# --- 5. wait until usable (bounded) -----------------------------------------
deadline=$((start_ts + TIMEOUT))
state="" resumed=0
while :; do
  state=$(sinfo -h -n "$HOST" -o '%T' 2>/dev/null | head -n1 || true)
  case "$state" in
    idle|mixed|allocated|completing) break ;;
    down*|drain*|drained*|fail*)
      # e.g. slurmd was killed hard earlier; put the node back once.
      if [[ $resumed -eq 0 ]]; then
        log "node state '$state': scontrol update state=resume"
        scontrol update nodename="$HOST" state=resume 2>/dev/null || true
        resumed=1
      fi ;;
  esac
  (( $(date +%s) < deadline )) || die "node not usable after ${TIMEOUT}s (state='${state}'); see /var/log/slurm/*.log"
  sleep 1
done
left=$((deadline - $(date +%s))); (( left > 5 )) || left=5
timeout "$left" srun -N1 -n1 --mem=50 -t 1 -J slurm-up-check true \
  || die "srun -N1 true failed (state='${state}'); see /var/log/slurm/*.log"

state=$(sinfo -h -n "$HOST" -o '%T' | head -n1)
echo "slurm-up: OK host=${HOST} partition=main cpus=${CPUS} mem=${MEM_MB}MB state=${state}" \
     "pids munged=$(cat $MUNGED_PID) slurmctld=$(cat $SLURMCTLD_PID) slurmd=$(cat $SLURMD_PID)" \
     "($(( $(date +%s) - start_ts ))s)"
