/**
 * Real servers for the integration, e2e and reliability tests.
 *
 * For each server, in this order:
 *   1. an environment URL wins (STRANGLER_TEST_PG_URL, STRANGLER_TEST_MYSQL_URL,
 *      STRANGLER_TEST_MONGO_URL, STRANGLER_TEST_UNLEASH_URL + _ADMIN_TOKEN + _CLIENT_TOKEN);
 *   2. else the server is started from local binaries on a free loopback port in a temp dir
 *      (PostgreSQL 15, mariadbd, ferretdb v1, the unleash-server npm package in a child process);
 *   3. else, if a Docker engine is reachable, testcontainers;
 *   4. else the start fails with one message naming every missing server and how to provide it.
 *
 * The process that calls `TestServers.start()` (vitest's main process, through
 * test/global-setup.ts, or scripts/servers.ts) owns the servers: they are its children,
 * spawned through `setpriv --pdeathsig SIGKILL` so they die with it even when it is killed
 * with SIGKILL, and killed again from an `exit` handler. Temp dirs of runs that crashed are
 * removed by the next start. Test workers stop/start/restart servers through a small HTTP
 * control endpoint of the owning process (`restartServer()` and friends below), so a
 * restarted server is still a child of the owner and still cleaned up.
 *
 * This module must stay importable from both the vitest main process and test workers:
 * it does not import `vitest` at runtime.
 */
import {spawn, execFileSync, type ChildProcess, type SpawnOptions} from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import pg from 'pg';
import mysql from 'mysql2/promise';
import {MongoClient} from 'mongodb';

export type ServerKind = 'postgres' | 'mariadb' | 'ferretdb' | 'unleash';
export type ServerSource = 'env' | 'local' | 'container';
export type StopMode = 'graceful' | 'immediate' | 'kill';

export interface ServerInfo {
  kind: ServerKind;
  source: ServerSource;
  /** Admin URL (password included for postgres/mariadb). */
  url: string;
  version: string;
  /** Wall time of the (first) start, in milliseconds; 0 for env URLs. */
  startupMs: number;
  /** Only for local servers. */
  pid?: number;
  port?: number;
  dataDir?: string;
  logFile?: string;
  /** Whether stopServer/startServer/restartServer work for it (local servers only). */
  restartable: boolean;
}

export interface UnleashInfo {
  url: string;
  adminToken: string;
  clientToken: string;
}

export interface TestServersInfo {
  pg: string;
  mysql: string;
  mongo: string;
  /** The PostgreSQL/MariaDB password (generated for local servers, parsed from env URLs). */
  password: string;
  /** null when skipped with STRANGLER_TEST_SKIP_UNLEASH=1 (see `unleashSkipped`). */
  unleash: UnleashInfo | null;
  unleashSkipped: string | null;
  /** HTTP endpoint of the owning process for stop/start/restart; null when nothing is restartable. */
  controlUrl: string | null;
  controlToken: string | null;
  /** JSON file with pids, ports, data dirs and logs of the local servers (kept up to date). */
  stateFile: string;
  tmpDir: string;
  servers: Partial<Record<ServerKind, ServerInfo>>;
}

declare module 'vitest' {
  export interface ProvidedContext {
    stranglerServers: TestServersInfo;
  }
}

/** Environment variables the owning process exports for workers and child CLI processes. */
export const ENV = {
  pg: 'STRANGLER_TEST_PG_URL',
  mysql: 'STRANGLER_TEST_MYSQL_URL',
  mongo: 'STRANGLER_TEST_MONGO_URL',
  unleashUrl: 'STRANGLER_TEST_UNLEASH_URL',
  unleashAdminToken: 'STRANGLER_TEST_UNLEASH_ADMIN_TOKEN',
  unleashClientToken: 'STRANGLER_TEST_UNLEASH_CLIENT_TOKEN',
  password: 'STRANGLER_TEST_PASSWORD',
  skipUnleash: 'STRANGLER_TEST_SKIP_UNLEASH',
  controlUrl: 'STRANGLER_TEST_CONTROL_URL',
  controlToken: 'STRANGLER_TEST_CONTROL_TOKEN',
  stateFile: 'STRANGLER_TEST_STATE_FILE',
  /** Optional overrides for binary locations. */
  pgBinDir: 'STRANGLER_PG_BIN_DIR',
  mariadbd: 'STRANGLER_MARIADBD',
  ferretdb: 'STRANGLER_FERRETDB',
  /** Comma list of kinds (or 1/all) not to start from local binaries: exercises the container fallback and the error message. */
  noLocal: 'STRANGLER_TEST_NO_LOCAL',
} as const;

function localAllowed(kind: ServerKind): boolean {
  const v = (process.env[ENV.noLocal] ?? '').trim();
  if (!v || v === '0') return true;
  if (v === '1' || v === 'all') return false;
  return !v.split(',').map((s) => s.trim()).includes(kind);
}

/** Environment variables describing the servers, for child processes (e2e CLI runs). */
export function serverEnv(info: TestServersInfo): Record<string, string> {
  const env: Record<string, string> = {
    [ENV.pg]: info.pg,
    [ENV.mysql]: info.mysql,
    [ENV.mongo]: info.mongo,
    [ENV.password]: info.password,
    [ENV.stateFile]: info.stateFile,
  };
  if (info.unleash) {
    env[ENV.unleashUrl] = info.unleash.url;
    env[ENV.unleashAdminToken] = info.unleash.adminToken;
    env[ENV.unleashClientToken] = info.unleash.clientToken;
  }
  if (info.controlUrl && info.controlToken) {
    env[ENV.controlUrl] = info.controlUrl;
    env[ENV.controlToken] = info.controlToken;
  }
  return env;
}

const READY_TIMEOUT_MS = Number(process.env.STRANGLER_TEST_READY_TIMEOUT_MS ?? 120_000);
const STOP_TIMEOUT_MS = 30_000;
const TMP_PREFIX = 'strangler-test-';
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

