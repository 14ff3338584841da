/** Search over titles, artist and album names: full-text + trigram, accent-insensitive, Cyrillic (real PostgreSQL). */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { draftTrack, publishedTrack, startApp, type Client, type TestApp } from './helpers';

type Item = { id: string; title: string; artist: string };

describe('search (real PostgreSQL + Redis)', () => {
  let t: TestApp;
  let listener: Client;
  const ids: Record<string, string> = {};
  before(async () => {
    t = await startApp({ backend: 'real' });
    const mumiy = await t.client().signup('musician', 'Мумий Тролль');
    const bjork = await t.client().signup('musician', 'Björk');
    const other = await t.client().signup('musician', 'Portishead');
    ids.utekai = await publishedTrack(t, mumiy, { title: 'Утекай', album: 'Морская' });
    ids.vladivostok = await publishedTrack(t, mumiy, { title: 'Владивосток 2000', album: 'Морская' });
    ids.joga = await publishedTrack(t, bjork, { title: 'Jóga', album: 'Homogenic' });
    ids.hyper = await publishedTrack(t, bjork, { title: 'Hyperballad', album: 'Post' });
    ids.roads = await publishedTrack(t, other, { title: 'Roads', album: 'Dummy' });
    ids.hidden = await draftTrack(t, bjork, 'Hidden Björk Demo');
    listener = await t.client().signup('listener');
  });
  after(async () => t?.close());

  const search = async (q: string, extra = ''): Promise<Item[]> => {
    const r = await listener.get(`/api/tracks?q=${encodeURIComponent(q)}${extra}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.items;
  };

  it('"Мумий Тролл" finds tracks by "Мумий Тролль" (partial Cyrillic word)', async () => {
    const items = await search('Мумий Тролл');
    assert.deepEqual(new Set(items.map((x) => x.id)), new Set([ids.utekai, ids.vladivostok]));
  });

  it('"bjork" finds "Björk" (accent-insensitive), and "joga" finds "Jóga" first', async () => {
    const items = await search('bjork');
    assert.deepEqual(new Set(items.map((x) => x.id)), new Set([ids.joga, ids.hyper]), 'the unpublished demo stays hidden');
    assert.equal((await search('joga'))[0].id, ids.joga);
    assert.equal((await search('JÓGA'))[0].id, ids.joga);
  });

  it('typos and partial words match through trigrams', async () => {
    assert.ok((await search('bjrok')).some((x) => x.id === ids.joga), 'transposed letters');
    assert.equal((await search('hyperbal'))[0].id, ids.hyper, 'prefix');
    assert.equal((await search('hyperbalad'))[0].id, ids.hyper, 'missing letter');
    assert.equal((await search('утикай'))[0].id, ids.utekai, 'Cyrillic typo');
  });

  it('title, artist and album all count; Latin transliteration finds Cyrillic', async () => {
    assert.equal((await search('Homogenic'))[0].id, ids.joga);
    assert.equal((await search('portishead roads'))[0].id, ids.roads);
    assert.ok((await search('mumiy troll')).some((x) => x.id === ids.utekai));
    assert.equal((await search('vladivostok'))[0].id, ids.vladivostok);
    assert.deepEqual(await search('zzqqxxwv'), []);
  });

  it('search pages with a cursor, without repeats', async () => {
    const first = await listener.get(`/api/tracks?q=${encodeURIComponent('Мумий Тролль')}&limit=1`);
    assert.equal(first.body.items.length, 1);
    assert.ok(first.body.nextCursor);
    const second = await listener.get(`/api/tracks?q=${encodeURIComponent('Мумий Тролль')}&limit=1&cursor=${first.body.nextCursor}`);
    assert.equal(second.body.items.length, 1);
    assert.notEqual(second.body.items[0].id, first.body.items[0].id);
  });

  it('artist search is accent- and script-insensitive too', async () => {
    const r = await listener.get('/api/artists?q=bjork');
    assert.equal(r.body.items[0].name, 'Björk');
    const c = await listener.get(`/api/artists?q=${encodeURIComponent('мумий')}`);
    assert.equal(c.body.items[0].name, 'Мумий Тролль');
  });

  it('the database answers search from the trigram and full-text indexes', async () => {
    const { sql } = await import('kysely');
    await sql`set enable_seqscan = off`.execute(t.deps.sql);
    const plan = await sql<{ 'QUERY PLAN': string }>`explain select id from tracks
      where search_tsv @@ to_tsquery('simple'::regconfig, 'bjork:*') or 'bjork' <% search_key`.execute(t.deps.sql);
    await sql`reset enable_seqscan`.execute(t.deps.sql);
    const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
    assert.match(text, /tracks_search_tsv_idx/);
    assert.match(text, /tracks_search_trgm_idx/);
  });
});
