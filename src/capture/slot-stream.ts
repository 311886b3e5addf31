import type {Duplex} from 'node:stream'
import pg from 'pg'
import * as copyStreams from 'pg-copy-streams'
import {decodePgOutput, pgTimestampText, type PgOutputMessage, type RelationMessage} from './pgoutput.js'

/**
 * One logical replication connection reading a slot (`START_REPLICATION …
 * LOGICAL`, pgoutput): the server decodes each WAL record once, as it is
 * written, and streams the changes; the SQL functions would decode again from
 * the slot's restart point on every call. Committed transactions are kept in
 * memory, as outbox rows, until the feed has written them to the outbox and
 * acknowledged their end LSN: only then does the slot move past them.
 */

/** An outbox row decoded from the stream. */
export interface StreamRow {
  entity: string
  op: 'U' | 'D' | 'T'
  pk: string
  createdAt: string
}

/** A committed transaction's rows and where it ends in the WAL. */
export interface StreamedTx {
  rows: StreamRow[]
  endLsn: bigint
  commitTime: string
}

/** Turns one data message into outbox rows (the feed's mapping from tables to entities and keys). */
export type RowsOf = (m: PgOutputMessage, relations: Map<number, RelationMessage>, createdAt: string) => Iterable<StreamRow>

/** Buffered rows above which the stream is paused until the feed takes some (memory bound). */
const HIGH_WATER_ROWS = 50_000
/** Microseconds between the Unix epoch and PostgreSQL's. */
const PG_EPOCH_US = 946_684_800_000_000n

const both = (copyStreams as unknown as {both: (text: string, opts: {alignOnCopyDataFrame: boolean}) => Duplex & pg.Submittable}).both

