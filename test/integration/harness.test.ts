import {describe, expect, it} from 'vitest';
import pg from 'pg';
import mysql from 'mysql2/promise';
import {MongoClient} from 'mongodb';
import {freshMongo, freshMysql, freshPg, testPassword, testServers, testUrls} from '../helpers/db.js';
import {unleashInfo} from '../helpers/unleash.js';
import {restartMariaDB, restartPostgres, restartServer, startServer, stopServer} from '../helpers/servers.js';

async function pgOne<T>(url: string, sql: string): Promise<T> {
  const client = new pg.Client({connectionString: url});
  await client.connect();
  try {
    return (await client.query(sql)).rows[0] as T;
  } finally {
    await client.end();
  }
}

async function mysqlRows<T>(url: string, sql: string): Promise<T[]> {
  const conn = await mysql.createConnection({uri: url});
  try {
    return (await conn.query(sql))[0] as T[];
  } finally {
    await conn.end();
  }
}

async function withMongo<T>(url: string, fn: (client: MongoClient) => Promise<T>): Promise<T> {
  const client = new MongoClient(url, {serverSelectionTimeoutMS: 10_000});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

describe('test server harness', () => {
  it('provides URLs, a password, and exports them for child processes', () => {
    const urls = testUrls();
    expect(urls.pg).toMatch(/^postgres(ql)?:\/\//);
    expect(urls.mysql).toMatch(/^mysql:\/\//);
    expect(urls.mongo).toMatch(/^mongodb(\+srv)?:\/\//);
    expect(testPassword().length).toBeGreaterThan(0);
    expect(process.env.STRANGLER_TEST_PG_URL).toBe(urls.pg);
    expect(process.env.STRANGLER_TEST_MYSQL_URL).toBe(urls.mysql);
    expect(process.env.STRANGLER_TEST_MONGO_URL).toBe(urls.mongo);
  });

  it('PostgreSQL 15 is real and uses password authentication', async () => {
    const {version} = await pgOne<{version: string}>(testUrls().pg, 'select version() as version');
    expect(version).toMatch(/^PostgreSQL 15\./);
    if (testServers().servers.postgres?.source === 'local') {
      expect(testUrls().pg).toContain(encodeURIComponent(testPassword()));
      const wrong = new URL(testUrls().pg);
      wrong.password = 'wrong-password';
      await expect(pgOne(wrong.toString(), 'select 1')).rejects.toThrow(/password authentication failed/);
    }
  });

  it('MariaDB is real, with local_infile and a user that can grant', async () => {
    const [row] = await mysqlRows<{v: string; local_infile: number}>(testUrls().mysql, 'select version() as v, @@local_infile as local_infile');
    expect(row.v).toMatch(/MariaDB/);
    expect(Number(row.local_infile)).toBe(1);
    const grants = await mysqlRows<Record<string, string>>(testUrls().mysql, 'show grants for current_user()');
    expect(grants.map((g) => Object.values(g)[0]).join('\n')).toMatch(/GRANT ALL PRIVILEGES ON \*\.\* .*WITH GRANT OPTION/);
  });

  it('FerretDB answers buildInfo and hello, and a document round-trips', async () => {
    const db = await freshMongo('harness');
    try {
      await withMongo(db.url, async (client) => {
        const admin = client.db('admin');
        const info = await admin.command({buildInfo: 1});
        expect(info.ok).toBe(1);
        expect(typeof info.version).toBe('string');
        const hello = await admin.command({hello: 1});
        expect(hello.isWritablePrimary).toBe(true);
        const coll = client.db(db.name).collection<{_id: string; n: number; tags: string[]}>('things');
        await coll.insertOne({_id: 'a', n: 42, tags: ['x', 'y']});
        expect(await coll.findOne({_id: 'a'})).toEqual({_id: 'a', n: 42, tags: ['x', 'y']});
      });
    } finally {
      await db.drop();
    }
  });

  it('Unleash Admin API accepts the admin token and refuses others', async () => {
    const {url, adminToken, clientToken} = unleashInfo();
    const ok = await fetch(new URL('/api/admin/projects', url), {headers: {Authorization: adminToken}});
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as {projects: Array<{id: string}>};
    expect(body.projects.map((p) => p.id)).toContain('default');
    const wrong = await fetch(new URL('/api/admin/projects', url), {headers: {Authorization: '*:*.not-a-token'}});
    expect([401, 403]).toContain(wrong.status);
    const backend = await fetch(new URL('/api/admin/projects', url), {headers: {Authorization: clientToken}});
    expect([401, 403]).toContain(backend.status);
    const features = await fetch(new URL('/api/client/features', url), {headers: {Authorization: clientToken}});
    expect(features.status).toBe(200);
  });

  it('freshPg gives isolated databases', async () => {
    const [a, b] = await Promise.all([freshPg('iso'), freshPg('iso')]);
    try {
      expect(a.name).not.toBe(b.name);
      expect(a.url).toContain(`/${a.name}`);
      await pgOne(a.url, 'create table t (id int primary key)');
      const {n} = await pgOne<{n: string}>(b.url, "select count(*) as n from information_schema.tables where table_name = 't'");
      expect(Number(n)).toBe(0);
      expect(await pgOne<{current_database: string}>(a.url, 'select current_database()')).toEqual({current_database: a.name});
    } finally {
      await Promise.all([a.drop(), b.drop()]);
    }
    const {n} = await pgOne<{n: string}>(testUrls().pg, `select count(*) as n from pg_database where datname in ('${a.name}', '${b.name}')`);
    expect(Number(n)).toBe(0);
  });

  it('freshMysql gives isolated databases', async () => {
    const [a, b] = await Promise.all([freshMysql('iso'), freshMysql('iso')]);
    try {
      expect(a.name).not.toBe(b.name);
      expect(a.url).toMatch(new RegExp(`^mysql://strangler:.+@.+/${a.name}$`));
      await mysqlRows(a.url, 'create table t (id int primary key)');
      const rows = await mysqlRows<{n: number}>(b.url, "select count(*) as n from information_schema.tables where table_schema = database() and table_name = 't'");
      expect(Number(rows[0].n)).toBe(0);
      expect(await mysqlRows(a.url, 'select database() as db')).toEqual([{db: a.name}]);
    } finally {
      await Promise.all([a.drop(), b.drop()]);
    }
    const left = await mysqlRows(testUrls().mysql, `show databases like '${a.name}'`);
    expect(left).toEqual([]);
  });

  it('restarts PostgreSQL and MariaDB on the same data dir and port', async (ctx) => {
    const servers = testServers().servers;
    if (!servers.postgres?.restartable || !servers.mariadb?.restartable) {
      ctx.skip('servers come from environment URLs or containers: not restartable');
    }
    const [p, m, g] = await Promise.all([freshPg('restart'), freshMysql('restart'), freshMongo('restart')]);
    try {
      await pgOne(p.url, 'create table t (id int primary key)');
      await pgOne(p.url, 'insert into t values (1)');
      await mysqlRows(m.url, 'create table t (id int primary key)');
      await mysqlRows(m.url, 'insert into t values (1)');
      const pidBefore = servers.postgres!.pid;

      const pgAfter = await restartPostgres();
      expect(pgAfter.pid).not.toBe(pidBefore);
      expect(pgAfter.port).toBe(servers.postgres!.port);
      expect(await pgOne<{n: string}>(p.url, 'select count(*) as n from t')).toEqual({n: '1'});

      // a crash (SIGKILL) comes back with crash recovery
      await restartServer('mariadb', {mode: 'kill'});
      expect(await mysqlRows(m.url, 'select id from t')).toEqual([{id: 1}]);

      await stopServer('postgres', {mode: 'immediate'});
      await expect(pgOne(p.url, 'select 1')).rejects.toThrow();
      await startServer('postgres');
      expect(await pgOne<{n: string}>(p.url, 'select count(*) as n from t')).toEqual({n: '1'});

      await restartMariaDB();
      expect(await mysqlRows(m.url, 'select id from t')).toEqual([{id: 1}]);

      // FerretDB (PostgreSQL handler) and Unleash keep working across PostgreSQL restarts
      await withMongo(g.url, async (c) => {
        await c.db().collection('t').insertOne({_id: 1} as never);
        expect(await c.db().collection('t').countDocuments()).toBe(1);
      });
      if (testServers().unleash) {
        const {url, adminToken} = unleashInfo();
        const res = await fetch(new URL('/api/admin/projects', url), {headers: {Authorization: adminToken}});
        expect(res.status).toBe(200);
      }
    } finally {
      await Promise.all([p.drop(), m.drop(), g.drop()]);
    }
  });

  it('freshMongo gives isolated databases', async () => {
    const [a, b] = await Promise.all([freshMongo('iso'), freshMongo('iso')]);
    try {
      expect(a.name).not.toBe(b.name);
      expect(a.url).toMatch(new RegExp(`^mongodb://.+/${a.name}$`));
      await withMongo(a.url, (c) => c.db().collection('t').insertOne({x: 1}));
      expect(await withMongo(b.url, (c) => c.db().collection('t').countDocuments())).toBe(0);
      expect(await withMongo(a.url, (c) => c.db().collection('t').countDocuments())).toBe(1);
    } finally {
      await Promise.all([a.drop(), b.drop()]);
    }
    const names = await withMongo(testUrls().mongo, async (c) => (await c.db('admin').admin().listDatabases()).databases.map((d) => d.name));
    expect(names).not.toContain(a.name);
  });
});
