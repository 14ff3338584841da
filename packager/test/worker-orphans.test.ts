import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { createPackagerWorker } from '../src/index';
import { makeWav } from '../../libs/media/test/fixtures';
import { startHarness, type Harness } from './harness';

let h: Harness;
before(async () => {
  h = await startHarness('orphans');
});
after(async () => {
  await h.close();
});

// The platform restarted (Ctrl-C or a crash mid-transcode) on the in-process bus: its queued jobs died
// with it. The rows still say `processing`; nobody would ever finish them without this requeue.
test('on the in-process bus, tracks left processing by a previous run are requeued at start (missing original -> failed)', async () => {
  const src = makeWav(path.join(h.dir, 'orphan.wav'), { seconds: 2 });
  const orphan = await h.addTrack(src, 'wav', { title: 'Orphan' });
  const lost = await h.addTrack(src, 'wav', { title: 'Lost original' });
  await h.deps.objects.delete(lost.originalKey);
  // No job is sent for either: that is what the dead process took with it.
  const worker = createPackagerWorker(h.deps);
  await worker.start();
  try {
    const t = await h.waitForStatus(orphan.trackId, 'ready');
    assert.equal(t.publishedVersion, 1);
    const l = await h.waitForStatus(lost.trackId, 'failed');
    assert.match(l.errorDetail ?? '', /original/);
  } finally {
    await worker.stop();
  }
});
