import http from 'node:http'
import type {AddressInfo} from 'node:net'
import client from 'prom-client'
import {errorMessage} from '../util/errors.js'
import type {BatchReport, RelayListener} from './relay.js'

/** Options of the relay's Prometheus endpoint. */
export interface RelayMetricsOptions {
  service: string
  /** 0 picks a free port (see `port` on the result). */
  port: number
  /** Interface to listen on (default all: Prometheus scrapes from elsewhere). */
  host?: string
  /** `/healthz` fails when the lag is above this (the plan's gates.maxRelayLagSeconds). */
  maxLagSeconds: number
  /** `/healthz` and `/livez` fail when no batch has succeeded for this long (default 30 s). */
  staleMs?: number
}

/** A running metrics endpoint: pass `listener` to the relay, `close()` at the end. */
export interface RelayMetricsServer {
  readonly port: number
  readonly url: string
  readonly listener: RelayListener
  readonly registry: client.Registry
  close(): Promise<void>
}

/**
 * Serves the relay's Prometheus metrics (prom-client) on `/metrics`:
 * `strangler_relay_lag_seconds`, `strangler_relay_pending_changes`,
 * `strangler_relay_changes_applied_total`, `strangler_relay_outbox_changes_total`,
 * `strangler_relay_batch_duration_seconds` (histogram),
 * `strangler_relay_retries_total`, `strangler_relay_dead_letters`, plus the
 * process metrics. `/healthz` answers 200 while batches succeed and the lag is
 * under the limit, else 503 (a readiness signal); `/livez` only checks that
 * batches succeed (a liveness signal that does not restart a relay that is
 * merely catching up).
 */
export async function startRelayMetrics(opts: RelayMetricsOptions): Promise<RelayMetricsServer> {
  const registry = new client.Registry()
  registry.setDefaultLabels({service: opts.service})
  client.collectDefaultMetrics({register: registry, prefix: 'strangler_'})
  const lag = new client.Gauge({name: 'strangler_relay_lag_seconds', help: 'Age of the oldest unconsumed change in the outbox.', registers: [registry]})
  const pending = new client.Gauge({name: 'strangler_relay_pending_changes', help: 'Changes waiting in the outbox.', registers: [registry]})
  const applied = new client.Counter({name: 'strangler_relay_changes_applied_total', help: 'Keys applied to the service store (upserts and deletes).', labelNames: ['op'], registers: [registry]})
  const consumed = new client.Counter({name: 'strangler_relay_outbox_changes_total', help: 'Outbox rows consumed.', registers: [registry]})
  const batchSeconds = new client.Histogram({
    name: 'strangler_relay_batch_duration_seconds',
    help: 'Duration of non-empty relay batches.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  })
  const retries = new client.Counter({name: 'strangler_relay_retries_total', help: 'Retries of database steps after transient errors.', registers: [registry]})
  const deadLetters = new client.Gauge({name: 'strangler_relay_dead_letters', help: 'Unresolved dead letters of the relay.', registers: [registry]})
  const errors = new client.Counter({name: 'strangler_relay_errors_total', help: 'Relay passes that failed (and were retried).', registers: [registry]})
  applied.inc({op: 'upsert'}, 0)
  applied.inc({op: 'delete'}, 0)

  const staleMs = opts.staleMs ?? 30_000
  let lastOkAt = 0
  let lastLag: number | undefined
  let lastError: string | undefined

  const listener: RelayListener = {
    batch(r: BatchReport) {
      lastOkAt = Date.now()
      lastError = undefined
      if (r.retries) retries.inc(r.retries)
      if (!r.changes) return
      consumed.inc(r.changes)
      if (r.upserts) applied.inc({op: 'upsert'}, r.upserts)
      if (r.deletes) applied.inc({op: 'delete'}, r.deletes)
      batchSeconds.observe(r.batchMs / 1000)
    },
    lag(l) {
      lastLag = l.lagSeconds
      lag.set(l.lagSeconds)
      pending.set(l.pending)
      deadLetters.set(l.deadLetters)
    },
    error(err) {
      errors.inc()
      lastError = errorMessage(err)
    },
  }

  const health = (withLag: boolean): {ok: boolean; body: Record<string, unknown>} => {
    const fresh = lastOkAt > 0 && Date.now() - lastOkAt <= staleMs
    const lagOk = lastLag === undefined || lastLag <= opts.maxLagSeconds
    const ok = fresh && (!withLag || lagOk)
    const reason = !lastOkAt ? 'no batch has completed yet' : !fresh ? `no successful batch for ${Math.round((Date.now() - lastOkAt) / 1000)} s` : !lagOk && withLag ? `lag ${lastLag} s is over ${opts.maxLagSeconds} s` : undefined
    return {
      ok,
      body: {
        status: ok ? 'ok' : 'unhealthy',
        reason,
        service: opts.service,
        lagSeconds: lastLag ?? null,
        maxLagSeconds: opts.maxLagSeconds,
        lastBatchAt: lastOkAt ? new Date(lastOkAt).toISOString() : null,
        lastError: lastError ?? null,
      },
    }
  }

  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end()
      return
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, {'content-type': registry.contentType}).end(text),
        (err) => res.writeHead(500, {'content-type': 'text/plain'}).end(errorMessage(err)),
      )
      return
    }
    if (path === '/healthz' || path === '/livez') {
      const h = health(path === '/healthz')
      res.writeHead(h.ok ? 200 : 503, {'content-type': 'application/json'}).end(JSON.stringify(h.body))
      return
    }
    res.writeHead(404, {'content-type': 'text/plain'}).end('not found: try /metrics, /healthz or /livez\n')
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  const shownHost = !opts.host || opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host
  return {
    port,
    url: `http://${shownHost}:${port}`,
    listener,
    registry,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
