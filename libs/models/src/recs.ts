/**
 * Recommendations area schemas (zod): the two public endpoints and the model artifact that the
 * training job writes to object storage and the web process reads back.
 */
import { z } from 'zod';

export const ZRecommendationsQuery = z.strictObject({
  limit: z.coerce.number({ message: 'must be a number' }).int('must be an integer').min(1, 'must be at least 1').max(100, 'must be at most 100').default(20),
});
export type TRecommendationsQuery = z.infer<typeof ZRecommendationsQuery>;

export const ZSimilarParams = z.strictObject({ id: z.uuid({ message: 'must be a UUID' }) });
export type TSimilarParams = z.infer<typeof ZSimilarParams>;

export const ZRecommendedTrack = z.object({
  id: z.string(),
  title: z.string(),
  artist: z.string(),
  /** Higher is better; comparable within one response only. */
  score: z.number(),
  /** Why this track is here, for people: "Because you played X", "Popular right now", ... */
  reason: z.string(),
});
export type TRecommendedTrack = z.infer<typeof ZRecommendedTrack>;

export const ZRecommendationsResponse = z.object({ tracks: z.array(ZRecommendedTrack) });
export type TRecommendationsResponse = z.infer<typeof ZRecommendationsResponse>;

// ---- model artifact (models/recs/{version}/model.json.gz) ---------------------------------

export const ZRecsArtifactTrack = z.object({
  id: z.string(),
  title: z.string(),
  artist: z.string(),
  artistId: z.string(),
  genre: z.string().nullable(),
  /** Integrated loudness (LUFS) when the ingest measured it: a cold-start feature. */
  loudness: z.number().nullable(),
  published: z.boolean(),
});
export type TRecsArtifactTrack = z.infer<typeof ZRecsArtifactTrack>;

/** Parallel arrays keep the artifact compact: item indices into `tracks`, scores, reason item (-1 none). */
export const ZRecsList = z.object({ items: z.array(z.number().int()), scores: z.array(z.number()), because: z.array(z.number().int()) });
export type TRecsList = z.infer<typeof ZRecsList>;

export const ZRecsArtifact = z.object({
  format: z.literal(1),
  version: z.string(),
  trainedAt: z.string(),
  model: z.string(),
  counts: z.object({ users: z.number(), tracks: z.number(), interactions: z.number() }),
  tracks: z.array(ZRecsArtifactTrack),
  /** Number of distinct listeners per track in the training window (most-popular fallback). */
  popularity: z.array(z.number()),
  /** Similar tracks per track (co-listening; content features for tracks nobody played yet). */
  similar: z.array(ZRecsList),
  /** Personal picks per user id, best first, with the history item that explains each. */
  users: z.record(z.string(), ZRecsList),
});
export type TRecsArtifact = z.infer<typeof ZRecsArtifact>;

export const ZRecsLatest = z.object({ version: z.string(), key: z.string(), trainedAt: z.string() });
export type TRecsLatest = z.infer<typeof ZRecsLatest>;
