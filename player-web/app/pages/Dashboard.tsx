/**
 * Analytics dashboard: QoE summary (GET /api/qoe/summary), trending (GET /api/charts/trending), top plays in
 * the last hour, and for a musician their own stats (GET /api/artists/:id/stats). The analytics service owns
 * those shapes, so this page reads them structurally: numbers become stat cards, arrays of rows with a time
 * field become line charts, arrays of tracks become track lists.
 */
import { LineChart, type Series } from '../components/Chart';
import { Section } from '../components/Section';
import { TrackList } from '../components/TrackList';
import { meStore } from '../lib/session';
import { useStore } from '../lib/store';
import { toTracks } from '../lib/types';
import { useApi } from '../lib/use-api';

type Obj = Record<string, unknown>;
const TIME_KEYS = ['t', 'ts', 'time', 'bucket', 'minute', 'hour', 'day', 'date', 'at'];

function human(key: string): string {
  return key
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .replace(/_/g, ' ')
    .replace(/\bms\b/i, '(ms)')
    .replace(/^./, (c) => c.toUpperCase());
}

function fmt(v: number, key: string): string {
  if (/ratio|rate|share|pct|percent/i.test(key) && v <= 1) return `${(v * 100).toFixed(2)} %`;
  if (Number.isInteger(v)) return v.toLocaleString();
  return v.toFixed(1);
}

function numbersOf(o: unknown, prefix = ''): [string, number][] {
  if (!o || typeof o !== 'object' || Array.isArray(o)) return [];
  const out: [string, number][] = [];
  for (const [k, v] of Object.entries(o as Obj)) {
    if (typeof v === 'number' && Number.isFinite(v)) out.push([prefix + k, v]);
    else if (v && typeof v === 'object' && !Array.isArray(v) && !prefix) out.push(...numbersOf(v, `${k} `));
  }
  return out;
}

function timeSeriesOf(o: unknown): { key: string; x: number[]; series: Series[] }[] {
  if (!o || typeof o !== 'object') return [];
  const out: { key: string; x: number[]; series: Series[] }[] = [];
  for (const [k, v] of Object.entries(o as Obj)) {
    if (!Array.isArray(v) || !v.length || typeof v[0] !== 'object') continue;
    const rows = v as Obj[];
    const tk = TIME_KEYS.find((t) => t in rows[0]);
    if (!tk) continue;
    const x = rows.map((r) => {
      const t = r[tk];
      const n = typeof t === 'number' ? t : Date.parse(String(t));
      return n > 1e11 ? n / 1000 : n; // uPlot wants seconds
    });
    const keys = Object.keys(rows[0]).filter((f) => f !== tk && typeof rows[0][f] === 'number');
    if (!keys.length) continue;
    out.push({ key: k, x, series: keys.map((f) => ({ label: human(f), values: rows.map((r) => (typeof r[f] === 'number' ? (r[f] as number) : null)) })) });
  }
  return out;
}

function Stats({ data }: { data: unknown }) {
  const nums = numbersOf(data);
  const charts = timeSeriesOf(data);
  return (
    <>
      {nums.length > 0 && (
        <dl class="stats">
          {nums.map(([k, v]) => (
            <div key={k} class="stat">
              <dt>{human(k)}</dt>
              <dd>{fmt(v, k)}</dd>
            </div>
          ))}
        </dl>
      )}
      {charts.map((c) => (
        <LineChart key={c.key} title={human(c.key)} x={c.x} series={c.series} />
      ))}
      {!nums.length && !charts.length && <p class="muted">No data yet.</p>}
    </>
  );
}

export function Dashboard() {
  const me = useStore(meStore);
  const qoe = useApi('/api/qoe/summary', (r) => r);
  const trending = useApi('/api/charts/trending?limit=10', (r) => toTracks(r));
  const top = useApi('/api/charts/top?window=1h&limit=10', (r) => toTracks(r));
  const artistStats = useApi(me?.artistId ? `/api/artists/${encodeURIComponent(me.artistId)}/stats` : null, (r) => r);
  return (
    <div class="page">
      <h1 tabIndex={-1}>Analytics</h1>
      <Section title="Quality of experience" isLoading={qoe.isLoading} error={qoe.error} testId="qoe-summary">
        {qoe.data !== undefined && <Stats data={qoe.data} />}
      </Section>
      {me?.artistId && (
        <Section title="Your listeners" isLoading={artistStats.isLoading} error={artistStats.error} testId="artist-stats">
          {artistStats.data !== undefined && <Stats data={artistStats.data} />}
        </Section>
      )}
      <Section title="Trending" isLoading={trending.isLoading} error={trending.error} empty={trending.data?.length === 0 && 'Nothing trending yet.'} testId="trending">
        {trending.data && <TrackList tracks={trending.data} label="Trending" />}
      </Section>
      <Section title="Top plays, last hour" isLoading={top.isLoading} error={top.error} empty={top.data?.length === 0 && 'No plays in the last hour.'} testId="top-hour">
        {top.data && (
          <ol class="plain-list counts">
            {top.data.map((t) => (
              <li key={t.id} data-testid="chart-row" data-track-id={t.id}>
                <span>
                  {t.title} <span class="muted">· {t.artist}</span>
                </span>
                <strong>{t.plays ?? 0} plays</strong>
              </li>
            ))}
          </ol>
        )}
      </Section>
    </div>
  );
}
