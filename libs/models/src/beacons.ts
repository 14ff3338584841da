// Schemas for the beacons area (zod). Filled by the beacons work.
export {};
