/**
 * The shared models: API request/response schemas, event schemas and error codes. Servers, the
 * player and the tests import the same ones. One file per area, each owned by its service.
 */
export * from './beacons';
export * from './catalog';
export * from './ingest';
export * from './playback';
export * from './recs';
