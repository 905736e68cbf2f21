import { readFileSync } from 'node:fs';
import { CLOSE_CODES, PROTOCOL_VERSION } from '@driftless/sync';
import { describe, expect, it } from 'vitest';

/**
 * docs/PROTOCOL.md is the protocol's specification: the version it states, its version history and
 * its close-code table must be what the code speaks, so a change to one without the other fails.
 */
const SPEC = readFileSync(new URL('../../../docs/PROTOCOL.md', import.meta.url), 'utf8');

/** The rows of the markdown table whose header row starts with `firstHeader`, as trimmed cells. */
function tableAfter(firstHeader: string): string[][] {
  const lines = SPEC.split('\n');
  const start = lines.findIndex((line) => new RegExp(`^\\|\\s*${firstHeader}\\s*\\|`).test(line));
  expect(start, `a table headed "${firstHeader}" in PROTOCOL.md`).toBeGreaterThanOrEqual(0);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .split('|')
        .slice(1, -1)
        .map((cell) => cell.trim()),
    );
  }
  return rows;
}

describe('docs/PROTOCOL.md', () => {
  it('states the version the code speaks, with a history row for every version up to it', () => {
    expect(SPEC).toContain(`\`PROTOCOL_VERSION = ${PROTOCOL_VERSION}\`.`);
    const versions = tableAfter('version').map(([version]) => Number(version));
    expect(versions).toEqual(Array.from({ length: PROTOCOL_VERSION }, (_, i) => i + 1));
  });

  it('lists every close code, by name and number, and no other', () => {
    const rows = tableAfter('name').map(([name, code]) => [name?.replaceAll('`', ''), Number(code)]);
    expect(rows).toEqual(Object.entries(CLOSE_CODES));
  });
});
