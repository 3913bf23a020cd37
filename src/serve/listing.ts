/**
 * The HTML directory listing: names escaped for HTML and %-encoded in
 * links, directories first, sizes from statx on the ring.
 */
import { realpathSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';

import type { Ring } from '../ring/ring.js';

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/** 1536 → "1.5 KiB". */
export function formatSize(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

interface Row {
  name: string;
  dir: boolean;
  size: number | undefined;
  mtimeMs: number | undefined;
}

/**
 * The listing page of `dir` (a real path inside the root) shown at `urlPath`
 * (decoded, ends with '/'). Entries whose stat fails (dangling links) are
 * listed without a size, and so are links that lead out of the root.
 * Names starting with '.' are left out unless `dotfiles` is true (the
 * server refuses them then: a listing does not advertise them).
 */
export async function renderListing(ring: Ring, dir: string, urlPath: string, contains: (real: string) => boolean,
  dotfiles = false): Promise<string> {
  const dirents = (await readdir(dir, { withFileTypes: true })).filter((d) => dotfiles || !d.name.startsWith('.'));
  const rows: Row[] = await Promise.all(dirents.map(async (d): Promise<Row> => {
    try {
      const p = path.join(dir, d.name);
      // A link out of the root is listed (its name is here) but nothing about its target is shown.
      if (d.isSymbolicLink() && !contains(realpathSync.native(p))) throw new Error('outside the root');
      const st = await ring.statx(p);
      return { name: d.name, dir: st.isDirectory(), size: st.isDirectory() ? undefined : st.size, mtimeMs: st.mtimeMs };
    } catch {
      return { name: d.name, dir: d.isDirectory(), size: undefined, mtimeMs: undefined };
    }
  }));
  rows.sort((a, b) => (a.dir === b.dir ? (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) : a.dir ? -1 : 1));
  const title = `Index of ${escapeHtml(urlPath)}`;
  const lines: string[] = [];
  if (urlPath !== '/') lines.push('<tr><td><a href="../">../</a></td><td></td><td></td></tr>');
  for (const r of rows) {
    const href = encodeURIComponent(r.name) + (r.dir ? '/' : '');
    const shown = escapeHtml(r.name) + (r.dir ? '/' : '');
    const size = r.size === undefined ? (r.dir ? '' : '-') : formatSize(r.size);
    const sizeTitle = r.size === undefined ? '' : ` title="${r.size} bytes"`;
    const date = r.mtimeMs === undefined ? '' : new Date(r.mtimeMs).toISOString().slice(0, 16).replace('T', ' ');
    lines.push(`<tr><td><a href="${escapeHtml(href)}">${shown}</a></td>` +
      `<td class="size" data-bytes="${r.size ?? ''}"${sizeTitle}>${size}</td><td>${date}</td></tr>`);
  }
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:50rem;padding:0 1rem;color:#222}
h1{font-size:1.3rem;font-weight:600;word-break:break-all}
table{border-collapse:collapse;width:100%}
td{padding:.25rem .75rem .25rem 0;border-bottom:1px solid #eee}
td.size{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
a{color:#0b57d0;text-decoration:none}a:hover{text-decoration:underline}
footer{margin-top:1.5rem;color:#888;font-size:.8rem}
</style>
</head>
<body>
<h1>${title}</h1>
<table>
<tbody>
${lines.join('\n')}
</tbody>
</table>
<footer>uringkit serve</footer>
</body>
</html>
`;
}
