// What the bench scripts share. BENCHMARKS.md: each script owns some "## " sections and rewrites
// only those. --help: each script's usage is its header comment.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

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

// The new report plus the "## " sections of the old file that this report does not write (the
// WebAssembly section belongs to web.mjs), in their old order after it.
export function keepOtherSections(file, report) {
  if (!existsSync(file)) return report;
  const sections = readFileSync(file, 'utf8').split(/^(?=## )/m).slice(1);
  const written = new Set(report.split('\n').filter((l) => l.startsWith('## ')).map((l) => l.trimEnd()));
  const kept = sections.filter((sec) => !written.has(sec.split('\n')[0].trimEnd()));
  return kept.length ? `${report.replace(/\s*$/, '')}\n\n${kept.join('').replace(/\s*$/, '')}\n` : report;
}

// Prints the script's header comment (its usage) and exits.
export function printHeaderComment(scriptUrl) {
  const lines = readFileSync(fileURLToPath(scriptUrl), 'utf8').split('\n').slice(1);
  console.log(lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).join('\n'));
  process.exit(0);
}