// ---------------------------------------------------------------------------------------------
// small utilities

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function randomSecret(bytes = 12): string {
  return crypto.randomBytes(bytes).toString('hex');
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const {port} = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function tail(file: string | undefined, lines = 40): string {
  if (!file) return '(no log)';
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.split('\n').slice(-lines).join('\n');
  } catch {
    return `(no log at ${file})`;
  }
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** First executable named `name` on PATH (plus the sbin dirs, which a non-root PATH lacks). */
function which(name: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).concat(['/usr/sbin', '/usr/local/sbin', '/sbin']);
  for (const dir of dirs) {
    if (dir && isExecutable(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The uid/gid to run PostgreSQL as: it refuses to run as root. */
function postgresUser(): {uid: number; gid: number} | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], {encoding: 'utf8'}).trim());
      const gid = Number(execFileSync('id', ['-g', name], {encoding: 'utf8'}).trim());
      if (Number.isInteger(uid) && Number.isInteger(gid)) return {uid, gid};
    } catch {
      // try the next one
    }
  }
  throw new Error('running as root and neither a "postgres" nor a "nobody" user exists to run PostgreSQL as');
}

const SETPRIV = which('setpriv');

/**
 * Spawn `cmd` so that it dies with this process: `setpriv --pdeathsig SIGKILL` (util-linux)
 * makes the kernel kill it when its parent thread (this process's main thread) dies.
 */
