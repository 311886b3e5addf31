/**
 * Test databases on the real servers of the "integration" project (see test/global-setup.ts).
 *
 *   const db = await freshPg('relay');      // new database, URL with the password in it
 *   afterAll(() => db.drop());
 */
import crypto from 'node:crypto';
import {inject} from 'vitest';
import pg from 'pg';
import mysql from 'mysql2/promise';
import {MongoClient} from 'mongodb';
import {serverEnv, type TestServersInfo} from './servers.js';

export interface FreshDatabase {
  /** Connection URL of the new database (with the password for PostgreSQL/MariaDB). */
  url: string;
  /** The database name. */
  name: string;
  /** Drop the database (idempotent; PostgreSQL drops WITH (FORCE)). */
  drop(): Promise<void>;
}

/** Everything the global setup provided. Throws outside the "integration" project. */
export function testServers(): TestServersInfo {
  const info = inject('stranglerServers');
  if (!info) {
    throw new Error(
      'No test servers were provided. Database helpers work only in the vitest "integration" project ' +
        '(test/integration, test/e2e, test/reliability; globalSetup test/global-setup.ts), not in "unit".',
    );
  }
  return info;
}

// Child processes spawned by tests (the CLI in e2e tests) see the servers too. The global setup
// exports these already; this covers workers forked before it (and is a no-op otherwise).
try {
  const info = inject('stranglerServers');
  if (info) for (const [key, value] of Object.entries(serverEnv(info))) process.env[key] ??= value;
} catch {
  // imported outside a vitest worker: nothing to export
}

/** Base admin URLs: PostgreSQL (database `postgres`), MariaDB (no database), FerretDB (no database). */
export function testUrls(): {pg: string; mysql: string; mongo: string} {
  const {pg: pgUrl, mysql: mysqlUrl, mongo} = testServers();
  return {pg: pgUrl, mysql: mysqlUrl, mongo};
}

/** The PostgreSQL/MariaDB password (tests check that output never contains it). */
export function testPassword(): string {
  return testServers().password;
}

let counter = 0;

/** A unique lowercase identifier `<prefix>_<pid>_<n>_<random>`, at most 48 characters, safe for every engine. */
export function uniqueName(prefix = 't'): string {
  const clean = prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_').replace(/^[^a-z]/, 't$&').slice(0, 20);
  counter += 1;
  return `${clean}_${process.pid}_${counter}_${crypto.randomBytes(3).toString('hex')}`;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function withPg<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({connectionString: testUrls().pg});
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** A new, empty, uniquely named database on the test PostgreSQL. */
export async function freshPg(prefix = 'pg'): Promise<FreshDatabase> {
  const name = uniqueName(prefix);
  for (let attempt = 1; ; attempt++) {
    try {
      await withPg((c) => c.query(`create database "${name}"`));
      break;
    } catch (err) {
      // concurrent CREATE DATABASE can hit "source database template1 is being accessed by other users"
      if (attempt >= 5 || !/being accessed by other users/.test(String(err))) throw err;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
  return {
    url: withDatabase(testUrls().pg, name),
    name,
    // a logical replication slot of the database (logical capture's tests) would keep DROP DATABASE from running
    drop: () =>
      withPg(async (c) => {
        await c.query(`select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = $1 and not active`, [name]);
        await c.query(`drop database if exists "${name}" with (force)`);
      }).then(() => {}),
  };
}

async function withMysql<T>(fn: (conn: mysql.Connection) => Promise<T>): Promise<T> {
  const conn = await mysql.createConnection({uri: testUrls().mysql});
  try {
    return await fn(conn);
  } finally {
    await conn.end().catch(() => {});
  }
}

/** A new, empty, uniquely named database on the test MariaDB. */
export async function freshMysql(prefix = 'my'): Promise<FreshDatabase> {
  const name = uniqueName(prefix);
  await withMysql((c) => c.query(`create database \`${name}\` character set utf8mb4`));
  return {
    url: withDatabase(testUrls().mysql, name),
    name,
    drop: () => withMysql((c) => c.query(`drop database if exists \`${name}\``)).then(() => {}),
  };
}

/** A new, uniquely named database on the test FerretDB (MongoDB wire protocol). */
export async function freshMongo(prefix = 'mg'): Promise<FreshDatabase> {
  const name = uniqueName(prefix);
  const url = withDatabase(testUrls().mongo, name);
  return {
    url,
    name,
    drop: async () => {
      const client = new MongoClient(url, {serverSelectionTimeoutMS: 10_000});
      try {
        await client.connect();
        await client.db(name).dropDatabase();
      } finally {
        await client.close().catch(() => {});
      }
    },
  };
}
