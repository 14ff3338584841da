/** Line chart with uPlot (45 KB, canvas, fast with thousands of points), loaded only when a chart is shown. */
import { useEffect, useRef } from 'preact/hooks';
import 'uplot/dist/uPlot.min.css';

export interface Series {
  label: string;
  values: (number | null)[];
}

export function LineChart({ x, series, title, height = 220 }: { x: number[]; series: Series[]; title: string; height?: number }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    let plot: { destroy(): void; setSize(s: { width: number; height: number }): void } | undefined;
    let alive = true;
    const colors = ['#30c48d', '#5b8def', '#f5a524', '#e5484d', '#a78bfa'];
    void import('uplot').then(({ default: UPlot }) => {
      if (!alive || !box.current) return;
      plot = new UPlot(
        {
          width: box.current.clientWidth || 600,
          height,
          axes: [{ stroke: '#9aa0aa', grid: { stroke: '#2a2e36' } }, { stroke: '#9aa0aa', grid: { stroke: '#2a2e36' } }],
          series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: colors[i % colors.length], width: 2 }))],
        },
        [x, ...series.map((s) => s.values)] as never,
        box.current,
      );
    });
    const onResize = () => box.current && plot?.setSize({ width: box.current.clientWidth, height });
    addEventListener('resize', onResize);
    return () => {
      alive = false;
      removeEventListener('resize', onResize);
      plot?.destroy();
    };
  }, [x, series, height]);
  return (
    <figure class="chart" role="img" aria-label={`${title}: line chart of ${series.map((s) => s.label).join(', ')}`}>
      <figcaption>{title}</figcaption>
      <div ref={box} style={{ minHeight: `${height + 40}px` }} />
    </figure>
  );
}