function spawnOwned(cmd: string, args: string[], opts: SpawnOptions & {logFile: string}): ChildProcess {
  const fd = fs.openSync(opts.logFile, 'a');
  try {
    const [file, argv] = SETPRIV ? [SETPRIV, ['--pdeathsig', 'SIGKILL', '--', cmd, ...args]] : [cmd, args];
    const child = spawn(file, argv, {...opts, stdio: ['ignore', fd, fd], detached: false});
    child.on('error', () => {
      // reported through the readiness check (exitCode / log tail)
    });
    return child;
  } finally {
    fs.closeSync(fd);
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

async function stopChild(child: ChildProcess | undefined, signal: NodeJS.Signals, timeoutMs = STOP_TIMEOUT_MS) {
  if (!child || exited(child)) return;
  child.kill(signal);
  if (await waitExit(child, timeoutMs)) return;
  child.kill('SIGKILL');
  await waitExit(child, 5_000);
}

async function waitReady(
  name: string,
  probe: () => Promise<void>,
  opts: {child?: ChildProcess; logFile?: string; timeoutMs?: number},
): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? READY_TIMEOUT_MS);
  let last: unknown;
  for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
    if (opts.child && exited(opts.child)) {
      throw new Error(
        `${name} exited during startup (code ${opts.child.exitCode}, signal ${opts.child.signalCode}). ` +
          `Log tail (${opts.logFile}):\n${tail(opts.logFile)}`,
      );
    }
    try {
      await probe();
      return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${name} did not become ready within ${Math.round((opts.timeoutMs ?? READY_TIMEOUT_MS) / 1000)} s ` +
          `(last error: ${errorMessage(last)}). Log tail (${opts.logFile}):\n${tail(opts.logFile)}`,
      );
    }
    await sleep(delay);
  }
}

// ---------------------------------------------------------------------------------------------
// probes (also used for version strings)

async function pgQuery<T = Record<string, unknown>>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({connectionString: url, connectionTimeoutMillis: 5_000});
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end().catch(() => {});
  }
}

async function pgVersion(url: string): Promise<string> {
  const [row] = await pgQuery<{version: string}>(url, 'select version() as version');
  return row.version;
}

async function mysqlVersion(url: string): Promise<string> {
  const conn = await mysql.createConnection({uri: url, connectTimeout: 5_000});
  try {
    const [rows] = await conn.query('select version() as version');
    return (rows as Array<{version: string}>)[0].version;
  } finally {
    await conn.end().catch(() => {});
  }
}

async function mongoVersion(url: string): Promise<string> {
  const client = new MongoClient(url, {serverSelectionTimeoutMS: 2_000, connectTimeoutMS: 2_000});
  try {
    await client.connect();
    const info = await client.db('admin').command({buildInfo: 1});
    const ferret = (info as {ferretdbVersion?: string}).ferretdbVersion;
    return ferret ? `FerretDB ${ferret} (MongoDB ${info.version})` : `MongoDB ${info.version}`;
  } finally {
    await client.close().catch(() => {});
  }
}

async function unleashProbe(url: string, adminToken: string): Promise<string> {
  const health = await fetch(new URL('/health', url), {signal: AbortSignal.timeout(5_000)});
  if (!health.ok) throw new Error(`GET /health: ${health.status}`);
  const res = await fetch(new URL('/api/admin/ui-config', url), {
    headers: {Authorization: adminToken},
    signal: AbortSignal.timeout(5_000),
  });
  if (!res.ok) throw new Error(`GET /api/admin/ui-config with the admin token: ${res.status}`);
  const body = (await res.json()) as {version?: string; versionInfo?: {current?: {oss?: string}}};
  return `Unleash ${body.versionInfo?.current?.oss ?? body.version ?? '?'}`;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

function passwordOf(url: string | undefined): string {
  if (!url) return '';
  try {
    return decodeURIComponent(new URL(url).password);
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------------------------------------
// managed servers

interface Managed {
  info: ServerInfo;
  start(): Promise<void>;
  stop(mode: StopMode): Promise<void>;
  /** Synchronous last-resort kill (exit handler). */
  killNow(): void;
  running(): boolean;
}

class LocalProcessServer implements Managed {
  child: ChildProcess | undefined;

  constructor(
    public info: ServerInfo,
    private readonly launch: () => ChildProcess,
    private readonly probe: () => Promise<void>,
    private readonly signals: Record<Exclude<StopMode, 'kill'>, NodeJS.Signals>,
    private readonly onChange: () => void,
  ) {}

  running(): boolean {
    return !!this.child && !exited(this.child);
  }

  /** Spawn without waiting for readiness (start() then waits). */
  launchEarly(): void {
    if (!this.running()) this.child = this.launch();
  }

  async start(): Promise<void> {
    // After a SIGKILL, leftovers of the old server (PostgreSQL backends still attached to shared
    // memory, a port in TIME_WAIT, InnoDB's lock) can make the first start fail: retry those.
    for (let attempt = 1; ; attempt++) {
      if (!this.running()) this.child = this.launch();
      const child = this.child!;
      try {
        await waitReady(this.info.kind, this.probe, {child, logFile: this.info.logFile});
        this.info.pid = child.pid;
        this.onChange();
        return;
      } catch (err) {
        await stopChild(child, 'SIGKILL', 5_000);
        const transient = /still in use|already in use|could not bind|Unable to lock|lock file .* exists|EADDRINUSE/i;
        if (attempt >= 10 || !exited(child) || !transient.test(errorMessage(err))) throw err;
        await sleep(500);
      }
    }
  }

  async stop(mode: StopMode): Promise<void> {
    const child = this.child;
    if (!child) return;
    await stopChild(child, mode === 'kill' ? 'SIGKILL' : this.signals[mode]);
    // setpriv execs the server, so the pid is the server's own; make sure nothing is left
    this.info.pid = undefined;
    this.onChange();
  }

  killNow(): void {
    if (this.child && !exited(this.child)) {
      try {
        this.child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

class ContainerServer implements Managed {
  constructor(
    public info: ServerInfo,
    private readonly container: {stop(opts?: {timeout?: number}): Promise<unknown>},
  ) {}
  running(): boolean {
    return true;
  }
  async start(): Promise<void> {
    throw new Error(`${this.info.kind} runs in a container: stop/start/restart are only supported for local servers`);
  }
  async stop(): Promise<void> {
    await this.container.stop({timeout: 5_000}).catch(() => {});
  }
  killNow(): void {
    // testcontainers' reaper (ryuk) removes containers of a dead process
  }
}

// ---------------------------------------------------------------------------------------------
// discovery of local binaries

function pgBinDir(): string | undefined {
  const candidates = [process.env[ENV.pgBinDir], '/usr/lib/postgresql/15/bin'].filter(Boolean) as string[];
  return candidates.find((dir) => isExecutable(path.join(dir, 'initdb')) && isExecutable(path.join(dir, 'postgres')));
}

function mariadbBinaries(): {mariadbd: string; installDb: string} | undefined {
  const mariadbd = process.env[ENV.mariadbd] || which('mariadbd');
  const installDb = which('mariadb-install-db') ?? which('mysql_install_db');
  return mariadbd && installDb && isExecutable(mariadbd) ? {mariadbd, installDb} : undefined;
}

/** ferretdb binary that actually runs (a plain `go install …@v1.24.2` build panics on start). */
function ferretdbBinary(): {bin?: string; problem?: string} {
  const home = os.homedir();
  const candidates = [process.env[ENV.ferretdb], which('ferretdb'), path.join(home, 'go', 'bin', 'ferretdb')].filter(
    Boolean,
  ) as string[];
  let problem: string | undefined;
  for (const bin of [...new Set(candidates)]) {
    if (!isExecutable(bin)) continue;
    try {
      const out = execFileSync(bin, ['--version'], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000});
      if (/v1\./.test(out)) return {bin};
      problem = `${bin} is not FerretDB v1 (${out.split('\n')[0]})`;
    } catch (err) {
      const stderr = String((err as {stderr?: string}).stderr ?? '');
      problem = `${bin} does not run: ${stderr.split('\n')[0] || errorMessage(err)}`;
    }
  }
  return {problem};
}

const INSTALL_HINT: Record<ServerKind, string> = {
  postgres:
    `set ${ENV.pg}=postgres://USER:PASSWORD@HOST:PORT/postgres (a superuser: tests create databases), ` +
    `or install the server binaries: apt-get install -y postgresql-15 (expects /usr/lib/postgresql/15/bin/initdb; ` +
    `or set ${ENV.pgBinDir})`,
  mariadb:
    `set ${ENV.mysql}=mysql://USER:PASSWORD@HOST:PORT/ (a user with ALL PRIVILEGES ... WITH GRANT OPTION and local_infile), ` +
    `or install the server: apt-get install -y mariadb-server (expects mariadbd and mariadb-install-db)`,
  ferretdb:
    `set ${ENV.mongo}=mongodb://HOST:PORT/, or build FerretDB v1: bash scripts/ci/ferretdb.sh ` +
    `(go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2 plus the version.txt it needs; ` +
    `installs $HOME/go/bin/ferretdb; or set ${ENV.ferretdb})`,
  unleash:
    `set ${ENV.unleashUrl} + ${ENV.unleashAdminToken} + ${ENV.unleashClientToken}, or run npm ci ` +
    `(devDependency unleash-server) with a test PostgreSQL available`,
};

// ---------------------------------------------------------------------------------------------
// the owner

export interface StartOptions {
  /** Start (or require) Unleash; default: unless STRANGLER_TEST_SKIP_UNLEASH=1. */
  unleash?: boolean;
  /** Progress log; default stderr. */
  log?: (message: string) => void;
}

interface StateFile {
  ownerPid: number;
  tmpDir: string;
  servers: Partial<Record<ServerKind, ServerInfo>>;
}

export class TestServers {
  private readonly managed = new Map<ServerKind, Managed>();
  private controlServer: http.Server | undefined;
  private readonly exitHandler = () => this.killNowSync();
  private stopped = false;
  private readonly pgUser = postgresUser();
  private dockerProblem: string | undefined;
  private dockerChecked: Promise<boolean> | undefined;
  info!: TestServersInfo;

  private constructor(
    readonly tmpDir: string,
    private readonly log: (message: string) => void,
  ) {}

  static async start(options: StartOptions = {}): Promise<TestServers> {
    const log = options.log ?? ((message: string) => process.stderr.write(`[test-servers] ${message}\n`));
    removeStaleTmpDirs(log);
    const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), `${TMP_PREFIX}${process.pid}-`));
    fs.chmodSync(tmpDir, 0o755);
    const servers = new TestServers(tmpDir, log);
    process.on('exit', servers.exitHandler);
    try {
      await servers.startAll(options.unleash ?? process.env[ENV.skipUnleash] !== '1');
    } catch (err) {
      await servers.stop();
      throw err;
    }
    return servers;
  }

  private async startAll(wantUnleash: boolean): Promise<void> {
    const password = `pw-${randomSecret(9)}`;
    const t0 = Date.now();
    const missing: ServerKind[] = [];
    const failures: string[] = [];
    const attempt = async <T>(kind: ServerKind, fn: () => Promise<T | undefined>): Promise<T | undefined> => {
      try {
        const result = await fn();
        if (result === undefined) missing.push(kind);
        return result;
      } catch (err) {
        failures.push(`${kind}: ${errorMessage(err)}`);
        return undefined;
      }
    };

    // Everything at once; FerretDB (pg handler) and Unleash wait for PostgreSQL inside, Unleash
    // after importing unleash-server (≈2 s) in its child process meanwhile.
    const pgPromise = attempt('postgres', () => this.providePostgres(password));
    const [pgInfo, mysqlInfo, mongoInfo, unleash] = await Promise.all([
      pgPromise,
      attempt('mariadb', () => this.provideMariaDB(password)),
      attempt('ferretdb', async () => this.provideFerretDB(await pgPromise)),
      wantUnleash
        ? attempt('unleash', () => this.provideUnleash(pgPromise))
        : Promise.resolve(undefined as UnleashInfo | undefined),
    ]);

    if (missing.length || failures.length) {
      const lines = ['The integration tests need real servers, and some could not be provided.'];
      for (const kind of missing) {
        lines.push(`- ${kind} is missing. Provide it: ${INSTALL_HINT[kind]}.`);
      }
      if (missing.some((k) => k !== 'unleash') && this.dockerProblem) {
        lines.push(`  (testcontainers fallback unavailable: ${this.dockerProblem})`);
      }
      for (const failure of failures) lines.push(`- ${failure}`);
      throw new Error(lines.join('\n'));
    }

    this.info = {
      pg: pgInfo!.url,
      mysql: mysqlInfo!.url,
      mongo: mongoInfo!.url,
      password: process.env[ENV.pg] ? passwordOf(pgInfo!.url) || passwordOf(mysqlInfo!.url) : password,
      unleash: unleash ?? null,
      unleashSkipped: wantUnleash ? null : `${ENV.skipUnleash}=1`,
      controlUrl: null,
      controlToken: null,
      stateFile: path.join(this.tmpDir, 'state.json'),
      tmpDir: this.tmpDir,
      servers: Object.fromEntries([...this.managed].map(([k, m]) => [k, m.info])),
    };
    if ([...this.managed.values()].some((m) => m.info.restartable)) await this.startControlServer();
    this.writeState();
    const summary = [...this.managed.values()]
      .map((m) => `${m.info.kind} ${m.info.source} ${(m.info.startupMs / 1000).toFixed(1)}s`)
      .join(', ');
    this.log(`ready in ${((Date.now() - t0) / 1000).toFixed(1)}s: ${summary}${wantUnleash ? '' : ', unleash skipped'}`);
  }

  // --- PostgreSQL -----------------------------------------------------------------------------

  private async providePostgres(password: string): Promise<ServerInfo | undefined> {
    const envUrl = process.env[ENV.pg];
    if (envUrl) return this.adopt('postgres', envUrl, () => pgVersion(envUrl));
    const bin = localAllowed('postgres') ? pgBinDir() : undefined;
    if (bin) return this.localPostgres(bin, password);
    return this.containerPostgres(password);
  }

  private async localPostgres(bin: string, password: string): Promise<ServerInfo> {
    const t0 = Date.now();
    const dir = path.join(this.tmpDir, 'postgres');
    const dataDir = path.join(dir, 'data');
    const logFile = path.join(dir, 'postgres.log');
    fs.mkdirSync(dir, {mode: 0o700});
    const pwfile = path.join(dir, 'pwfile');
    fs.writeFileSync(pwfile, `${password}\n`, {mode: 0o600});
    fs.writeFileSync(logFile, '');
    if (this.pgUser) {
      for (const f of [dir, pwfile, logFile]) fs.chownSync(f, this.pgUser.uid, this.pgUser.gid);
    }
    const asUser: SpawnOptions = this.pgUser ? {uid: this.pgUser.uid, gid: this.pgUser.gid} : {};
    try {
      execFileSync(
        path.join(bin, 'initdb'),
        ['-D', dataDir, '-U', 'strangler', `--pwfile=${pwfile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync'],
        {...asUser, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', env: {...process.env, TZ: 'UTC'}},
      );
    } catch (err) {
      throw new Error(`initdb failed: ${String((err as {stderr?: string}).stderr ?? errorMessage(err))}`);
    } finally {
      fs.rmSync(pwfile, {force: true});
    }
    const port = await freePort();
    const url = `postgres://strangler:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
    const info: ServerInfo = {kind: 'postgres', source: 'local', url, version: '', startupMs: 0, port, dataDir, logFile, restartable: true};
    const server = new LocalProcessServer(
      info,
      () =>
        spawnOwned(
          path.join(bin, 'postgres'),
          [
            '-D', dataDir, '-k', dir, '-h', '127.0.0.1', '-p', String(port),
            '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
            '-c', 'max_connections=300', '-c', 'timezone=UTC', '-c', 'log_timezone=UTC',
            // logical capture's tests create replication slots
            '-c', 'wal_level=logical', '-c', 'max_replication_slots=64', '-c', 'max_wal_senders=16',
          ],
          {...asUser, cwd: dir, logFile},
        ),
      async () => {
        await pgQuery(url, 'select 1');
      },
      // smart shutdown (SIGTERM) waits for clients (pools of FerretDB/Unleash): use fast
      {graceful: 'SIGINT', immediate: 'SIGQUIT'},
      () => this.writeState(),
    );
    this.managed.set('postgres', server);
    await server.start();
    info.version = await pgVersion(url);
    info.startupMs = Date.now() - t0;
    return info;
  }

  private async containerPostgres(password: string): Promise<ServerInfo | undefined> {
    const tc = await this.testcontainers();
    if (!tc) return undefined;
    const t0 = Date.now();
    const container = await new tc.GenericContainer('postgres:15')
      .withEnvironment({POSTGRES_USER: 'strangler', POSTGRES_PASSWORD: password, POSTGRES_DB: 'postgres'})
      .withCommand(['postgres', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=300', '-c', 'wal_level=logical', '-c', 'max_replication_slots=64', '-c', 'max_wal_senders=16'])
      .withExposedPorts(5432)
      .withWaitStrategy(tc.Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .withStartupTimeout(120_000)
      .start();
    const url = `postgres://strangler:${encodeURIComponent(password)}@${container.getHost()}:${container.getMappedPort(5432)}/postgres`;
    await waitReady('postgres (container)', async () => void (await pgQuery(url, 'select 1')), {});
    const info: ServerInfo = {kind: 'postgres', source: 'container', url, version: await pgVersion(url), startupMs: Date.now() - t0, restartable: false};
    this.managed.set('postgres', new ContainerServer(info, container));
    return info;
  }

  // --- MariaDB --------------------------------------------------------------------------------

  private async provideMariaDB(password: string): Promise<ServerInfo | undefined> {
    const envUrl = process.env[ENV.mysql];
    if (envUrl) return this.adopt('mariadb', envUrl, () => mysqlVersion(envUrl));
    const bins = localAllowed('mariadb') ? mariadbBinaries() : undefined;
    if (bins) return this.localMariaDB(bins, password);
    return this.containerMariaDB(password);
  }

  private grantSql(password: string): string {
    const pw = password.replace(/'/g, "''");
    return ['%', 'localhost']
      .map(
        (host) =>
          `CREATE USER IF NOT EXISTS 'strangler'@'${host}' IDENTIFIED BY '${pw}';\n` +
          `GRANT ALL PRIVILEGES ON *.* TO 'strangler'@'${host}' WITH GRANT OPTION;\n`,
      )
      .join('');
  }

  private async localMariaDB(bins: {mariadbd: string; installDb: string}, password: string): Promise<ServerInfo> {
    const t0 = Date.now();
    const dir = path.join(this.tmpDir, 'mariadb');
    const dataDir = path.join(dir, 'data');
    const logFile = path.join(dir, 'mariadbd.log');
    const initFile = path.join(dir, 'init.sql');
    fs.mkdirSync(dir, {mode: 0o700});
    // init-file runs at every start (CREATE USER IF NOT EXISTS): a user with a password and all
    // privileges incl. GRANT OPTION; no --skip-grant-tables anywhere.
    fs.writeFileSync(initFile, this.grantSql(password), {mode: 0o600});
    const root = typeof process.getuid === 'function' && process.getuid() === 0;
    const userArgs = root ? ['--user=root'] : [];
    try {
      execFileSync(
        bins.installDb,
        ['--no-defaults', `--datadir=${dataDir}`, ...userArgs, '--skip-test-db', '--skip-name-resolve'],
        {cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8'},
      );
    } catch (err) {
      const e = err as {stdout?: string; stderr?: string};
      throw new Error(`mariadb-install-db failed:\n${String(e.stdout ?? '').slice(-2000)}${String(e.stderr ?? errorMessage(err)).slice(-2000)}`);
    }
    const port = await freePort();
    const url = `mysql://strangler:${encodeURIComponent(password)}@127.0.0.1:${port}/`;
    const info: ServerInfo = {kind: 'mariadb', source: 'local', url, version: '', startupMs: 0, port, dataDir, logFile, restartable: true};
    const server = new LocalProcessServer(
      info,
      () =>
        spawnOwned(
          bins.mariadbd,
          [
            '--no-defaults', `--datadir=${dataDir}`, ...userArgs,
            `--port=${port}`, '--bind-address=127.0.0.1', `--socket=${path.join(dir, 'mariadbd.sock')}`,
            `--pid-file=${path.join(dir, 'mariadbd.pid')}`, `--log-error=${logFile}`, `--init-file=${initFile}`,
            '--skip-name-resolve', '--innodb-flush-log-at-trx-commit=2', '--skip-log-bin', '--max-connections=300',
            '--local-infile=1', '--character-set-server=utf8mb4', '--collation-server=utf8mb4_general_ci',
            '--default-time-zone=+00:00', '--innodb-buffer-pool-size=256M',
          ],
          {cwd: dir, logFile},
        ),
      async () => {
        await mysqlVersion(url);
      },
      {graceful: 'SIGTERM', immediate: 'SIGTERM'},
      () => this.writeState(),
    );
    this.managed.set('mariadb', server);
    await server.start();
    info.version = await mysqlVersion(url);
    info.startupMs = Date.now() - t0;
    return info;
  }

  private async containerMariaDB(password: string): Promise<ServerInfo | undefined> {
    const tc = await this.testcontainers();
    if (!tc) return undefined;
    const t0 = Date.now();
    const container = await new tc.GenericContainer('mariadb:10.11')
      .withEnvironment({MARIADB_ROOT_PASSWORD: password})
      .withCopyContentToContainer([{content: this.grantSql(password), target: '/docker-entrypoint-initdb.d/strangler.sql'}])
      .withCommand(['--innodb-flush-log-at-trx-commit=2', '--skip-log-bin', '--max-connections=300', '--local-infile=1', '--default-time-zone=+00:00'])
      .withExposedPorts(3306)
      .withStartupTimeout(120_000)
      .start();
    const url = `mysql://strangler:${encodeURIComponent(password)}@${container.getHost()}:${container.getMappedPort(3306)}/`;
    await waitReady('mariadb (container)', async () => void (await mysqlVersion(url)), {timeoutMs: 120_000});
    const info: ServerInfo = {kind: 'mariadb', source: 'container', url, version: await mysqlVersion(url), startupMs: Date.now() - t0, restartable: false};
    this.managed.set('mariadb', new ContainerServer(info, container));
    return info;
  }

  // --- FerretDB -------------------------------------------------------------------------------

  private async provideFerretDB(pgInfo: ServerInfo | undefined): Promise<ServerInfo | undefined> {
    const envUrl = process.env[ENV.mongo];
    if (envUrl) return this.adopt('ferretdb', envUrl, () => mongoVersion(envUrl));
    const {bin, problem} = localAllowed('ferretdb') ? ferretdbBinary() : {bin: undefined, problem: undefined};
    if (bin) return this.localFerretDB(bin, pgInfo);
    const viaContainer = await this.containerFerretDB();
    if (!viaContainer && problem) INSTALL_HINT.ferretdb = `${problem}; ${INSTALL_HINT.ferretdb}`;
    return viaContainer;
  }

  private async localFerretDB(bin: string, pgInfo: ServerInfo | undefined): Promise<ServerInfo> {
    const t0 = Date.now();
    const dir = path.join(this.tmpDir, 'ferretdb');
    const logFile = path.join(dir, 'ferretdb.log');
    fs.mkdirSync(dir, {mode: 0o700});
    // PostgreSQL handler on a dedicated database of the harness's own PostgreSQL; SQLite when
    // PostgreSQL is someone else's (an env URL) or missing.
    let handlerArgs: string[];
    if (pgInfo?.source === 'local') {
      await pgQuery(pgInfo.url, 'create database ferretdb');
      handlerArgs = ['--handler=postgresql', `--postgresql-url=${withDatabase(pgInfo.url, 'ferretdb')}`];
    } else {
      fs.mkdirSync(path.join(dir, 'sqlite'));
      handlerArgs = ['--handler=sqlite', `--sqlite-url=file:${path.join(dir, 'sqlite')}/`];
    }
    const port = await freePort();
    const url = `mongodb://127.0.0.1:${port}/`;
    const info: ServerInfo = {kind: 'ferretdb', source: 'local', url, version: '', startupMs: 0, port, dataDir: dir, logFile, restartable: true};
    const server = new LocalProcessServer(
      info,
      () =>
        spawnOwned(
          bin,
          [
            ...handlerArgs, `--listen-addr=127.0.0.1:${port}`, '--telemetry=disable', '--debug-addr=-',
            `--state-dir=${dir}`, '--log-level=warn', '--log-format=text',
          ],
          {cwd: dir, logFile, env: {...process.env, FERRETDB_TELEMETRY: 'disable'}},
        ),
      async () => {
        await mongoVersion(url);
      },
      {graceful: 'SIGTERM', immediate: 'SIGTERM'},
      () => this.writeState(),
    );
    this.managed.set('ferretdb', server);
    await server.start();
    info.version = await mongoVersion(url);
    info.startupMs = Date.now() - t0;
    return info;
  }

  private async containerFerretDB(): Promise<ServerInfo | undefined> {
    const tc = await this.testcontainers();
    if (!tc) return undefined;
    const t0 = Date.now();
    const container = await new tc.GenericContainer('ghcr.io/ferretdb/ferretdb:1.24.2')
      .withEnvironment({FERRETDB_HANDLER: 'sqlite', FERRETDB_SQLITE_URL: 'file:/state/', FERRETDB_TELEMETRY: 'disable'})
      .withExposedPorts(27017)
      .withStartupTimeout(120_000)
      .start();
    const url = `mongodb://${container.getHost()}:${container.getMappedPort(27017)}/`;
    await waitReady('ferretdb (container)', async () => void (await mongoVersion(url)), {});
    const info: ServerInfo = {kind: 'ferretdb', source: 'container', url, version: await mongoVersion(url), startupMs: Date.now() - t0, restartable: false};
    this.managed.set('ferretdb', new ContainerServer(info, container));
    return info;
  }

  // --- Unleash --------------------------------------------------------------------------------

  private async provideUnleash(pgPromise: Promise<ServerInfo | undefined>): Promise<UnleashInfo | undefined> {
    const envUrl = process.env[ENV.unleashUrl];
    if (envUrl) {
      const adminToken = process.env[ENV.unleashAdminToken];
      const clientToken = process.env[ENV.unleashClientToken];
      if (!adminToken || !clientToken) {
        throw new Error(`${ENV.unleashUrl} is set, so ${ENV.unleashAdminToken} and ${ENV.unleashClientToken} must be set too`);
      }
      const t0 = Date.now();
      const version = await unleashProbe(envUrl, adminToken);
      this.managed.set('unleash', envServer({kind: 'unleash', source: 'env', url: envUrl, version, startupMs: Date.now() - t0, restartable: false}));
      return {url: envUrl, adminToken, clientToken};
    }
    return this.localUnleash(pgPromise);
  }

  /**
   * unleash-server in a child process (not in the vitest process: Unleash installs SIGINT/SIGTERM
   * handlers). The child starts importing unleash-server (≈2 s) at once and waits for its config
   * file, which is written once PostgreSQL is up and Unleash's database exists.
   */
  private async localUnleash(pgPromise: Promise<ServerInfo | undefined>): Promise<UnleashInfo | undefined> {
    const t0 = Date.now();
    const dir = path.join(this.tmpDir, 'unleash');
    const logFile = path.join(dir, 'unleash.log');
    const configFile = path.join(dir, 'config.json');
    fs.mkdirSync(dir, {mode: 0o700});
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const adminToken = `*:*.${randomSecret(16)}`;
    const clientToken = `default:development.${randomSecret(16)}`;
    const code = [
      "import fs from 'node:fs';",
      "const loading = import('unleash-server');",
      'const file = process.env.STRANGLER_UNLEASH_CONFIG_FILE;',
      'const deadline = Date.now() + 180_000;',
      'while (!fs.existsSync(file)) {',
      "  if (Date.now() > deadline) { console.error('strangler-test: no config, giving up'); process.exit(3); }",
      '  await new Promise((r) => setTimeout(r, 25));',
      '}',
      'const {start} = await loading;',
      "await start(JSON.parse(fs.readFileSync(file, 'utf8')));",
      "console.log('strangler-test: unleash started');",
    ].join('\n');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      STRANGLER_UNLEASH_CONFIG_FILE: configFile,
      SEND_TELEMETRY: 'false',
      CHECK_VERSION: 'false',
      NODE_ENV: 'production',
    };
    // Unleash reads these from the environment too: the config file alone decides
    for (const key of Object.keys(env)) {
      if (/^(DATABASE_|INIT_.*API_TOKENS$|UNLEASH_)/.test(key)) delete env[key];
    }
    const info: ServerInfo = {kind: 'unleash', source: 'local', url, version: '', startupMs: 0, port, dataDir: dir, logFile, restartable: true};
    const server = new LocalProcessServer(
      info,
      () => spawnOwned(process.execPath, ['--input-type=module', '-e', code], {cwd: REPO_ROOT, logFile, env}),
      async () => {
        await unleashProbe(url, adminToken);
      },
      {graceful: 'SIGTERM', immediate: 'SIGTERM'},
      () => this.writeState(),
    );
    this.managed.set('unleash', server);
    server.launchEarly();

    const pgInfo = await pgPromise;
    if (!pgInfo) return undefined;
    // Our own PostgreSQL: database "unleash". Someone else's: a uniquely named one, dropped at stop.
    const database = pgInfo.source === 'env' ? `strangler_unleash_${process.pid}_${randomSecret(3)}` : 'unleash';
    await pgQuery(pgInfo.url, `create database ${database}`);
    if (pgInfo.source === 'env') {
      this.dropOnStop.push(() => pgQuery(pgInfo.url, `drop database if exists ${database} with (force)`).then(() => {}));
    }
    const pgUrl = new URL(pgInfo.url);
    const config = {
      db: {
        host: pgUrl.hostname,
        port: Number(pgUrl.port || 5432),
        user: decodeURIComponent(pgUrl.username),
        password: decodeURIComponent(pgUrl.password),
        database,
        ssl: false,
        pool: {min: 0, max: 10},
      },
      server: {port, host: '127.0.0.1'},
      versionCheck: {enable: false},
      telemetry: false,
      logLevel: 'warn',
      authentication: {
        initApiTokens: [
          {secret: adminToken, type: 'admin', environment: '*', projects: ['*'], tokenName: 'strangler-test-admin'},
          {secret: clientToken, type: 'backend', environment: 'development', projects: ['default'], tokenName: 'strangler-test-backend'},
        ],
      },
    };
    fs.writeFileSync(`${configFile}.tmp`, JSON.stringify(config), {mode: 0o600});
    fs.renameSync(`${configFile}.tmp`, configFile);
    await server.start();
    info.version = await unleashProbe(url, adminToken);
    info.startupMs = Date.now() - t0;
    return {url, adminToken, clientToken};
  }

  private readonly dropOnStop: Array<() => Promise<void>> = [];

  // --- shared ---------------------------------------------------------------------------------

  private async adopt(kind: ServerKind, url: string, version: () => Promise<string>): Promise<ServerInfo> {
    const t0 = Date.now();
    let v: string;
    try {
      v = await version();
    } catch (err) {
      throw new Error(`the server given by the environment (${redactUrl(url)}) is not reachable: ${errorMessage(err)}`);
    }
    const info: ServerInfo = {kind, source: 'env', url, version: v, startupMs: Date.now() - t0, restartable: false};
    this.managed.set(kind, envServer(info));
    return info;
  }

  private async testcontainers(): Promise<typeof import('testcontainers') | undefined> {
    this.dockerChecked ??= (async () => {
      try {
        const tc = await import('testcontainers');
        await tc.getContainerRuntimeClient();
        return true;
      } catch (err) {
        const message = errorMessage(err);
        this.dockerProblem = /container runtime strategy/i.test(message)
          ? 'no Docker engine reachable ("Could not find a working container runtime strategy")'
          : message;
        return false;
      }
    })();
    return (await this.dockerChecked) ? import('testcontainers') : undefined;
  }

  private writeState(): void {
    if (!this.info) return;
    const state: StateFile = {ownerPid: process.pid, tmpDir: this.tmpDir, servers: this.info.servers};
    const file = this.info.stateFile;
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2));
    fs.renameSync(`${file}.tmp`, file);
  }

  // --- control endpoint (used by workers) -----------------------------------------------------

  private async startControlServer(): Promise<void> {
    const token = randomSecret(16);
    const server = http.createServer((req, res) => {
      void this.handleControl(req, token).then(
        (body) => {
          res.writeHead(200, {'content-type': 'application/json'});
          res.end(JSON.stringify(body));
        },
        (err) => {
          res.writeHead((err as {status?: number}).status ?? 500, {'content-type': 'application/json'});
          res.end(JSON.stringify({error: errorMessage(err)}));
        },
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    server.unref();
    this.controlServer = server;
    this.info.controlUrl = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    this.info.controlToken = token;
  }

  private async handleControl(req: http.IncomingMessage, token: string): Promise<unknown> {
    if (req.headers.authorization !== `Bearer ${token}`) throw Object.assign(new Error('bad control token'), {status: 401});
    const match = /^\/servers\/(postgres|mariadb|ferretdb|unleash)\/(stop|start|restart)$/.exec(req.url ?? '');
    if (req.method !== 'POST' || !match) throw Object.assign(new Error(`unknown control request ${req.method} ${req.url}`), {status: 404});
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const body = (raw ? JSON.parse(raw) : {}) as {mode?: StopMode; downMs?: number};
    const kind = match[1] as ServerKind;
    const action = match[2] as 'stop' | 'start' | 'restart';
    await this.control(kind, action, body);
    return this.info.servers[kind];
  }

  /** Stop, start or restart a local server (same data dir, same port). */
  async control(kind: ServerKind, action: 'stop' | 'start' | 'restart', opts: {mode?: StopMode; downMs?: number} = {}): Promise<void> {
    const m = this.managed.get(kind);
    if (!m) throw Object.assign(new Error(`${kind} is not running in this test run`), {status: 404});
    if (!m.info.restartable) {
      throw Object.assign(
        new Error(`${kind} (${m.info.source}) cannot be stopped or restarted: only servers the harness started from local binaries can`),
        {status: 409},
      );
    }
    if (action === 'stop' || action === 'restart') await m.stop(opts.mode ?? 'graceful');
    if (action === 'restart' && opts.downMs) await sleep(opts.downMs);
    if (action === 'start' || action === 'restart') await m.start();
  }

  // --- teardown -------------------------------------------------------------------------------

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.controlServer?.close();
    this.controlServer?.closeAllConnections();
    const get = (k: ServerKind) => this.managed.get(k);
    // dependants first (they hold connections to PostgreSQL)
    await Promise.all([get('unleash')?.stop('graceful'), get('ferretdb')?.stop('graceful')]);
    for (const drop of this.dropOnStop) await drop().catch(() => {});
    await Promise.all([get('mariadb')?.stop('graceful'), get('postgres')?.stop('graceful')]);
    fs.rmSync(this.tmpDir, {recursive: true, force: true});
    process.off('exit', this.exitHandler);
  }

  private killNowSync(): void {
    for (const m of this.managed.values()) m.killNow();
    try {
      fs.rmSync(this.tmpDir, {recursive: true, force: true});
    } catch {
      // best effort
    }
  }
}

function envServer(info: ServerInfo): Managed {
  return {
    info,
    start: async () => {},
    stop: async () => {},
    killNow: () => {},
    running: () => true,
  };
}

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}

/** Remove temp dirs (and kill servers) left behind by runs whose owner process is gone. */
function removeStaleTmpDirs(log: (message: string) => void): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(os.tmpdir());
  } catch {
    return;
  }
  for (const name of entries) {
    const m = new RegExp(`^${TMP_PREFIX}(\\d+)-`).exec(name);
    if (!m || isAlive(Number(m[1]))) continue;
    const dir = path.join(os.tmpdir(), name);
    try {
      const state = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as StateFile;
      for (const s of Object.values(state.servers)) {
        if (!s?.pid || !isAlive(s.pid)) continue;
        // only if the pid still belongs to a process of that run (pids get reused)
        const cmdline = fs.readFileSync(`/proc/${s.pid}/cmdline`, 'utf8');
        if (cmdline.includes(dir) || (s.port && cmdline.includes(String(s.port)))) process.kill(s.pid, 'SIGKILL');
      }
    } catch {
      // no state file, or the processes are gone
    }
    fs.rmSync(dir, {recursive: true, force: true});
    log(`removed ${dir} left behind by a crashed run`);
  }
}

// ---------------------------------------------------------------------------------------------
// worker side: ask the owning process to stop/start/restart a server

async function controlEndpoint(): Promise<{url: string; token: string}> {
  let url = process.env[ENV.controlUrl];
  let token = process.env[ENV.controlToken];
  if (!url || !token) {
    try {
      const {inject} = await import('vitest');
      const info = inject('stranglerServers');
      url = info?.controlUrl ?? undefined;
      token = info?.controlToken ?? undefined;
    } catch {
      // not in a vitest worker
    }
  }
  if (!url || !token) {
    throw new Error(
      'no test-server control endpoint: restarting servers works only in the vitest "integration" project ' +
        `(globalSetup test/global-setup.ts) with servers the harness started itself, not with ${ENV.pg}-style URLs`,
    );
  }
  return {url, token};
}

async function controlRequest(kind: ServerKind, action: 'stop' | 'start' | 'restart', opts: {mode?: StopMode; downMs?: number}): Promise<ServerInfo> {
  const {url, token} = await controlEndpoint();
  const res = await fetch(`${url}/servers/${kind}/${action}`, {
    method: 'POST',
    headers: {authorization: `Bearer ${token}`, 'content-type': 'application/json'},
    body: JSON.stringify(opts),
    signal: AbortSignal.timeout(150_000),
  });
  const body = (await res.json()) as ServerInfo & {error?: string};
  if (!res.ok) throw new Error(`${action} ${kind} failed: ${body.error ?? res.status}`);
  return body;
}

export interface RestartOptions {
  /** graceful: PostgreSQL fast shutdown (SIGINT), others SIGTERM; immediate: PostgreSQL SIGQUIT
   *  (crash recovery at start); kill: SIGKILL (a crash). Default graceful. */
  mode?: StopMode;
  /** Milliseconds to stay down between stop and start. */
  downMs?: number;
}

/** Stop a harness-started server and start it again on the same data dir and port. Resolves when it accepts connections. */
export function restartServer(kind: ServerKind, opts: RestartOptions = {}): Promise<ServerInfo> {
  return controlRequest(kind, 'restart', opts);
}

/** Stop a harness-started server (it stays down until startServer or the end of the run). */
export function stopServer(kind: ServerKind, opts: Pick<RestartOptions, 'mode'> = {}): Promise<ServerInfo> {
  return controlRequest(kind, 'stop', opts);
}

/** Start a server stopped with stopServer (same data dir and port). */
export function startServer(kind: ServerKind): Promise<ServerInfo> {
  return controlRequest(kind, 'start', {});
}

export const restartPostgres = (opts?: RestartOptions) => restartServer('postgres', opts);
export const restartMariaDB = (opts?: RestartOptions) => restartServer('mariadb', opts);
export const restartFerretDB = (opts?: RestartOptions) => restartServer('ferretdb', opts);
