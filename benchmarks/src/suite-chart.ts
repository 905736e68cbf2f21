import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { describeParams } from './cluster-params.js';
import type { ScenarioResult } from './scenario.js';

/**
 * One SVG chart per scenario: a bar per system for each metric (a panel per metric, each with its
 * own scale), written as a vega-lite spec, compiled to vega and rendered to SVG in Node by vega's
 * headless renderer (`renderer: 'none'`, `toSVG`): no browser, no canvas.
 */

/** What each system is called in charts, and its colour (Driftless stands out). */
const NAMES: Readonly<Record<string, string>> = {
  driftless: 'Driftless',
  'driftless-snapshot': 'Driftless (snapshot)',
  raw: 'raw ws + msgpackr',
  yjs: 'Yjs (y-protocols)',
  automerge: 'Automerge',
};
const COLOURS = ['#d9480f', '#f08c00', '#868e96', '#1c7ed6', '#2f9e44'];

/** The vega-lite spec of a scenario's chart. */
export function chartSpec(result: ScenarioResult): TopLevelSpec {
  const values = result.metrics.flatMap((metric) =>
    result.runs.flatMap((run) => {
      const value = run.values[metric.id];
      return value === undefined
        ? []
        : [
            {
              metric: `${metric.label} (${metric.unit}, ${metric.better} is better)`,
              system: NAMES[run.system] ?? run.system,
              value,
            },
          ];
    }),
  );
  const order = result.runs.map((run) => NAMES[run.system] ?? run.system);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: result.title, subtitle: describeParams(result.params, result.scenario) },
    data: { values },
    facet: {
      row: {
        field: 'metric',
        type: 'nominal',
        title: null,
        header: { labelAngle: 0, labelAlign: 'left', labelAnchor: 'start', labelOrient: 'top' },
      },
    },
    resolve: { scale: { x: 'independent' } },
    spec: {
      width: 420,
      height: { step: 18 },
      layer: [
        {
          mark: 'bar',
          encoding: {
            y: { field: 'system', type: 'nominal', sort: order, title: null },
            x: { field: 'value', type: 'quantitative', title: null },
            color: {
              field: 'system',
              type: 'nominal',
              sort: order,
              scale: { domain: order, range: COLOURS },
              legend: null,
            },
          },
        },
        {
          mark: { type: 'text', align: 'left', dx: 3 },
          encoding: {
            y: { field: 'system', type: 'nominal', sort: order },
            x: { field: 'value', type: 'quantitative' },
            text: { field: 'value', type: 'quantitative', format: '.3~s' },
          },
        },
      ],
    },
  };
}

/** Renders a scenario's chart to an SVG document. */
export async function renderChart(result: ScenarioResult): Promise<string> {
  const view = new vega.View(vega.parse(compile(chartSpec(result)).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
