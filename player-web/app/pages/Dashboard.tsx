/**
 * Analytics dashboard over the analytics service's read APIs (shapes from @platform/models, type-only):
 * QoE (GET /api/qoe/summary: startup p50/p95, rebuffering ratio, error rate, per minute, per rendition and
 * per edge), the musician's own listeners (GET /api/artists/:id/stats), trending (GET /api/charts/trending)
 * and the top plays of the last hour (GET /api/charts/top).
 */
import { useState } from 'preact/hooks';
import type { TArtistStatsResponse, TQoeSummaryResponse, TTopChartResponse, TTrendingResponse } from '@platform/models';
import { LineChart } from '../components/Chart';
import { Section } from '../components/Section';
import { meStore } from '../lib/session';
import { useStore } from '../lib/store';
import { useApi } from '../lib/use-api';

const WINDOWS = ['15m', '1h', '6h', '24h', '7d'] as const;

const pct = (v: number | null | undefined) => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(v < 0.01 && v > 0 ? 2 : 1)} %`);
const ms = (v: number | null | undefined) => (v === null || v === undefined ? '–' : `${Math.round(v)} ms`);
const int = (v: number | null | undefined) => (v === null || v === undefined ? '–' : v.toLocaleString());

function Stat({ label, value, testId }: { label: string; value: string; testId?: string }) {
  return (
    <div class="stat" data-testid={testId}>
      <dt>{label}</dt>
      <dd>{value}</dd>
    </div>
  );
}

function Qoe() {
  const [win, setWin] = useState<(typeof WINDOWS)[number]>('1h');
  const q = useApi(`/api/qoe/summary?window=${win}`, (r) => r as TQoeSummaryResponse, [win]);
  const d = q.data;
  const series = d?.series ?? [];
  const x = series.map((r) => Date.parse(r.minute) / 1000);
  return (
    <Section title="Quality of experience" isLoading={q.isLoading && !d} error={q.error} testId="qoe-summary">
      <div class="row" role="group" aria-label="Window">
        {WINDOWS.map((w) => (
          <button key={w} class={`btn ${w === win ? '' : 'ghost'}`} aria-pressed={w === win} onClick={() => setWin(w)}>
            {w}
          </button>
        ))}
      </div>
      {d && (
        <>
          <dl class="stats">
            <Stat label="Views" value={int(d.overall.views)} testId="qoe-views" />
            <Stat label="Startup p50" value={ms(d.overall.startupP50Ms)} testId="qoe-startup-p50" />
            <Stat label="Startup p95" value={ms(d.overall.startupP95Ms)} />
            <Stat label="Rebuffering ratio" value={pct(d.overall.rebufferRatio)} />
            <Stat label="Error rate" value={pct(d.overall.errorRate)} />
          </dl>
          {series.length > 1 && (
            <>
              <LineChart
                title="Startup time per minute (ms)"
                x={x}
                series={[
                  { label: 'p50', values: series.map((r) => r.startupP50Ms) },
                  { label: 'p95', values: series.map((r) => r.startupP95Ms) },
                ]}
              />
              <LineChart title="Views per minute" x={x} series={[{ label: 'Views', values: series.map((r) => r.views) }]} height={160} />
            </>
          )}
          {d.byRendition.length > 0 && (
            <table class="table">
              <caption>By rendition</caption>
              <thead>
                <tr>
                  <th scope="col">Rendition</th>
                  <th scope="col">Views</th>
                  <th scope="col">Startup p50</th>
                  <th scope="col">Rebuffering</th>
                  <th scope="col">Errors</th>
                </tr>
              </thead>
              <tbody>
                {d.byRendition.map((r) => (
                  <tr key={`${r.codec}-${r.bitrateKbps}`}>
                    <th scope="row">
                      {r.codec} {r.bitrateKbps ? `${r.bitrateKbps} kbps` : ''}
                    </th>
                    <td>{int(r.views)}</td>
                    <td>{ms(r.startupP50Ms)}</td>
                    <td>{pct(r.rebufferRatio)}</td>
                    <td>{pct(r.errorRate)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {d.byEdge.length > 0 && (
            <table class="table">
              <caption>By edge</caption>
              <thead>
                <tr>
                  <th scope="col">Edge</th>
                  <th scope="col">Views</th>
                  <th scope="col">Startup p50</th>
                  <th scope="col">Startup p95</th>
                  <th scope="col">Rebuffering</th>
                </tr>
              </thead>
              <tbody>
                {d.byEdge.map((r) => (
                  <tr key={r.edgeId}>
                    <th scope="row">{r.edgeId}</th>
                    <td>{int(r.views)}</td>
                    <td>{ms(r.startupP50Ms)}</td>
                    <td>{ms(r.startupP95Ms)}</td>
                    <td>{pct(r.rebufferRatio)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </Section>
  );
}

function ArtistStats({ artistId }: { artistId: string }) {
  const s = useApi(`/api/artists/${encodeURIComponent(artistId)}/stats?days=28`, (r) => r as TArtistStatsResponse);
  const d = s.data;
  const byDay = new Map<string, number>();
  for (const r of d?.daily ?? []) byDay.set(r.day, (byDay.get(r.day) ?? 0) + r.plays);
  const days = [...byDay.keys()].sort();
  return (
    <Section title="Your listeners (28 days)" isLoading={s.isLoading && !d} error={s.error} testId="artist-stats">
      {d && (
        <>
          <dl class="stats">
            <Stat label="Plays" value={int(d.totals.plays)} testId="artist-plays" />
            <Stat label="Unique listeners" value={int(d.totals.uniqueListeners)} />
            <Stat label="Views" value={int(d.totals.views)} />
            <Stat label="Completion rate" value={pct(d.totals.completionRate)} />
            <Stat label="Skip rate" value={pct(d.totals.skipRate)} />
          </dl>
          {days.length > 1 && <LineChart title="Plays per day" x={days.map((day) => Date.parse(day) / 1000)} series={[{ label: 'Plays', values: days.map((day) => byDay.get(day) ?? 0) }]} height={160} />}
          {d.tracks.length > 0 && (
            <table class="table">
              <caption>By track</caption>
              <thead>
                <tr>
                  <th scope="col">Track</th>
                  <th scope="col">Plays</th>
                  <th scope="col">Listeners</th>
                  <th scope="col">Completion</th>
                  <th scope="col">Skips</th>
                </tr>
              </thead>
              <tbody>
                {d.tracks.map((t) => (
                  <tr key={t.id}>
                    <th scope="row">{t.title}</th>
                    <td>{int(t.plays)}</td>
                    <td>{int(t.uniqueListeners)}</td>
                    <td>{pct(t.completionRate)}</td>
                    <td>{pct(t.skipRate)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </Section>
  );
}

export function Dashboard() {
  const me = useStore(meStore);
  const trending = useApi('/api/charts/trending?window=1h&limit=10', (r) => r as TTrendingResponse);
  const top = useApi('/api/charts/top?window=1h&limit=10', (r) => r as TTopChartResponse);
  return (
    <div class="page">
      <h1 tabIndex={-1}>Analytics</h1>
      {me?.artistId && <ArtistStats artistId={me.artistId} />}
      <Qoe />
      <Section title="Trending (last hour vs. usual)" isLoading={trending.isLoading} error={trending.error} empty={trending.data?.tracks.length === 0 && 'Nothing trending yet.'} testId="trending">
        <ol class="plain-list counts">
          {trending.data?.tracks.map((t) => (
            <li key={t.id}>
              <span>
                {t.title} <span class="muted">· {t.artist}</span>
              </span>
              <strong>
                {t.plays} plays · ×{t.velocity.toFixed(1)}
              </strong>
            </li>
          ))}
        </ol>
      </Section>
      <Section title="Top plays, last hour" isLoading={top.isLoading} error={top.error} empty={top.data?.tracks.length === 0 && 'No plays in the last hour.'} testId="top-hour">
        <ol class="plain-list counts">
          {top.data?.tracks.map((t) => (
            <li key={t.id} data-testid="chart-row" data-track-id={t.id}>
              <span>
                {t.title} <span class="muted">· {t.artist}</span>
              </span>
              <strong>{t.plays} plays</strong>
            </li>
          ))}
        </ol>
      </Section>
    </div>
  );
}
