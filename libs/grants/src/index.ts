/**
 * @platform/grants: what the web API, the edges and the origin must agree on for signed media
 * delivery: playback grants (sign/verify), the keyring and the edge credential, the definition of
 * a servable media key, and byte-range/validator rules. Pure functions plus two tiny file-backed
 * loaders; no HTTP server.
 */
export * from './grant';
export * from './keys';
export * from './media-path';
export * from './http-range';
