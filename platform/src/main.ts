/** Process entry for `npm start` / `platform start`: parse config once, run, stop cleanly on signals. */
import { loadConfigOrExit } from '@platform/config';
import { createLogger } from '@platform/logging';

export async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger({ name: 'platform', level: config.LOG_LEVEL });
  // Imported after the config check so a bad variable fails fast, before any engine code loads.
  const { startPlatform } = await import('./platform');
  let platform;
  try {
    platform = await startPlatform(config, { logger });
  } catch (e) {
    logger.fatal({ err: e }, 'platform failed to start');
    process.exitCode = 1;
    return;
  }
  logger.info({ web: platform.webUrl, edge: platform.edgeUrl, origin: platform.originUrl }, 'platform ready');
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    const force = setTimeout(() => process.exit(1), 20_000).unref();
    await platform.stop();
    clearTimeout(force);
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

if (import.meta.url === `file://${process.argv[1]}`) void main();
