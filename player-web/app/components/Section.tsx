import type { ComponentChildren } from 'preact';

/** A titled block with placeholder rows while loading (reserves space: no layout jump) and a readable error. */
export function Section({ title, isLoading, error, empty, children, testId }: { title: string; isLoading?: boolean; error?: string; empty?: string | false; children?: ComponentChildren; testId?: string }) {
  const id = `s-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return (
    <section class="section" aria-labelledby={id} data-testid={testId}>
      <h2 id={id}>{title}</h2>
      {isLoading && !children ? (
        <div class="skeleton" aria-busy="true" aria-label="Loading">
          {[0, 1, 2, 3].map((i) => (
            <div key={i} class="skeleton-row" />
          ))}
        </div>
      ) : error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : empty ? (
        <p class="muted">{empty}</p>
      ) : (
        children
      )}
    </section>
  );
}
