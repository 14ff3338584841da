/** A minimal observable store + Preact hook: the app's shared state without a state library in the bundle. */
import { useEffect, useRef, useState } from 'preact/hooks';

export interface Store<T> {
  get(): T;
  set(next: T | ((prev: T) => T)): void;
  subscribe(fn: (v: T) => void): () => void;
}

export function createStore<T>(initial: T): Store<T> {
  let value = initial;
  const subs = new Set<(v: T) => void>();
  return {
    get: () => value,
    set(next) {
      const v = typeof next === 'function' ? (next as (p: T) => T)(value) : next;
      if (Object.is(v, value)) return;
      value = v;
      for (const fn of [...subs]) fn(value);
    },
    subscribe(fn) {
      subs.add(fn);
      return () => subs.delete(fn);
    },
  };
}

export function useStore<T>(store: Store<T>): T {
  const value = store.get();
  const [, setTick] = useState(0);
  const rendered = useRef(value);
  rendered.current = value;
  useEffect(() => {
    const unsubscribe = store.subscribe(() => setTick((n) => n + 1));
    // Effects run after paint: a change between this render and the subscription (e.g. /api/me answering
    // in that gap) would otherwise never reach the component, and a page would wait forever for it.
    if (!Object.is(store.get(), rendered.current)) setTick((n) => n + 1);
    return unsubscribe;
  }, [store]);
  return value;
}
