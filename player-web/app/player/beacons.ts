/**
 * QoE beacons (CONTRACT "A beacon event"; schema in @platform/models beacons.ts). Events are batched and sent
 * every few seconds with fetch(keepalive); when the page is hidden or unloads, whatever is pending goes out with
 * navigator.sendBeacon as text/plain in chunks well under its 64 KB in-flight budget. Each event has its own
 * eventId so the collector can drop the duplicates a retry may create.
 */
import { csrfHeaders } from '../lib/api';
import { uuid } from './ids';

// The schema is the analytics service's (libs/models/src/beacons.ts); type-only import keeps zod out of the bundle.
import type { TBeaconEvent, TBeaconType } from '@platform/models';

export type BeaconType = TBeaconType;
export type BeaconEvent = TBeaconEvent;

export type BeaconInput = Omit<BeaconEvent, 'v' | 'eventId' | 'ts'>;

const ENDPOINT = '/api/beacons';
const FLUSH_EVERY_MS = 5000;
const MAX_BATCH = 25; // BEACON_MAX_EVENTS is 100 per request
// sendBeacon shares 64 KB per page among all requests in flight; stay far below it.
const BEACON_CHUNK_BYTES = 16_000;

export class BeaconSender {
  private queue: BeaconEvent[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Every event sent, newest last (kept small; the e2e suite and the debug overlay read it). */
  readonly sent: BeaconEvent[] = [];

  constructor() {
    const hide = () => this.flushOnHide();
    addEventListener('pagehide', hide);
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'hidden') hide();
    });
  }

  emit(input: BeaconInput): BeaconEvent {
    const ev: BeaconEvent = { v: 1, eventId: uuid(), ts: Date.now(), ...input, positionMs: Math.max(0, Math.round(input.positionMs)) };
    this.queue.push(ev);
    this.sent.push(ev);
    if (this.sent.length > 500) this.sent.splice(0, this.sent.length - 500);
    if (this.queue.length >= MAX_BATCH) void this.flush();
    else if (!this.timer) this.timer = setTimeout(() => void this.flush(), FLUSH_EVERY_MS);
    return ev;
  }

  /** Sends everything pending now (ended/skip call this so charts see plays promptly). */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.queue.length) return;
    const events = this.queue.splice(0, this.queue.length);
    try {
      const res = await fetch(ENDPOINT, {
        method: 'POST',
        keepalive: true,
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json', ...csrfHeaders() },
        body: JSON.stringify({ events }),
      });
      if (!res.ok && res.status >= 500) this.requeue(events);
    } catch {
      this.requeue(events);
    }
  }

  private requeue(events: BeaconEvent[]): void {
    // Retry once later; the eventIds make a duplicate harmless.
    this.queue.unshift(...events.slice(-200));
    if (!this.timer) this.timer = setTimeout(() => void this.flush(), FLUSH_EVERY_MS * 2);
  }

  private flushOnHide(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const events = this.queue.splice(0, this.queue.length);
    let batch: BeaconEvent[] = [];
    let size = 20;
    const send = () => {
      if (!batch.length) return;
      const body = JSON.stringify({ events: batch });
      const ok = typeof navigator.sendBeacon === 'function' && navigator.sendBeacon(ENDPOINT, new Blob([body], { type: 'text/plain' }));
      if (!ok) void fetch(ENDPOINT, { method: 'POST', keepalive: true, headers: { 'content-type': 'text/plain', ...csrfHeaders() }, body }).catch(() => {});
      batch = [];
      size = 20;
    };
    for (const ev of events) {
      const n = JSON.stringify(ev).length + 1;
      if (size + n > BEACON_CHUNK_BYTES) send();
      batch.push(ev);
      size += n;
    }
    send();
  }
}
