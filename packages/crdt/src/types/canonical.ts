import type { Value } from '@driftless/core';

/**
 * A string that identifies a plain value: equal values (objects compared field by field, in any
 * field order) give equal strings, and different values different strings. Sets key their
 * elements by it.
 */
export function canonicalKey(value: Value): string {
  return typeof value === 'string' ? `s${value}` : `j${canonicalJson(value)}`;
}

function canonicalJson(value: Value): string {
  if (value === null || typeof value === 'boolean') return String(value);
  if (typeof value === 'number') return Number.isFinite(value) ? JSON.stringify(value) : `#${value}`;
  if (typeof value === 'string') return JSON.stringify(value);
  if (value instanceof Uint8Array) {
    let hex = '<';
    for (const byte of value) hex += byte.toString(16).padStart(2, '0');
    return `${hex}>`;
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const map = value as { readonly [field: string]: Value };
  const fields = Object.keys(map).sort();
  return `{${fields.map((field) => `${JSON.stringify(field)}:${canonicalJson(map[field] as Value)}`).join(',')}}`;
}
