import progressBars from 'cli-progress'
import type {ProgressReporter, ProgressTask} from '../util/progress.js'
import {formatDuration} from './render.js'

/**
 * cli-progress multi-bar on an interactive stderr (rows, rows/s, ETA per
 * task); plain periodic lines when stderr is not a TTY; nothing when quiet
 * (--json). Bars go to stderr so stdout stays clean for results.
 */
export function cliProgress(opts: {quiet: boolean; intervalMs?: number; stream?: NodeJS.WriteStream}): ProgressReporter {
  const stream = opts.stream ?? process.stderr
  if (opts.quiet) {
    return {task: () => ({setTotal() {}, increment() {}, update() {}, stop() {}}), note: () => undefined, close: () => undefined}
  }
  if (stream.isTTY) return ttyReporter(stream)
  return lineReporter(stream, opts.intervalMs ?? 5000)
}

function rate(done: number, started: number): number {
  const s = (Date.now() - started) / 1000
  return s > 0 ? done / s : 0
}

function ttyReporter(stream: NodeJS.WriteStream): ProgressReporter {
  const multi = new progressBars.MultiBar(
    {
      stream,
      clearOnComplete: false,
      hideCursor: true,
      format: ' {label} |{bar}| {percentage}% {value}/{total} {unit} | {rate}/s | ETA {eta_formatted} {extra}',
      barsize: 28,
      etaBuffer: 50,
      fps: 8,
    },
    progressBars.Presets.shades_classic,
  )
  let width = 10
  return {
    task(label, total, unit = 'rows') {
      width = Math.max(width, label.length)
      const started = Date.now()
      const bar = multi.create(Math.max(total, 0), 0, {label: label.padEnd(width), unit, rate: '0', extra: ''})
      let done = 0
      const payload = (p?: Record<string, string | number>) => ({label: label.padEnd(width), unit, rate: Math.round(rate(done, started)).toLocaleString('en-US'), extra: '', ...p})
      return {
        setTotal: (t) => bar.setTotal(Math.max(t, done)),
        increment: (n, p) => {
          done += n
          if (done > bar.getTotal()) bar.setTotal(done)
          bar.update(done, payload(p))
        },
        update: (d, p) => {
          done = d
          if (done > bar.getTotal()) bar.setTotal(done)
          bar.update(done, payload(p))
        },
        stop: (msg) => {
          bar.update(done, payload({extra: msg ?? ''}))
          bar.stop()
        },
      }
    },
    note: (m) => multi.log(`${m}\n`),
    close: () => multi.stop(),
  }
}

function lineReporter(stream: NodeJS.WriteStream, intervalMs: number): ProgressReporter {
  const tasks = new Set<() => void>()
  const timer = setInterval(() => tasks.forEach((t) => t()), intervalMs)
  timer.unref()
  return {
    task(label, total, unit = 'rows') {
      const started = Date.now()
      let done = 0
      let tot = total
      let last = -1
      const print = (final = false, msg = '') => {
        if (!final && done === last) return
        last = done
        const pct = tot > 0 ? ` (${Math.min(100, Math.floor((done / tot) * 100))}%)` : ''
        const r = rate(done, started)
        const eta = !final && tot > done && r > 0 ? `, ETA ${formatDuration(((tot - done) / r) * 1000)}` : ''
        stream.write(`${label}: ${done.toLocaleString('en-US')}${tot > 0 ? '/' + tot.toLocaleString('en-US') : ''} ${unit}${pct}, ${Math.round(r).toLocaleString('en-US')} ${unit}/s${eta}${final ? ` — done in ${formatDuration(Date.now() - started)}` : ''}${msg ? ` ${msg}` : ''}\n`)
      }
      tasks.add(print)
      const t: ProgressTask = {
        setTotal: (n) => (tot = n),
        increment: (n) => (done += n),
        update: (d) => (done = d),
        stop: (msg) => {
          tasks.delete(print)
          print(true, msg)
        },
      }
      return t
    },
    note: (m) => stream.write(`${m}\n`),
    close: () => clearInterval(timer),
  }
}
