/**
 * Secret redaction. Every string that leaves the process (logs, errors, audit
 * records, reports) goes through `redact`. Secrets are registered as they are
 * read from the plan or the environment, so a password is masked even where it
 * appears outside a URL (for example in a driver's error message).
 */
const secrets = new Set<string>()

export const MASK = '********'

/** Remember a secret value so every later `redact` masks it. Ignores short values. */
export function registerSecret(value: string | undefined | null): void {
  if (!value) return
  if (value.length < 3) return
  secrets.add(value)
  try {
    const enc = encodeURIComponent(value)
    if (enc !== value) secrets.add(enc)
  } catch {
    // ignore malformed values
  }
}

/** Registers the password (and token-like query parameters) of a connection URL. */
export function registerUrlSecrets(url: string | undefined): void {
  if (!url) return
  try {
    const u = new URL(url)
    if (u.password) {
      registerSecret(decodeURIComponent(u.password))
      registerSecret(u.password)
    }
    for (const [k, v] of u.searchParams) {
      if (/pass|secret|token|key/i.test(k)) registerSecret(v)
    }
  } catch {
    // not a URL
  }
}

/** Masks the password of a URL (`postgres://app:********@host/db`). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = MASK
    for (const k of [...u.searchParams.keys()]) {
      if (/pass|secret|token|key/i.test(k)) u.searchParams.set(k, MASK)
    }
    return u.toString()
  } catch {
    return redact(url)
  }
}

const URL_CRED = /\b([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*):([^@/\s]+)@/gi

/** Masks every registered secret and every `scheme://user:password@` credential in a string. */
export function redact(text: string): string {
  let out = text.replace(URL_CRED, (_m, head: string) => `${head}:${MASK}@`)
  // longest first, so a secret containing another is masked whole
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) {
    if (out.includes(s)) out = out.split(s).join(MASK)
  }
  return out
}

/** Deep-copies a JSON-like value with every string redacted and secret-named keys masked. */
export function redactDeep<T>(value: T): T {
  const walk = (v: unknown, key?: string): unknown => {
    if (typeof v === 'string') {
      if (key && /^(password|passwd|secret|token|adminToken|clientToken|apiToken)$/i.test(key)) return MASK
      return redact(v)
    }
    if (Array.isArray(v)) return v.map((x) => walk(x))
    if (v && typeof v === 'object' && !(v instanceof Date) && !Buffer.isBuffer(v)) {
      const o: Record<string, unknown> = {}
      for (const [k, x] of Object.entries(v)) o[k] = walk(x, k)
      return o
    }
    return v
  }
  return walk(value) as T
}
