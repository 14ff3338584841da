// Worker entry: TypeScript runs through tsx in this thread too (no build step).
import { register } from 'tsx/esm/api';
register();
await import('./model-loader-worker.ts');
