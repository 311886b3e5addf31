/**
 * The CLI as a child process that a test can watch and kill -9: like
 * `runCli` (test/helpers/cli.ts), plus waiting for a line on stdout/stderr
 * and SIGKILL at a chosen moment.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {DEV_BIN} from '../../helpers/cli.js'

export interface CliOutcome {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  ms: number
}

export interface CliProcess {
  readonly child: ChildProcess
  readonly done: Promise<CliOutcome>
  stdout(): string
  stderr(): string
  /** Resolves when stdout or stderr matches (true), or the process ended or the time ran out first (false). */
  waitFor(re: RegExp, timeoutMs?: number): Promise<boolean>
  /** True once the process has exited. */
  exited(): boolean
  kill(signal?: NodeJS.Signals): void
}

const running = new Set<ChildProcess>()

/** Kills every CLI child still running (afterEach/afterAll). */
export function killAllCli(): void {
  for (const c of running) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  running.clear()
}

/** Starts `strangler ARGS` from source (bin/dev.js through tsx). */
export function startCli(args: readonly string[], opts: {cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number}): CliProcess {
  const started = performance.now()
  const child = spawn(process.execPath, [DEV_BIN, ...args], {
    cwd: opts.cwd,
    // V8's compile cache saves a good part of each start (the suite starts the CLI a few hundred times)
    env: {...process.env, FORCE_COLOR: '0', STRANGLER_TEST_CRASH_AT: '', NODE_COMPILE_CACHE: join(tmpdir(), 'strangler-test-node-cache'), ...opts.env},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.add(child)
  let stdout = ''
  let stderr = ''
  const watchers = new Set<() => void>()
  const poke = () => watchers.forEach((w) => w())
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString()
    poke()
  })
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString()
    poke()
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 180_000)
  let exited = false
  const done = new Promise<CliOutcome>((resolve) => {
    child.on('close', (code, signal) => {
      exited = true
      clearTimeout(timer)
      running.delete(child)
      poke()
      resolve({code, signal, stdout, stderr, ms: Math.round(performance.now() - started)})
    })
  })
  return {
    child,
    done,
    stdout: () => stdout,
    stderr: () => stderr,
    exited: () => exited,
    kill: (signal = 'SIGKILL') => {
      if (!exited) child.kill(signal)
    },
    waitFor(re, timeoutMs = 60_000) {
      return new Promise<boolean>((resolve) => {
        const check = (): void => {
          if (re.test(stdout) || re.test(stderr)) finish(true)
          else if (exited) finish(false)
        }
        const t = setTimeout(() => finish(false), timeoutMs)
        function finish(v: boolean): void {
          clearTimeout(t)
          watchers.delete(check)
          resolve(v)
        }
        watchers.add(check)
        check()
      })
    },
  }
}

/** Runs the CLI to the end. */
export function runCliProcess(args: readonly string[], opts: {cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number}): Promise<CliOutcome> {
  return startCli(args, opts).done
}
