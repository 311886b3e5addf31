/**
 * Errors the operator can act on. A `UserError` is bad input or an unreachable
 * precondition: the CLI prints its message (no stack trace) and exits 2.
 * `DifferencesFound` and `GateFailed` exit 1. Anything else is a bug and exits 2
 * with a short message; `--log-level debug` shows the stack.
 */
export class UserError extends Error {
  readonly exitCode: number
  readonly hint?: string
  readonly code: string

  constructor(message: string, opts: {hint?: string; code?: string; exitCode?: number; cause?: unknown} = {}) {
    super(message, opts.cause === undefined ? undefined : {cause: opts.cause})
    this.name = 'UserError'
    this.hint = opts.hint
    this.code = opts.code ?? 'E_USER'
    this.exitCode = opts.exitCode ?? 2
  }
}

/** A configuration problem at a precise path of the plan file. */
export class ConfigError extends UserError {
  readonly issues: readonly string[]
  constructor(file: string, issues: readonly string[]) {
    super(`Invalid plan ${file}:\n${issues.map((i) => `  - ${i}`).join('\n')}`, {
      code: 'E_CONFIG',
      hint: 'Fix the listed entries in the plan file; `strangler plan --help` shows an example plan.',
    })
    this.name = 'ConfigError'
    this.issues = issues
  }
}

/** Raised when a gate refuses a phase change; exits 1. */
export class GateError extends UserError {
  constructor(message: string, opts: {hint?: string} = {}) {
    super(message, {code: 'E_GATE', exitCode: 1, hint: opts.hint})
    this.name = 'GateError'
  }
}

/** Adds where an error happened, Ghostferry-style: `during backfill of users near key (10)`. */
export function withContext(err: unknown, context: string): Error {
  if (err instanceof UserError) {
    const e = new UserError(`${context}: ${err.message}`, {hint: err.hint, code: err.code, exitCode: err.exitCode, cause: err})
    return e
  }
  const base = err instanceof Error ? err : new Error(String(err))
  const e = new Error(`${context}: ${base.message}`, {cause: base})
  return e
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
