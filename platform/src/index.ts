/** @platform/cli as a library: the all-in-one runner (npm start and the e2e suite use it). */
export { startPlatform, ALL_SERVICES, type RunningPlatform, type ServiceName } from './platform';
