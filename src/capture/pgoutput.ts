/**
 * Decoder of PostgreSQL's `pgoutput` logical replication messages, protocol
 * version 1 with text-format values (the rows `pg_logical_slot_peek_binary_changes`
 * returns, one message per row). Only what change capture needs: relations,
 * transaction boundaries with their commit time, inserts, updates, deletes and
 * truncates. Reference: "Logical Replication Message Formats" in the
 * PostgreSQL manual.
 */

/** A column value of a tuple: text, NULL, or a TOASTed value the update left unchanged (not sent). */
export type TupleValue = string | null | {unchanged: true}

export interface RelationMessage {
  readonly tag: 'relation'
  readonly relationId: number
  readonly schema: string
  readonly table: string
  /** `d` default (primary key), `n` nothing, `f` full, `i` index. */
  readonly replicaIdentity: string
  readonly columns: readonly {readonly name: string; readonly key: boolean; readonly typeOid: number}[]
}

export type PgOutputMessage =
  | {readonly tag: 'begin'; readonly finalLsn: bigint; readonly commitTime: bigint; readonly xid: number}
  | {readonly tag: 'commit'; readonly commitLsn: bigint; readonly endLsn: bigint; readonly commitTime: bigint}
  | RelationMessage
  | {readonly tag: 'insert'; readonly relationId: number; readonly newTuple: readonly TupleValue[]}
  | {
      readonly tag: 'update'
      readonly relationId: number
      /** `K`: the old replica identity (sent when it changed), `O`: the whole old row (REPLICA IDENTITY FULL). */
      readonly old?: {readonly kind: 'K' | 'O'; readonly tuple: readonly TupleValue[]}
      readonly newTuple: readonly TupleValue[]
    }
  | {readonly tag: 'delete'; readonly relationId: number; readonly old: {readonly kind: 'K' | 'O'; readonly tuple: readonly TupleValue[]}}
  | {readonly tag: 'truncate'; readonly relationIds: readonly number[]}
  | {readonly tag: 'other'; readonly type: string}

const UNCHANGED = Object.freeze({unchanged: true as const})

/** Microseconds between the Unix epoch and PostgreSQL's (2000-01-01). */
const PG_EPOCH_US = 946_684_800_000_000n

/** A pgoutput timestamp (µs since 2000-01-01 UTC) as `YYYY-MM-DD HH:MM:SS.ffffff+00`. */
export function pgTimestampText(us: bigint): string {
  const unixUs = us + PG_EPOCH_US
  const ms = unixUs / 1000n
  const micros = Number(((unixUs % 1_000_000n) + 1_000_000n) % 1_000_000n)
  const iso = new Date(Number(ms)).toISOString()
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${String(micros).padStart(6, '0')}+00`
}

/** An LSN as PostgreSQL spells it (`16/B374D848`). */
export function lsnText(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`
}

/** Parses `16/B374D848`. */
export function parseLsn(text: string): bigint {
  const m = /^([0-9A-Fa-f]+)\/([0-9A-Fa-f]+)$/.exec(text.trim())
  if (!m) throw new Error(`not an LSN: ${text}`)
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`)
}

class Reader {
  private pos = 0
  constructor(private readonly buf: Buffer) {}

  byte(): string {
    this.need(1)
    return String.fromCharCode(this.buf[this.pos++])
  }

  int8(): number {
    this.need(1)
    return this.buf.readInt8(this.pos++)
  }

  int16(): number {
    this.need(2)
    const v = this.buf.readInt16BE(this.pos)
    this.pos += 2
    return v
  }

  int32(): number {
    this.need(4)
    const v = this.buf.readInt32BE(this.pos)
    this.pos += 4
    return v
  }

  uint32(): number {
    this.need(4)
    const v = this.buf.readUInt32BE(this.pos)
    this.pos += 4
    return v
  }

  int64(): bigint {
    this.need(8)
    const v = this.buf.readBigInt64BE(this.pos)
    this.pos += 8
    return v
  }

  /** A NUL-terminated string. */
  string(): string {
    const end = this.buf.indexOf(0, this.pos)
    if (end < 0) throw new Error('pgoutput: unterminated string')
    const s = this.buf.toString('utf8', this.pos, end)
    this.pos = end + 1
    return s
  }

  bytes(n: number): Buffer {
    this.need(n)
    const b = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    return b
  }

  tuple(): TupleValue[] {
    const n = this.int16()
    const out: TupleValue[] = []
    for (let i = 0; i < n; i++) {
      const kind = this.byte()
      if (kind === 'n') out.push(null)
      else if (kind === 'u') out.push(UNCHANGED)
      else if (kind === 't') out.push(this.bytes(this.int32()).toString('utf8'))
      else throw new Error(`pgoutput: unsupported column kind ${JSON.stringify(kind)} (binary mode is not requested)`)
    }
    return out
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new Error('pgoutput: message truncated')
  }
}

/** Decodes one pgoutput message. Messages this capture has no use for come back as `other`. */
export function decodePgOutput(buf: Buffer): PgOutputMessage {
  const r = new Reader(buf)
  const type = r.byte()
  switch (type) {
    case 'B':
      return {tag: 'begin', finalLsn: r.int64(), commitTime: r.int64(), xid: r.int32()}
    case 'C': {
      r.int8() // flags, unused
      return {tag: 'commit', commitLsn: r.int64(), endLsn: r.int64(), commitTime: r.int64()}
    }
    case 'R': {
      const relationId = r.uint32()
      const schema = r.string()
      const table = r.string()
      const replicaIdentity = String.fromCharCode(r.int8())
      const n = r.int16()
      const columns = []
      for (let i = 0; i < n; i++) {
        const flags = r.int8()
        const name = r.string()
        const typeOid = r.uint32()
        r.int32() // typmod
        columns.push({name, key: (flags & 1) === 1, typeOid})
      }
      return {tag: 'relation', relationId, schema, table, replicaIdentity, columns}
    }
    case 'I': {
      const relationId = r.uint32()
      const n = r.byte()
      if (n !== 'N') throw new Error(`pgoutput: insert without a new tuple (${JSON.stringify(n)})`)
      return {tag: 'insert', relationId, newTuple: r.tuple()}
    }
    case 'U': {
      const relationId = r.uint32()
      let kind = r.byte()
      let old: {kind: 'K' | 'O'; tuple: TupleValue[]} | undefined
      if (kind === 'K' || kind === 'O') {
        old = {kind, tuple: r.tuple()}
        kind = r.byte()
      }
      if (kind !== 'N') throw new Error(`pgoutput: update without a new tuple (${JSON.stringify(kind)})`)
      return {tag: 'update', relationId, old, newTuple: r.tuple()}
    }
    case 'D': {
      const relationId = r.uint32()
      const kind = r.byte()
      if (kind !== 'K' && kind !== 'O') throw new Error(`pgoutput: delete without the old key (${JSON.stringify(kind)})`)
      return {tag: 'delete', relationId, old: {kind, tuple: r.tuple()}}
    }
    case 'T': {
      const n = r.int32()
      r.int8() // options (CASCADE, RESTART IDENTITY)
      const relationIds: number[] = []
      for (let i = 0; i < n; i++) relationIds.push(r.uint32())
      return {tag: 'truncate', relationIds}
    }
    default:
      // O origin, Y type, M logical message, and the streaming messages of later protocol versions
      return {tag: 'other', type}
  }
}
