// Schemas for the playback area (zod). Filled by the playback work.
export {};
