// Schemas for the ingest area (zod). Filled by the ingest work.
export {};
