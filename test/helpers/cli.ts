import {spawn} from 'node:child_process'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

const ROOT = resolve(import.meta.dirname, '..', '..')
export const DEV_BIN = join(ROOT, 'bin', 'dev.js')

/** Runs the CLI from source (bin/dev.js through tsx) as a child process, like an operator would. */
export function runCli(args: readonly string[], opts: {cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string} = {}): Promise<CliResult> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [DEV_BIN, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: {...process.env, FORCE_COLOR: '0', ...opts.env},
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000)
    child.on('error', rej)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      res({code, signal, stdout, stderr})
    })
    child.stdin.end(opts.input ?? '')
  })
}

/** A temp directory holding a plan file (`strangler.config.json`, or the given name). */
export function planDir(plan: unknown, name = 'strangler.config.json'): string {
  const dir = mkdtempSync(join(tmpdir(), 'strangler-plan-'))
  writeFileSync(join(dir, name), typeof plan === 'string' ? plan : JSON.stringify(plan, null, 2))
  return dir
}
