#!/usr/bin/env bash
# The floor under any trigger-based change capture: 8 clients running
# single-row autocommit INSERTs into a narrow table (pgbench on PostgreSQL,
# mariadb-slap on MariaDB/MySQL) with no trigger, with the smallest trigger
# that writes to an outbox (a constant row, the outbox's primary key only),
# and with a trigger of strangler's shape (the key rendered as JSON text, the
# `(entity, id)` index the relay reads by; SECURITY DEFINER and a fixed
# search_path on PostgreSQL). What strangler's installed triggers cost on a
# real table is measured by bench/capture-overhead.ts; this shows how much of
# it any trigger costs on the same server.
#
#   bench/capture-floor.sh postgres://user@127.0.0.1:5432/db [seconds] [rounds]
#   bench/capture-floor.sh mysql://user:password@127.0.0.1:3306/db [queries] [rounds]
#
# Creates and drops the tables strangler_floor_t and strangler_floor_ob in that
# database. Needs psql and pgbench (PGBIN=/usr/lib/postgresql/15/bin), or the
# mariadb client and mariadb-slap, on PATH. Prints one JSON line per round.
set -euo pipefail
url=${1:?usage: bench/capture-floor.sh URL [seconds|queries] [rounds]}
rounds=${3:-3}
modes=(none minimal strangler-shape)
json() { # round, mode rates...
  awk -v r="$1" -v a="$2" -v b="$3" -v c="$4" -v e="$engine" 'BEGIN { printf "{\"bench\":\"capture-floor\",\"engine\":\"%s\",\"round\":%d,\"without_per_s\":%.0f,\"minimal_trigger_per_s\":%.0f,\"strangler_shape_per_s\":%.0f,\"minimal_loss_pct\":%.1f,\"strangler_shape_loss_pct\":%.1f}\n", e, r, a, b, c, (1 - b / a) * 100, (1 - c / a) * 100 }'
}

if [[ $url == postgres* ]]; then
  engine=postgres
  secs=${2:-8}
  bin=${PGBIN:+$PGBIN/}
  export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
  sql() { "${bin}psql" -q -X -v ON_ERROR_STOP=1 "$url" "$@"; }
  script=$(mktemp)
  trap 'rm -f "$script"; sql -c "DROP TABLE IF EXISTS strangler_floor_t, strangler_floor_ob; DROP FUNCTION IF EXISTS strangler_floor_min(), strangler_floor_shape()" >/dev/null 2>&1 || true' EXIT
  printf '%s\n' "INSERT INTO strangler_floor_t (email, n) VALUES ('someone@example.com', 1);" > "$script"
  sql <<'SQL'
DROP TABLE IF EXISTS strangler_floor_t, strangler_floor_ob;
CREATE TABLE strangler_floor_t (id bigserial PRIMARY KEY, email text, n int);
CREATE TABLE strangler_floor_ob (id bigserial PRIMARY KEY, entity text NOT NULL, op char(1) NOT NULL, pk text NOT NULL, created_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE OR REPLACE FUNCTION strangler_floor_min() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO strangler_floor_ob (entity, op, pk) VALUES ('t', 'U', 'x'); RETURN NULL; END $$;
CREATE OR REPLACE FUNCTION strangler_floor_shape() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN INSERT INTO public.strangler_floor_ob (entity, op, pk) VALUES ('t', 'U', json_build_array(to_json(NEW.id) #>> '{}')::text); RETURN NULL; END $$;
SQL
  rate() { # mode
    sql -c 'DROP TRIGGER IF EXISTS strangler_floor_trg ON strangler_floor_t' -c 'DROP INDEX IF EXISTS strangler_floor_ob_entity' >/dev/null
    case $1 in
      minimal) sql -c 'CREATE TRIGGER strangler_floor_trg AFTER INSERT ON strangler_floor_t FOR EACH ROW EXECUTE FUNCTION strangler_floor_min()' >/dev/null ;;
      strangler-shape) sql -c 'CREATE INDEX strangler_floor_ob_entity ON strangler_floor_ob (entity, id)' -c 'CREATE TRIGGER strangler_floor_trg AFTER INSERT ON strangler_floor_t FOR EACH ROW EXECUTE FUNCTION strangler_floor_shape()' >/dev/null ;;
    esac
    sql -c 'TRUNCATE strangler_floor_t, strangler_floor_ob' -c 'CHECKPOINT' >/dev/null
    "${bin}pgbench" -n -c 8 -j 2 -T "$secs" -f "$script" "$url" 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p'
  }
else
  engine=mysql
  queries=${2:-40000}
  u=${url#*://}; auth=${u%%@*}; hostport=${u#*@}; hostport=${hostport%%/*}; db=${u#*/}; db=${db%%\?*}
  user=${auth%%:*}; pass=${auth#*:}; [[ $auth == *:* ]] || pass=
  host=${hostport%%:*}; port=${hostport#*:}; [[ $hostport == *:* ]] || port=3306
  export MYSQL_PWD=$pass
  conn=(-h "$host" -P "$port" -u "$user")
  sql() { mariadb "${conn[@]}" "$db" -e "$1"; }
  trap 'sql "DROP TABLE IF EXISTS strangler_floor_t, strangler_floor_ob" >/dev/null 2>&1 || true' EXIT
  rate() { # mode
    sql "DROP TABLE IF EXISTS strangler_floor_t, strangler_floor_ob;
      CREATE TABLE strangler_floor_t (id bigint AUTO_INCREMENT PRIMARY KEY, email varchar(100), n int) ENGINE=InnoDB;
      CREATE TABLE strangler_floor_ob (id bigint AUTO_INCREMENT PRIMARY KEY, entity varchar(190) NOT NULL, op char(1) NOT NULL, pk text NOT NULL, created_at datetime(6) NOT NULL) ENGINE=InnoDB"
    case $1 in
      minimal) sql "CREATE TRIGGER strangler_floor_ai AFTER INSERT ON strangler_floor_t FOR EACH ROW INSERT INTO strangler_floor_ob (entity, op, pk, created_at) VALUES ('t', 'U', 'x', '2000-01-01')" ;;
      strangler-shape) sql "ALTER TABLE strangler_floor_ob ADD KEY (entity, id); CREATE TRIGGER strangler_floor_ai AFTER INSERT ON strangler_floor_t FOR EACH ROW INSERT INTO strangler_floor_ob (entity, op, pk, created_at) VALUES ('t', 'U', JSON_ARRAY(CAST(NEW.id AS CHAR)), UTC_TIMESTAMP(6))" ;;
    esac
    s=$(mariadb-slap "${conn[@]}" --create-schema="$db" --concurrency=8 --number-of-queries="$queries" \
      --query="INSERT INTO strangler_floor_t (email, n) VALUES ('someone@example.com', 1)" 2>/dev/null |
      sed -n 's/.*Average number of seconds to run all queries: \([0-9.]*\).*/\1/p')
    awk -v q="$queries" -v s="$s" 'BEGIN { printf "%.1f", q / s }'
  }
fi

for r in $(seq "$rounds"); do
  rates=()
  for m in "${modes[@]}"; do rates+=("$(rate "$m")"); done
  json "$r" "${rates[@]}"
done
