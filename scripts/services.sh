#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis answer on the addresses in DATABASE_URL / REDIS_URL:
# starts them when installed but stopped, installs them with apt when absent (as root),
# otherwise stops with a sentence saying what to set. Then creates the database if missing.
set -euo pipefail

DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/gatehouse}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}

pg_host=$(python3 -c "import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p.hostname or '127.0.0.1')" "$DATABASE_URL")
pg_port=$(python3 -c "import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p.port or 5432)" "$DATABASE_URL")
pg_user=$(python3 -c "import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p.username or 'postgres')" "$DATABASE_URL")
pg_db=$(python3 -c "import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p.path.lstrip('/') or 'gatehouse')" "$DATABASE_URL")
redis_host=$(python3 -c "import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p.hostname or '127.0.0.1')" "$REDIS_URL")
redis_port=$(python3 -c "import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p.port or 6379)" "$REDIS_URL")

is_local() { [[ "$1" == "127.0.0.1" || "$1" == "localhost" || "$1" == "::1" ]]; }
port_open() { python3 -c "import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 1)" "$1" "$2" 2>/dev/null; }
wait_port() { for _ in $(seq 1 50); do port_open "$1" "$2" && return 0; sleep 0.2; done; return 1; }
apt_install() {
  if [[ $(id -u) -ne 0 ]]; then
    echo "$1 is not installed and this script is not root: install it, or set $2 to a running server." >&2
    exit 1
  fi
  echo "Installing $1 with apt..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >/dev/null
}

if ! port_open "$pg_host" "$pg_port"; then
  is_local "$pg_host" || { echo "PostgreSQL at $pg_host:$pg_port does not answer; fix DATABASE_URL." >&2; exit 1; }
  command -v pg_ctlcluster >/dev/null || apt_install postgresql DATABASE_URL
  version=$(ls /etc/postgresql | sort -V | tail -1)
  echo "Starting PostgreSQL $version..."
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_port "$pg_host" "$pg_port" || { echo "PostgreSQL did not start on $pg_host:$pg_port; see /var/log/postgresql." >&2; exit 1; }
fi

if ! port_open "$redis_host" "$redis_port"; then
  is_local "$redis_host" || { echo "Redis at $redis_host:$redis_port does not answer; fix REDIS_URL." >&2; exit 1; }
  command -v redis-server >/dev/null || apt_install redis-server REDIS_URL
  echo "Starting Redis..."
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$redis_port" --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/gatehouse.log
  wait_port "$redis_host" "$redis_port" || { echo "Redis did not start on port $redis_port; see /var/log/redis/gatehouse.log." >&2; exit 1; }
fi

# The test runner needs CREATEDB; the app needs its database to exist.
psql_cmd=(psql -h "$pg_host" -p "$pg_port" -U "$pg_user" -d postgres -v ON_ERROR_STOP=1 -qtA)
if ! "${psql_cmd[@]}" -c "select 1" >/dev/null 2>&1; then
  echo "Cannot log in to PostgreSQL as '$pg_user' on $pg_host:$pg_port; set DATABASE_URL to a role that can." >&2
  exit 1
fi
if [[ -z $("${psql_cmd[@]}" -c "select 1 from pg_database where datname = '$pg_db'") ]]; then
  "${psql_cmd[@]}" -c "create database \"$pg_db\"" >/dev/null
  echo "Created database $pg_db."
fi
echo "PostgreSQL ($pg_host:$pg_port/$pg_db) and Redis ($redis_host:$redis_port) are up."
