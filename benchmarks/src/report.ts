import { arch, cpus, loadavg, platform, totalmem } from 'node:os';
import type { Sample } from './measure.js';

/**
 * How benchmark results are shown: an aligned plain-text table, one row per figure with its
 * baseline, their ratio and the target, and the same results as one JSON line.
 */

/** The unit of a figure. */
export type Unit = 'ops/s' | 'B/op' | 'ops/commit' | 'ms' | 'B' | 'B/key' | '%';

/** A bound a figure should meet. */
export interface Target {
  /** What the bound applies to: the Driftless figure itself, or its ratio to the baseline. */
  readonly of: 'driftless' | 'ratio';
  readonly bound: 'min' | 'max';
  readonly value: number;
}

/** One measured quantity of Driftless, beside the same quantity of its baseline. */
export interface Figure {
  /** A stable name for machines: `append.batch`, `codec.roundtrip`, … */
  readonly id: string;
  /** What a reader sees in the table. */
  readonly label: string;
  readonly unit: Unit;
  readonly driftless: Sample;
  readonly baseline?: Sample;
  readonly target?: Target;
}

/** A figure with its ratio to the baseline and whether it met its target. */
export interface JudgedFigure extends Figure {
  /** Driftless ÷ baseline, of the medians. */
  readonly ratio: number | null;
  /** Null when the figure has no target. */
  readonly met: boolean | null;
}

/** The machine the run happened on. */
export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly node: string;
  readonly platform: string;
  readonly memoryGiB: number;
  /** The one-minute load average when the run began: how busy the neighbours were. */
  readonly loadAverage: number;
}

/** What the whole run cost the process (every thread, LMDB's included). */
export interface Resources {
  readonly peakRssMiB: number;
  readonly userCpuS: number;
  readonly systemCpuS: number;
  readonly wallS: number;
}

/** A complete benchmark run. */
export interface Report {
  readonly benchmark: string;
  readonly mode: 'full' | 'quick';
  readonly machine: Machine;
  readonly figures: readonly JudgedFigure[];
  /** What each baseline is, and anything else a reader needs to interpret the figures. */
  readonly notes: readonly string[];
  readonly resources: Resources;
  /** What child processes cost, when the run spawned any: the largest peak RSS, the CPU time summed. */
  readonly childResources?: Resources;
}

/** Describes this machine. */
export function describeMachine(): Machine {
  const all = cpus();
  return {
    cpu: all[0]?.model.trim() ?? 'unknown',
    cores: all.length,
    node: process.version,
    platform: `${platform()} ${arch()}`,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    loadAverage: loadavg()[0] ?? 0,
  };
}

/** The peak RSS, CPU time and wall time of this process so far. */
export function measureResources(): Resources {
  const usage = process.resourceUsage();
  const peakKiB = Math.max(usage.maxRSS, process.memoryUsage().rss / 1024);
  return {
    peakRssMiB: peakKiB / 1024,
    userCpuS: usage.userCPUTime / 1e6,
    systemCpuS: usage.systemCPUTime / 1e6,
    wallS: process.uptime(),
  };
}

/** Computes a figure's ratio to its baseline and checks it against its target. */
export function judge(figure: Figure): JudgedFigure {
  const ratio = figure.baseline === undefined ? null : figure.driftless.median / figure.baseline.median;
  const { target } = figure;
  let met: boolean | null = null;
  if (target !== undefined) {
    const value = target.of === 'ratio' ? ratio : figure.driftless.median;
    if (value === null) throw new Error(`${figure.id}: a ratio target needs a baseline`);
    met = target.bound === 'min' ? value >= target.value : value <= target.value;
  }
  return { ...figure, ratio, met };
}

/** The report as one JSON line. */
export function renderJson(report: Report): string {
  return JSON.stringify(report);
}

