# Sourced by services.sh and bench-fleet.sh: the local services as background processes with
# pid files in $DATA (their logs beside them).

running() { [ -f "$DATA/$1.pid" ] && kill -0 "$(cat "$DATA/$1.pid")" 2>/dev/null; }

start() { # name, command...
  local name=$1; shift
  if running "$name"; then echo "$name already running (pid $(cat "$DATA/$name.pid"))"; return; fi
  nohup "$@" >"$DATA/$name.log" 2>&1 &
  echo $! >"$DATA/$name.pid"
  echo "started $name (pid $!, log $DATA/$name.log)"
}

wait_for() { # what, seconds, test command...
  local what=$1 secs=$2; shift 2
  for _ in $(seq "$secs"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  echo "$what did not become ready in ${secs}s; see $DATA/*.log" >&2
  return 1
}

# stop waits for the process to exit: a dev server still closing its SQLite file while a new
# one opens it corrupts the file.
stop() {
  if running "$1"; then
    local pid; pid=$(cat "$DATA/$1.pid")
    kill "$pid"
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
    echo "stopped $1"
  fi
  rm -f "$DATA/$1.pid"
}
