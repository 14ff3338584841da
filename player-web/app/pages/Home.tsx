/** Home: hot now (plays in the last 15 minutes), picks for you (when the recommender answers), new releases. */
import { Section } from '../components/Section';
import { TrackList } from '../components/TrackList';
import { meStore } from '../lib/session';
import { useStore } from '../lib/store';
import { toTracks } from '../lib/types';
import { useApi } from '../lib/use-api';

export function Home() {
  const me = useStore(meStore);
  const hot = useApi('/api/charts/top?window=15m&limit=10', (r) => toTracks(r));
  const recs = useApi(me ? '/api/recommendations?limit=10' : null, (r) => toTracks(r));
  const fresh = useApi('/api/tracks?limit=20', (r) => toTracks(r));
  return (
    <div class="page">
      <h1 tabIndex={-1}>{me ? `Hello, ${me.displayName}` : 'Listen now'}</h1>
      <Section title="Hot now" isLoading={hot.isLoading} error={hot.error} empty={hot.data?.length === 0 && 'Nothing played in the last 15 minutes yet.'} testId="hot-now">
        {hot.data && <TrackList tracks={hot.data} label="Hot now" />}
      </Section>
      {me && !recs.error && (recs.isLoading || (recs.data?.length ?? 0) > 0) && (
        <Section title="Picks for you" isLoading={recs.isLoading} testId="recommendations">
          {recs.data && <TrackList tracks={recs.data} label="Picks for you" />}
        </Section>
      )}
      <Section title="New releases" isLoading={fresh.isLoading} error={fresh.error} empty={fresh.data?.length === 0 && 'No tracks yet. Musicians can upload in the portal.'} testId="new-releases">
        {fresh.data && <TrackList tracks={fresh.data} label="New releases" />}
      </Section>
    </div>
  );
}
