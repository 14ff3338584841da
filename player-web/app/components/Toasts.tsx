import { useStore } from '../lib/store';
import { toastStore } from '../lib/toast';

export function Toasts() {
  const list = useStore(toastStore);
  return (
    <div class="toasts" role="status" aria-live="polite" data-testid="toasts">
      {list.map((t) => (
        <div key={t.id} class="toast">
          {t.text}
        </div>
      ))}
    </div>
  );
}