/** The report as an aligned plain-text table, with the machine above and the notes below. */
export function renderText(report: Report): string {
  const { machine, resources } = report;
  const rows = report.figures.map((figure) => [
    figure.label,
    formatValue(figure.driftless.median, figure.unit),
    formatSpread(figure.driftless),
    figure.baseline === undefined ? '' : formatValue(figure.baseline.median, figure.unit),
    figure.baseline === undefined ? '' : formatSpread(figure.baseline),
    figure.ratio === null ? '' : formatRatio(figure.ratio),
    figure.target === undefined ? '—' : formatTarget(figure.target, figure.unit),
    figure.met === null ? '' : figure.met ? '✓' : '✗',
  ]);
  const header = ['figure', 'Driftless', '±', 'baseline', '±', 'D/base', 'target', ''];
  const lines = [
    `Driftless ${report.benchmark} benchmarks (${report.mode})`,
    `machine: ${machine.cpu} × ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.platform}, ` +
      `Node ${machine.node}, load average ${machine.loadAverage.toFixed(2)} at start`,
    '',
    ...alignColumns([header, ...rows], [false, true, true, true, true, true, false, false]),
    '',
    'Medians of the repetitions; ± is half the range (max − min) over the median.',
    ...report.notes,
    '',
    `peak RSS ${resources.peakRssMiB.toFixed(0)} MiB; CPU ${resources.userCpuS.toFixed(1)} s user + ` +
      `${resources.systemCpuS.toFixed(1)} s system over ${resources.wallS.toFixed(1)} s wall`,
  ];
  const children = report.childResources;
  if (children !== undefined) {
    lines.push(
      `child processes: largest peak RSS ${children.peakRssMiB.toFixed(0)} MiB; CPU ` +
        `${children.userCpuS.toFixed(1)} s user + ${children.systemCpuS.toFixed(1)} s system over ` +
        `${children.wallS.toFixed(1)} s wall`,
    );
  }
  return lines.join('\n');
}

/** Pads every cell to its column's width; `right` marks the right-aligned columns. */
export function alignColumns(rows: readonly (readonly string[])[], right: readonly boolean[]): string[] {
  const widths = right.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  const lines = rows.map((row) =>
    widths
      .map((width, column) => {
        const cell = row[column] ?? '';
        return right[column] ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd(),
  );
  const rule = '-'.repeat(Math.max(...lines.map((line) => line.length)));
  return [lines[0] ?? '', rule, ...lines.slice(1)];
}

/** A value with its unit, to three significant digits: `312k ops/s`, `7.23 B/op`, `51.2 kB`. */
export function formatValue(value: number, unit: Unit): string {
  if (unit === 'B') {
    // Thresholds just under the next power, so that 999,600 B shows as 1.00 MB, not 1.00e+3 kB.
    if (value >= 999.5e3) return `${(value / 1e6).toPrecision(3)} MB`;
    if (value >= 999.5) return `${(value / 1e3).toPrecision(3)} kB`;
    return `${value.toFixed(0)} B`;
  }
  // Times under 10 ms get two decimals (a p50 of 0.41 ms, say).
  if (unit === 'ms' && value < 10) return `${value.toFixed(2)} ms`;
  if (unit !== 'ops/s') return `${value.toFixed(unit === 'B/op' ? 2 : 1)} ${unit}`;
  if (value >= 1e6) return `${(value / 1e6).toPrecision(3)}M ${unit}`;
  if (value >= 1e3) return `${(value / 1e3).toPrecision(3)}k ${unit}`;
  return `${value.toPrecision(3)} ${unit}`;
}

/** Half the range over the median, as a percentage; empty for a single run. */
function formatSpread(sample: Sample): string {
  if (sample.runs < 2 || sample.median === 0) return '';
  return `${((50 * (sample.max - sample.min)) / sample.median).toFixed(0)}%`;
}

/** A ratio, with more digits when it is small. */
export function formatRatio(ratio: number): string {
  return ratio.toFixed(ratio < 0.1 ? 3 : 2);
}

/** A target as `≥ 300k ops/s` or `D/base ≥ 0.67`. */
function formatTarget(target: Target, unit: Unit): string {
  const sign = target.bound === 'min' ? '≥' : '≤';
  if (target.of === 'ratio') return `D/base ${sign} ${target.value}`;
  return `${sign} ${formatValue(target.value, unit)}`;
}
