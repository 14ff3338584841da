// m3u8-parser and mpd-parser ship no type declarations; the tests use a small, checked subset.
declare module 'm3u8-parser' {
  export class Parser {
    push(chunk: string): void;
    end(): void;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    manifest: any;
  }
}
declare module 'mpd-parser' {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  export function parse(xml: string, opts?: { manifestUri?: string }): any;
}
