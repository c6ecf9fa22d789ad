// Charts as SVG, compiled from vega-lite specs and rendered headless by vega (no canvas needed
// for SVG output).
import * as vega from 'vega';
import * as vl from 'vega-lite';

export async function renderSvg(spec: vl.TopLevelSpec): Promise<string> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

/** Horizontal bars, one per proxy, for one metric. */
export function barSpec(title: string, unit: string, rows: { target: string; value: number }[]): vl.TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 420,
    height: { step: 26 },
    data: { values: rows.filter((r) => Number.isFinite(r.value)) },
    layer: [
      { mark: { type: 'bar' }, encoding: {
        y: { field: 'target', type: 'nominal', sort: null, title: null },
        x: { field: 'value', type: 'quantitative', title: unit },
        color: { field: 'target', type: 'nominal', legend: null },
      } },
      { mark: { type: 'text', align: 'left', dx: 3 }, encoding: {
        y: { field: 'target', type: 'nominal', sort: null },
        x: { field: 'value', type: 'quantitative' },
        text: { field: 'value', type: 'quantitative', format: ',.3~r' },
      } },
    ],
  };
}

/** Grouped bars: x = group (e.g. size), colour = proxy. */
export function groupedSpec(title: string, unit: string, rows: { group: string; target: string; value: number }[], logScale = false): vl.TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: { step: 18 },
    height: 260,
    data: { values: rows.filter((r) => Number.isFinite(r.value)) },
    mark: 'bar',
    encoding: {
      column: { field: 'group', type: 'nominal', title: null, sort: null },
      x: { field: 'target', type: 'nominal', title: null, axis: { labels: false, ticks: false } },
      y: { field: 'value', type: 'quantitative', title: unit, scale: logScale ? { type: 'symlog' } : {} },
      color: { field: 'target', type: 'nominal', title: 'proxy' },
    },
  };
}
