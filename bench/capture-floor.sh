#!/usr/bin/env bash
# The floor under any trigger-based change capture on PostgreSQL: pgbench
# single-row INSERTs (8 clients, autocommit) into a narrow table with no
# trigger, and with the smallest trigger that writes a key to an outbox (no
# SECURITY DEFINER, no JSON, the outbox's primary key only). What strangler's
# own triggers cost is measured by bench/capture-overhead.ts; this shows how
# much of it any row trigger costs on the same server.
#
#   bench/capture-floor.sh postgres://user@127.0.0.1:5432/db [seconds] [rounds]
#
# Creates and drops the tables strangler_floor_t and strangler_floor_ob in that
# database. Needs psql and pgbench on PATH (or PGBIN=/usr/lib/postgresql/15/bin).
set -euo pipefail
url=${1:?usage: bench/capture-floor.sh POSTGRES_URL [seconds] [rounds]}
secs=${2:-8}
rounds=${3:-3}
bin=${PGBIN:+$PGBIN/}
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
psql() { "${bin}psql" -q -X -v ON_ERROR_STOP=1 "$url" "$@"; }
script=$(mktemp)
trap 'rm -f "$script"; psql -c "DROP TABLE IF EXISTS strangler_floor_t, strangler_floor_ob; DROP FUNCTION IF EXISTS strangler_floor_fn()" >/dev/null 2>&1 || true' EXIT
cat > "$script" <<'SQL'
\set id random(1, 2000000000)
INSERT INTO strangler_floor_t VALUES (:id, 'someone@example.com', 1) ON CONFLICT DO NOTHING;
SQL
psql <<'SQL'
DROP TABLE IF EXISTS strangler_floor_t, strangler_floor_ob;
CREATE TABLE strangler_floor_t (id bigint PRIMARY KEY, email text, n int);
CREATE TABLE strangler_floor_ob (id bigserial PRIMARY KEY, entity text NOT NULL, op char(1) NOT NULL, pk text NOT NULL);
CREATE OR REPLACE FUNCTION strangler_floor_fn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO strangler_floor_ob (entity, op, pk) VALUES ('t', 'U', NEW.id::text); RETURN NULL; END $$;
SQL
tps() {
  psql -c 'TRUNCATE strangler_floor_t, strangler_floor_ob' -c 'CHECKPOINT' >/dev/null
  "${bin}pgbench" -n -c 8 -j 2 -T "$secs" -f "$script" "$url" 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
for r in $(seq "$rounds"); do
  psql -c 'DROP TRIGGER IF EXISTS strangler_floor_trg ON strangler_floor_t' >/dev/null
  none=$(tps)
  psql -c 'CREATE TRIGGER strangler_floor_trg AFTER INSERT ON strangler_floor_t FOR EACH ROW EXECUTE FUNCTION strangler_floor_fn()' >/dev/null
  floor=$(tps)
  awk -v r="$r" -v a="$none" -v b="$floor" 'BEGIN { printf "{\"bench\":\"capture-floor\",\"round\":%d,\"without_tps\":%.0f,\"minimal_trigger_tps\":%.0f,\"loss_pct\":%.1f}\n", r, a, b, (1 - b / a) * 100 }'
done
