/**
 * The `platform` command. Subcommands live with the service that owns them:
 *   platform start                 the whole platform on embedded defaults (what `npm start` runs)
 *   platform ingest FILE...        bulk upload through the web API (ingest/)
 *   platform recs train|eval|tune ...   recommendation training, offline evaluation, model selection (recommender/)
 */
import { Command } from 'commander';

const program = new Command('platform').description('Self-hostable music streaming platform').showHelpAfterError();

program
  .command('start')
  .description('run the whole platform (or the services named in SERVICES) in the foreground')
  .action(async () => {
    const { main } = await import('./main');
    await main();
  });

program
  .command('ingest')
  .description('upload WAV/FLAC files as tracks (PLATFORM_URL, PLATFORM_TOKEN)')
  .argument('<files...>', 'audio files')
  .option('--artist <name>', 'artist name for every file')
  .option('--album <name>', 'album name for every file')
  .option('--title <title>', 'title (single file only; otherwise taken from tags or the file name)')
  .option('--json', 'print one JSON line per track on stdout')
  .action(async (files: string[], opts: { artist?: string; album?: string; title?: string; json?: boolean }) => {
    const { runIngestCommand } = await import('./cli-ingest');
    const code = await runIngestCommand(files, {
      ...opts,
      url: process.env.PLATFORM_URL || 'http://127.0.0.1:8080',
      token: process.env.PLATFORM_TOKEN ?? '',
    });
    process.exitCode = code;
  });

program
  .command('recs')
  .description('recommendations: `recs train`, `recs eval --train FILE --test FILE --out RECS.tsv`, `recs tune --train FILE`')
  .allowUnknownOption(true)
  .helpOption(false)
  .argument('[args...]')
  .action(async (args: string[]) => {
    const { runRecsCommand } = await import('./cli-recs');
    process.exitCode = await runRecsCommand(args);
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`platform: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
