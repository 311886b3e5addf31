import {registerSecret, registerUrlSecrets} from '../util/redact.js'

const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g

export interface InterpolationResult<T> {
  value: T
  missing: {path: string; variable: string}[]
}

/**
 * Replaces `${NAME}` and `${NAME:-default}` in every string of a plan with the
 * environment's value. Values substituted into URLs or secret-named keys are
 * registered for redaction. Functions (JS column transforms) are kept as they are.
 */
export function interpolateEnv<T>(input: T, env: NodeJS.ProcessEnv = process.env): InterpolationResult<T> {
  const missing: {path: string; variable: string}[] = []
  const walk = (v: unknown, path: string, key: string): unknown => {
    if (typeof v === 'string') {
      const out = v.replace(VAR, (_m, name: string, def: string | undefined) => {
        const val = env[name]
        if (val === undefined || val === '') {
          if (def !== undefined) return def
          missing.push({path, variable: name})
          return ''
        }
        if (/token|secret|password/i.test(key) || /token|secret|password/i.test(name)) registerSecret(val)
        return val
      })
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(out)) registerUrlSecrets(out)
      if (/token|secret|password/i.test(key)) registerSecret(out)
      return out
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, `${path}[${i}]`, key))
    if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      const o: Record<string, unknown> = {}
      // defineProperty: a `__proto__` key of a JSON/YAML plan stays a key (reported as unknown), it never becomes the prototype
      for (const [k, x] of Object.entries(v)) Object.defineProperty(o, k, {value: walk(x, path ? `${path}.${k}` : k, k), enumerable: true, writable: true, configurable: true})
      return o
    }
    return v
  }
  return {value: walk(input, '', '') as T, missing}
}
