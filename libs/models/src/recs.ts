// Schemas for the recs area (zod). Filled by the recs work.
export {};
