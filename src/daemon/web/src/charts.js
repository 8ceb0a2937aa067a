// Graphs: uPlot for the host and detail pages, a plain canvas sparkline for the list (cheap
// enough for hundreds of rows).
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export function sparkline(canvas, values, max, color) {
  const w = canvas.width, h = canvas.height, ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, w, h);
  if (values.length < 2) return;
  const top = Math.max(max || 0, ...values, 1e-9);
  ctx.beginPath();
  values.forEach((v, i) => {
    const x = (i / (values.length - 1)) * (w - 1), y = h - 1 - (v / top) * (h - 2);
    if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
  });
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.5;
  ctx.stroke();
}

// A live graph: series names and a unit formatter; push(values) adds one point.
export class LiveChart {
  // max: the least top of the y scale (100 for percentages; more CPUs than one go beyond)
  constructor(el, title, series, fmt, width, max) {
    this.keep = 60;
    this.data = [[], ...series.map(() => [])];
    const colors = ['#2f6fde', '#d9480f', '#2b8a3e', '#862e9c'];
    this.plot = new uPlot({
      title, width: width || 560, height: 180,
      scales: { x: { time: true }, y: { range: (u, lo, hi) => [0, Math.max(hi * 1.15, max || 1)] } },
      axes: [{}, { values: (u, v) => v.map(fmt), size: 84 }],
      series: [{}, ...series.map((s, i) => ({ label: s, stroke: colors[i % colors.length], width: 1.5,
        value: (u, v) => v == null ? '-' : fmt(v) }))],
    }, this.data, el);
  }
  // t: ignored (the daemon's clock is monotonic); the page's wall clock labels the axis
  push(t, values) {
    this.data[0].push(Date.now() / 1000);
    values.forEach((v, i) => this.data[i + 1].push(v));
    if (this.data[0].length > this.keep) this.data.forEach((a) => a.shift());
    this.plot.setData(this.data);
  }
  resize(w) { this.plot.setSize({ width: w, height: 180 }); }
  destroy() { this.plot.destroy(); }
}

export function bytes(n) {
  if (n == null || isNaN(n)) return '-';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : Math.round(n)) + ' ' + u[i];
}

export const pct = (v) => (v == null ? '-' : v.toFixed(1) + '%');
