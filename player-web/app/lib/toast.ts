/** Short status messages announced to screen readers through one aria-live region (components/Toasts). */
import { createStore } from './store';

export interface ToastMessage {
  id: number;
  text: string;
}
export const toastStore = createStore<ToastMessage[]>([]);
let nextId = 1;

export function toast(text: string, ms = 4000): void {
  const id = nextId++;
  toastStore.set((l) => [...l.slice(-2), { id, text }]);
  setTimeout(() => toastStore.set((l) => l.filter((t) => t.id !== id)), ms);
}
