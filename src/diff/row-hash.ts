/**
 * Row hashes and the order-independent chunk checksum.
 *
 * A row hash is the md5 of the UTF-8 bytes of the canonical row encoding
 * (`canonical.ts`), as 32 lower-case hex digits — exactly what PostgreSQL's and MySQL's
 * `md5()` return for the same bytes, so SQL push-down (`sql-hash.ts`) and JS agree.
 *
 * A chunk checksum is `count` plus four sums: the md5's 16 bytes read as four big-endian
 * unsigned 32-bit slices, each slice summed over the chunk's rows. Addition is order
 * independent, a duplicated row changes the sums (XOR would cancel it), and the sums
 * are exact (BigInt here, numeric / DECIMAL(65,0) in SQL), so they never overflow.
 * Sums are exchanged as decimal strings.
 */
import {hash} from 'node:crypto'
import {type ColumnType, type EncodeRowOptions, encodeRow} from './canonical.js'

/** 32 lower-case hex digits. */
export type RowHash = string

export type SliceSums = [string, string, string, string]

export interface ChunkChecksum {
  count: number
  sums: SliceSums
}

/** md5 of the UTF-8 bytes of an encoded row, as lower-case hex. */
export function rowHash(encoded: string): RowHash {
  return hash('md5', encoded, 'hex')
}

/** Encodes a row canonically and hashes it. */
export function hashRow(values: readonly unknown[], types: readonly ColumnType[], opts?: EncodeRowOptions): RowHash {
  return rowHash(encodeRow(values, types, opts))
}

/** The md5's 16 bytes as four big-endian unsigned 32-bit integers. */
export function hashSlices(h: RowHash): [number, number, number, number] {
  if (!/^[0-9a-fA-F]{32}$/.test(h)) throw new TypeError(`not an md5 hex digest: ${JSON.stringify(h)}`)
  return [
    Number.parseInt(h.slice(0, 8), 16),
    Number.parseInt(h.slice(8, 16), 16),
    Number.parseInt(h.slice(16, 24), 16),
    Number.parseInt(h.slice(24, 32), 16),
  ]
}

// Each slice is < 2^32, so a float64 accumulator stays exact for 2^53 / 2^32 = 2^21 rows;
// flush into BigInt well before that.
const FLUSH_EVERY = 1 << 20

export interface ChunkAccumulator {
  /** Adds one row hash (hex). */
  add(hash: RowHash): void
  /** Adds another partial result (e.g. from a parallel worker or a sub-chunk). */
  merge(partial: ChunkChecksum): void
  /** The checksum so far; the accumulator stays usable. */
  result(): ChunkChecksum
}

export function chunkAccumulator(): ChunkAccumulator {
  let count = 0
  let pending = 0
  let f0 = 0
  let f1 = 0
  let f2 = 0
  let f3 = 0
  const big: [bigint, bigint, bigint, bigint] = [0n, 0n, 0n, 0n]
  const flush = (): void => {
    if (pending === 0) return
    big[0] += BigInt(f0)
    big[1] += BigInt(f1)
    big[2] += BigInt(f2)
    big[3] += BigInt(f3)
    f0 = f1 = f2 = f3 = 0
    pending = 0
  }
  return {
    add(h: RowHash): void {
      if (h.length !== 32) throw new TypeError(`not an md5 hex digest: ${JSON.stringify(h)}`)
      const a = Number.parseInt(h.slice(0, 8), 16)
      const b = Number.parseInt(h.slice(8, 16), 16)
      const c = Number.parseInt(h.slice(16, 24), 16)
      const d = Number.parseInt(h.slice(24, 32), 16)
      if (Number.isNaN(a + b + c + d)) throw new TypeError(`not an md5 hex digest: ${JSON.stringify(h)}`)
      f0 += a
      f1 += b
      f2 += c
      f3 += d
      count++
      if (++pending >= FLUSH_EVERY) flush()
    },
    merge(partial: ChunkChecksum): void {
      flush()
      count += partial.count
      for (let i = 0; i < 4; i++) big[i] += BigInt(partial.sums[i])
    },
    result(): ChunkChecksum {
      flush()
      return {count, sums: [big[0].toString(), big[1].toString(), big[2].toString(), big[3].toString()]}
    },
  }
}

/** Merges partial checksums (of disjoint row sets) into the checksum of their union. */
export function combineChecksums(...parts: ChunkChecksum[]): ChunkChecksum {
  const acc = chunkAccumulator()
  for (const p of parts) acc.merge(p)
  return acc.result()
}

/** Checksum of a list of row hashes. */
export function checksumOf(hashes: Iterable<RowHash>): ChunkChecksum {
  const acc = chunkAccumulator()
  for (const h of hashes) acc.add(h)
  return acc.result()
}

/** Equal count and equal sums (compared as exact integers, so `'007'` equals `'7'`). */
export function checksumsEqual(a: ChunkChecksum, b: ChunkChecksum): boolean {
  if (a.count !== b.count) return false
  for (let i = 0; i < 4; i++) if (BigInt(a.sums[i]) !== BigInt(b.sums[i])) return false
  return true
}

export const EMPTY_CHECKSUM: Readonly<ChunkChecksum> = Object.freeze({count: 0, sums: ['0', '0', '0', '0'] as SliceSums})