function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`
}

export class SlotStream {
  private readonly txs: StreamedTx[] = []
  private buffered = 0
  private txRows: StreamRow[] = []
  private commitTime = ''
  private readonly relations = new Map<number, RelationMessage>()
  /** Up to where the server has decoded and sent (keepalives), or the end of the last commit received. */
  private decodedUpTo = 0n
  private acked = 0n
  private readonly waiters = new Set<() => void>()
  private paused = false
  /** Set when the connection failed or closed: the stream is unusable and the feed opens another. */
  failure?: Error
  private closed = false

  private constructor(
    private readonly client: pg.Client,
    private readonly stream: Duplex,
    private readonly rowsOf: RowsOf,
  ) {}

  /**
   * Opens a replication connection and starts streaming the slot from its
   * confirmed position. Throws the server's error (e.g. the slot is active for
   * another process).
   */
  static async open(url: string, slot: string, publication: string, rowsOf: RowsOf): Promise<SlotStream> {
    const client = new pg.Client({connectionString: url, replication: 'database', application_name: 'strangler feed', options: '-c TimeZone=UTC -c DateStyle=ISO'} as pg.ClientConfig)
    client.on('error', () => undefined)
    await client.connect()
    const pubList = `'${quoteIdent(publication).replace(/'/g, "''")}'`
    const text = `START_REPLICATION SLOT ${quoteIdent(slot)} LOGICAL 0/0 (proto_version '1', publication_names ${pubList}, messages 'true')`
    const stream = client.query(both(text, {alignOnCopyDataFrame: true}))
    const s = new SlotStream(client, stream, rowsOf)
    await new Promise<void>((resolve, reject) => {
      // the server answers START_REPLICATION with CopyBothResponse, or an error
      const onError = (err: Error): void => {
        s.fail(err)
        reject(err)
      }
      stream.once('error', onError)
      client.once('error', onError)
      stream.on('data', (chunk: Buffer) => s.onFrame(chunk))
      stream.once('end', () => s.fail(new Error('the replication stream ended')))
      client.once('end', () => s.fail(new Error('the replication connection closed')))
      // the first status update is accepted only once streaming has started; a keepalive comes back
      s.request()
      const started = setInterval(() => {
        if (s.decodedUpTo > 0n || s.failure) {
          clearInterval(started)
          if (s.failure) reject(s.failure)
          else resolve()
        } else s.request()
      }, 20)
    })
    return s
  }

  private fail(err: Error): void {
    this.failure ??= err
    this.wake()
  }

  private wake(): void {
    for (const w of [...this.waiters]) w()
  }

  private onFrame(frame: Buffer): void {
    try {
      const kind = frame[0]
      if (kind === 0x77 /* w: XLogData */) {
        const m = decodePgOutput(frame.subarray(25))
        switch (m.tag) {
          case 'begin':
            this.commitTime = pgTimestampText(m.commitTime)
            this.txRows = []
            break
          case 'relation':
            this.relations.set(m.relationId, m)
            break
          case 'commit':
            if (this.txRows.length) {
              this.txs.push({rows: this.txRows, endLsn: m.endLsn, commitTime: this.commitTime})
              this.buffered += this.txRows.length
            } else {
              // nothing of ours (a heartbeat message): still a point the slot may move to
              this.txs.push({rows: [], endLsn: m.endLsn, commitTime: this.commitTime})
            }
            this.txRows = []
            if (m.endLsn > this.decodedUpTo) this.decodedUpTo = m.endLsn
            if (this.buffered >= HIGH_WATER_ROWS && !this.paused) {
              this.paused = true
              this.stream.pause()
            }
            this.wake()
            break
          default:
            for (const row of this.rowsOf(m, this.relations, this.commitTime)) this.txRows.push(row)
        }
      } else if (kind === 0x6b /* k: keepalive */) {
        const walEnd = frame.readBigInt64BE(1)
        if (walEnd > this.decodedUpTo) this.decodedUpTo = walEnd
        if (frame[17] === 1) this.status(false)
        this.wake()
      }
    } catch (err) {
      this.fail(err as Error)
      this.close().catch(() => undefined)
    }
  }

  /** Standby status update: written, flushed and applied up to what the outbox holds. */
  private status(replyRequested: boolean): void {
    if (this.closed || this.failure) return
    const b = Buffer.alloc(34)
    b.write('r', 0, 'latin1')
    b.writeBigInt64BE(this.acked, 1)
    b.writeBigInt64BE(this.acked, 9)
    b.writeBigInt64BE(this.acked, 17)
    b.writeBigInt64BE(BigInt(Date.now()) * 1000n - PG_EPOCH_US, 25)
    b.writeUInt8(replyRequested ? 1 : 0, 33)
    this.stream.write(b)
  }

  /** Asks the server where it has decoded up to (it answers with a keepalive). */
  private request(): void {
    this.status(true)
  }

  /**
   * Waits until the server has sent everything up to `lsn` (every transaction
   * that committed before it), until enough is buffered, or for at most
   * `timeoutMs`. True when caught up to `lsn`.
   */
  async waitFor(lsn: bigint, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    while (!this.failure && this.decodedUpTo < lsn && this.buffered < HIGH_WATER_ROWS && Date.now() < deadline) {
      this.request()
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(t)
          this.waiters.delete(done)
          resolve()
        }
        const t = setTimeout(done, Math.min(100, Math.max(1, deadline - Date.now())))
        this.waiters.add(done)
      })
    }
    if (this.failure) throw this.failure
    return this.decodedUpTo >= lsn
  }

  /** Committed transactions waiting for the outbox, oldest first, up to about `maxRows` rows (whole transactions). */
  take(maxRows: number): StreamedTx[] {
    let n = 0
    let i = 0
    while (i < this.txs.length && (i === 0 || n + this.txs[i].rows.length <= maxRows)) n += this.txs[i++].rows.length
    const out = this.txs.splice(0, i)
    this.buffered -= n
    if (this.paused && this.buffered < HIGH_WATER_ROWS / 2) {
      this.paused = false
      this.stream.resume()
    }
    return out
  }

  /** Rows buffered and the commit time of the oldest transaction with rows. */
  backlog(): {changes: number; oldest?: string} {
    const first = this.txs.find((t) => t.rows.length)
    return {changes: this.buffered, oldest: first?.commitTime}
  }

  /** The outbox holds everything up to `lsn`: the slot may move past it. */
  ack(lsn: bigint): void {
    if (lsn > this.acked) this.acked = lsn
    this.status(false)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.fail(new Error('the replication stream was closed'))
    this.stream.destroy()
    await this.client.end().catch(() => undefined)
  }
}
