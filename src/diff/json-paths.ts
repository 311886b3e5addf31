/**
 * Where two JSON values differ, as paths in the notation people read
 * (`variants[2].price`, `attributes["size (EU)"]`): the diff names the part of
 * an aggregate's document that differs instead of printing two documents.
 */

/** One differing place: its path and the two values there (`undefined` where one side has nothing). */
export interface JsonDifference {
  path: string
  source: unknown
  target: unknown
}

const PLAIN = /^[A-Za-z_$][A-Za-z0-9_$]*$/

function member(path: string, key: string): string {
  return PLAIN.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * The differing leaves of `a` and `b` under `root` (depth first, keys in
 * sorted order, at most `limit`); arrays compare element by element, so an
 * element inserted in the middle shows as changes from there on, then an extra
 * element at the end. Values are compared by their canonical JSON text.
 */
export function jsonDifferences(root: string, a: unknown, b: unknown, limit = 20, text: (v: unknown) => string = (v) => JSON.stringify(v)): JsonDifference[] {
  const out: JsonDifference[] = []
  const walk = (path: string, x: unknown, y: unknown): void => {
    if (out.length >= limit) return
    if (Array.isArray(x) && Array.isArray(y)) {
      for (let i = 0; i < Math.max(x.length, y.length) && out.length < limit; i++) walk(`${path}[${i}]`, i < x.length ? x[i] : undefined, i < y.length ? y[i] : undefined)
      return
    }
    if (isObject(x) && isObject(y)) {
      const keys = [...new Set([...Object.keys(x), ...Object.keys(y)])].sort()
      for (const k of keys) {
        if (out.length >= limit) return
        walk(member(path, k), k in x ? x[k] : undefined, k in y ? y[k] : undefined)
      }
      return
    }
    if (x === undefined || y === undefined || text(x) !== text(y)) out.push({path, source: x, target: y})
  }
  walk(root, a, b)
  return out
}
