/**
 * OLAP contract: one @clickhouse/client API and SQL dialect over the embedded engine (chDB under a temporary
 * DATA_DIR), and over a ClickHouse server too when IT_CLICKHOUSE_URL names one (infra/local runs none:
 * chDB is the ClickHouse engine itself, in-process).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '@platform/logging';
import { createOlapClient, insertRaw, pingOlap, type ClickHouseClient } from '../src/index';

const logger = createLogger({ name: 'olap-contract', level: 'error' });

type Row = { event_id: string; track_id: string; ts: number; position_ms: number };

async function exercise(client: ClickHouseClient, table: string): Promise<void> {
  await pingOlap(client);
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS ${table} (event_id String, track_id String, ts DateTime64(3), position_ms UInt64)
            ENGINE = ReplacingMergeTree ORDER BY (track_id, event_id)`,
  });
  const rows: Row[] = Array.from({ length: 5000 }, (_, i) => ({
    event_id: `e${i}`,
    track_id: `t${i % 7}`,
    ts: 1_700_000_000_000 + i,
    position_ms: i * 1000,
  }));
  await client.insert({ table, values: rows, format: 'JSONEachRow' });
  // A duplicate delivery of the same events (at-least-once upstream) collapses under FINAL.
  await client.insert({ table, values: rows.slice(0, 100), format: 'JSONEachRow' });

  const total = await (await client.query({ query: `SELECT count() AS n FROM ${table} FINAL`, format: 'JSONEachRow' })).json<{ n: string }>();
  assert.deepEqual(total, [{ n: '5000' }], 'UInt64 comes back quoted, as from a server');

  const top = await (
    await client.query({
      query: `SELECT track_id, uniqExact(event_id) AS plays, max(position_ms) AS furthest
              FROM ${table} WHERE position_ms >= {min:UInt64} GROUP BY track_id ORDER BY plays DESC, track_id LIMIT 3`,
      query_params: { min: 30_000 },
      format: 'JSONEachRow',
    })
  ).json<{ track_id: string; plays: string; furthest: string }>();
  assert.equal(top.length, 3);
  assert.deepEqual(top.map((r) => r.track_id), ['t0', 't1', 't2']);
  const expectedPlays = rows.filter((r) => r.track_id === 't0' && r.position_ms >= 30_000).length;
  assert.equal(Number(top[0].plays), expectedPlays);

  const stream = await client.query({ query: `SELECT event_id FROM ${table} FINAL ORDER BY event_id LIMIT 3`, format: 'JSONEachRow' });
  assert.deepEqual(await stream.json(), [{ event_id: 'e0' }, { event_id: 'e1' }, { event_id: 'e10' }]);

  await assert.rejects(client.query({ query: 'SELECT * FROM no_such_table_anywhere', format: 'JSONEachRow' }).then((r) => r.json()));
  await exerciseRawInsert(client, `${table}_raw`);
}

/** insertRaw: caller-serialized bytes, per-insert settings (a deduplication token) that stay on that insert. */
async function exerciseRawInsert(client: ClickHouseClient, table: string): Promise<void> {
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS ${table} (id UInt32, note String, at DateTime64(3, 'UTC'), n Nullable(UInt32))
            ENGINE = MergeTree ORDER BY id SETTINGS non_replicated_deduplication_window = 100`,
  });
  const count = async () =>
    Number((await (await client.query({ query: `SELECT count() AS n FROM ${table}`, format: 'JSONEachRow' })).json<{ n: string }>())[0].n);
  const json = Buffer.from(
    Array.from({ length: 1000 }, (_, i) => JSON.stringify([i, i % 2 ? 'tab\there "quoted"' : 'näive', '2026-11-26 04:00:00.123', i % 3 ? i : null])).join('\n') + '\n',
  );
  const columns = ['id', 'note', 'at', 'n'];
  await insertRaw(client, { table, columns, format: 'JSONCompactEachRow', body: json, settings: { insert_deduplication_token: 'block-a' } });
  await insertRaw(client, { table, columns, format: 'JSONCompactEachRow', body: json, settings: { insert_deduplication_token: 'block-a' } });
  assert.equal(await count(), 1000, 'a retried block with the same token is skipped');
  const back = await (await client.query({ query: `SELECT note, toString(at) AS at, n FROM ${table} WHERE id IN (1, 6) ORDER BY id`, format: 'JSONEachRow' })).json();
  assert.deepEqual(back, [
    { note: 'tab\there "quoted"', at: '2026-11-26 04:00:00.123', n: 1 },
    { note: 'näive', at: '2026-11-26 04:00:00.123', n: null },
  ]);
  // The token belonged to those inserts only: a later insert without one, of other rows, is not taken for them.
  await client.insert({ table, values: [{ id: 5000, note: 'later', at: '2026-11-26 05:00:00.000', n: 1 }], format: 'JSONEachRow' });
  await insertRaw(client, { table, columns, format: 'TabSeparated', body: Buffer.from('5001\tt\\tsv\t2026-11-26 05:00:00.000\t\\N\n') });
  assert.equal(await count(), 1002);
  const tsv = await (await client.query({ query: `SELECT note, n FROM ${table} WHERE id = 5001`, format: 'JSONEachRow' })).json();
  assert.deepEqual(tsv, [{ note: 't\tsv', n: null }], 'TSV escapes decoded');
  await assert.rejects(insertRaw(client, { table, columns, format: 'JSONCompactEachRow', body: Buffer.from('[1, 2, 3]\n') }));
}

describe('OLAP contract: embedded chDB', () => {
  test('create, insert, aggregate, parameters; data survives reopening the folder', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'olap-contract-'));
    try {
      const client = await createOlapClient({ CLICKHOUSE_URL: undefined, dataDir }, logger);
      await exercise(client, 'beacons_contract');
      await client.close();
      await client.close(); // twice is harmless

      const reopened = await createOlapClient({ CLICKHOUSE_URL: undefined, dataDir }, logger);
      const n = await (await reopened.query({ query: 'SELECT count() AS n FROM beacons_contract FINAL', format: 'JSONEachRow' })).json<{ n: string }>();
      assert.deepEqual(n, [{ n: '5000' }]);
      await reopened.close();
    } finally {
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });
});

if (process.env.IT_CLICKHOUSE_URL) {
  describe('OLAP contract: ClickHouse server', () => {
    test('create, insert, aggregate, parameters', async () => {
      const client = await createOlapClient({ CLICKHOUSE_URL: process.env.IT_CLICKHOUSE_URL, dataDir: os.tmpdir() }, logger);
      const table = `beacons_contract_${Date.now().toString(36)}`;
      try {
        await exercise(client, table);
      } finally {
        await client.command({ query: `DROP TABLE IF EXISTS ${table}` });
        await client.close();
      }
    });
  });
}
