import {randomUUID} from 'node:crypto'
import {redact} from './redact.js'

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
export type LogFormat = 'text' | 'json'

const LEVELS: Record<LogLevel, number> = {debug: 10, info: 20, warn: 30, error: 40}

export interface LogFields {
  service?: string
  component?: string
  [k: string]: unknown
}

interface Sink {
  write(line: string): void
}

interface LoggerOptions {
  runId: string
  level: LogLevel
  format: LogFormat
  sink: Sink
}

/**
 * Structured logger writing to stderr. Every line carries the run id, and the
 * service and component when known, so one migration can be followed across
 * hosts: `strangler --log-format json ... 2> >(jq)`.
 */
export class Logger {
  private readonly opts: LoggerOptions
  private readonly fields: LogFields

  constructor(opts: LoggerOptions, fields: LogFields = {}) {
    this.opts = opts
    this.fields = fields
  }

  get runId(): string {
    return this.opts.runId
  }

  /** A logger whose lines also carry these fields (`log.child({component: 'relay'})`). */
  child(fields: LogFields): Logger {
    return new Logger(this.opts, {...this.fields, ...fields})
  }

  enabled(level: LogLevel): boolean {
    return LEVELS[level] >= LEVELS[this.opts.level]
  }

  debug(msg: string, fields?: LogFields): void {
    this.emit('debug', msg, fields)
  }
  info(msg: string, fields?: LogFields): void {
    this.emit('info', msg, fields)
  }
  warn(msg: string, fields?: LogFields): void {
    this.emit('warn', msg, fields)
  }
  error(msg: string, fields?: LogFields): void {
    this.emit('error', msg, fields)
  }

  private emit(level: LogLevel, msg: string, extra?: LogFields): void {
    if (!this.enabled(level)) return
    const all = {...this.fields, ...extra}
    if (this.opts.format === 'json') {
      const rec = {time: new Date().toISOString(), level, runId: this.opts.runId, msg, ...all}
      this.opts.sink.write(redact(JSON.stringify(rec)) + '\n')
      return
    }
    const {service, component, ...rest} = all
    const where = [service, component].filter(Boolean).join('/')
    const kv = Object.entries(rest)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ')
    const time = new Date().toISOString().slice(11, 23)
    const line = `${time} ${level.toUpperCase().padEnd(5)} [${this.opts.runId.slice(0, 8)}${where ? ' ' + where : ''}] ${msg}${kv ? ' ' + kv : ''}`
    this.opts.sink.write(redact(line) + '\n')
  }
}

export function newRunId(): string {
  return randomUUID()
}

let root: Logger | undefined

/** Configures the process-wide logger (called once by the base command). */
export function configureLogger(opts: Partial<Omit<LoggerOptions, 'sink'>> & {sink?: Sink} = {}): Logger {
  root = new Logger({
    runId: opts.runId ?? process.env.STRANGLER_RUN_ID ?? newRunId(),
    level: opts.level ?? ((process.env.STRANGLER_LOG_LEVEL as LogLevel | undefined) ?? 'info'),
    format: opts.format ?? ((process.env.STRANGLER_LOG_FORMAT as LogFormat | undefined) ?? 'text'),
    sink: opts.sink ?? process.stderr,
  })
  return root
}

/** The process-wide logger; a quiet default (warnings and errors) until configured. */
export function logger(): Logger {
  if (!root) root = configureLogger({level: (process.env.STRANGLER_LOG_LEVEL as LogLevel | undefined) ?? 'warn'})
  return root
}
