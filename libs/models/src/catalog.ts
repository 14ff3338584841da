// Schemas for the catalog area (zod). Filled by the catalog work.
export {};
