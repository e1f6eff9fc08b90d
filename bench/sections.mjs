// BENCHMARKS.md is shared: each bench script owns some "## " sections and rewrites only those.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

// Replaces the section that starts with `heading` (up to the next "## " heading, or the end) with
// `section`, or appends it; the rest of the file is kept byte for byte.
export function writeSection(file, heading, section) {
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const lines = old.split('\n');
  const start = lines.findIndex((l) => l.trimEnd() === heading);
  let text;
  if (start < 0) {
    text = `${old.replace(/\s*$/, '')}${old.trim() ? '\n\n' : ''}${section}`;
  } else {
    let end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
    if (end < 0) end = lines.length;
    const rest = lines.slice(end).join('\n');
    text = `${lines.slice(0, start).join('\n')}${start ? '\n' : ''}${section}${rest ? `\n${rest}` : ''}`;
  }
  writeFileSync(file, text.endsWith('\n') ? text : `${text}\n`);
}
