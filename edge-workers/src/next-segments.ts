/**
 * Which objects a player will ask for next: segment names carry a number (`seg_7.m4s`,
 * `segment_00007.ts`), so the next ones are the same name with the number plus 1, 2, ... keeping
 * its zero-padding. Init segments and manifests have no successor.
 */
const NUMBERED_RE = /^(.*?)(\d+)(\.(?:m4s|mp4|m4a|ts|aac|mp3))$/;

export function nextSegmentKeys(key: string, count: number): string[] {
  if (count <= 0) return [];
  const slash = key.lastIndexOf('/');
  const dir = key.slice(0, slash + 1);
  const name = key.slice(slash + 1);
  if (name.includes('init')) return [];
  const m = NUMBERED_RE.exec(name);
  if (!m) return [];
  const digits = m[2];
  const n = Number(digits);
  if (!Number.isSafeInteger(n)) return [];
  const width = digits.length > 1 && digits.startsWith('0') ? digits.length : 0;
  const out: string[] = [];
  for (let i = 1; i <= count; i++) out.push(`${dir}${m[1]}${String(n + i).padStart(width, '0')}${m[3]}`);
  return out;
}
