/** What a listener reads when media stops loading, by the edge's HTTP status (0: no answer at all). */
export function loadFailureText(status: number, via = ''): string {
  if (status === 401 || status === 403) return 'The playback link expired. Press play again.';
  // 410 gone: the edge was told (cache.purge) that this version was replaced or the track deleted.
  if (status === 410) return 'This track was replaced or removed by its artist. Press play again for the current version.';
  return `The audio could not be loaded${via}. Check your connection and press play again.`;
}
