// No module imports a layer above it (docs/architecture.md, "Layers"). Every import, export-from, dynamic
// import and type import with a relative specifier in src/, providers/ and scripts/ is read from the syntax
// tree and checked against the table below.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = join(__dirname, '..', '..');

/** Bottom to top: a module imports only from its own layer or the ones below it. */
const LAYERS: readonly { rank: number; name: string; places: readonly string[] }[] = [
  { rank: 0, name: 'core', places: ['src/core/'] },
  { rank: 1, name: 'runners', places: ['src/exec/'] },
  { rank: 2, name: 'provider seam', places: ['src/provider/'] },
  {
    rank: 3,
    name: 'domain',
    places: ['src/dataplane/', 'src/kubernetes/', 'src/image/', 'src/snapshot/', 'src/sync/', 'src/versions/', 'src/fetch/', 'src/logs/', 'src/bundle/', 'src/node-scripts/'],
  },
  { rank: 4, name: 'steps', places: ['src/steps/'] },
  // Each provider may import layers 0-4, never another provider (checked apart).
  { rank: 5, name: 'providers', places: ['providers/'] },
  { rank: 6, name: 'CLI', places: ['src/cli/', 'scripts/'] },
];

type Layer = { rank: number; name: string; provider?: string };

function layerOf(path: string): Layer | undefined {
  for (const l of LAYERS) {
    const place = l.places.find((p) => path.startsWith(p));
    if (!place) continue;
    if (place === 'providers/') return { rank: l.rank, name: l.name, provider: path.split('/')[1] };
    return { rank: l.rank, name: l.name };
  }
  return undefined;
}

/** Relative specifiers with their lines: import, export-from, import-equals, import(), require() and import('x').T types. */
function importsOf(fileName: string, text: string): { line: number; specifier: string }[] {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: { line: number; specifier: string }[] = [];
  const add = (at: ts.Node, spec: ts.Node | undefined) => {
    if (spec && ts.isStringLiteralLike(spec)) found.push({ line: sf.getLineAndCharacterOfPosition(at.getStart(sf)).line + 1, specifier: spec.text });
  };
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) add(n, n.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference)) add(n, n.moduleReference.expression);
    else if (ts.isCallExpression(n) && (n.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(n.expression) && n.expression.text === 'require'))) add(n, n.arguments[0]);
    else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument)) add(n, n.argument.literal);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return found.filter((i) => i.specifier.startsWith('.'));
}

function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory()) return tsFiles(path);
    return e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

const toPosix = (p: string) => p.split(sep).join(posix.sep);

type Finding = { file: string; line: number; target: string; why: string };

/** Every import that points to a higher layer or to another provider, and every file outside the table. */
function layerFindings(files: readonly { path: string; text: string }[]): { findings: Finding[]; imports: number } {
  const findings: Finding[] = [];
  let imports = 0;
  for (const { path, text } of files) {
    const from = layerOf(path);
    if (!from) {
      findings.push({ file: path, line: 1, target: '', why: 'is in no layer: add its place to LAYERS and docs/architecture.md' });
      continue;
    }
    for (const { line, specifier } of importsOf(path, text)) {
      const target = toPosix(relative(ROOT, join(ROOT, dirname(path), specifier))).replace(/\.js$/, '.ts');
      imports++;
      const to = layerOf(target);
      if (!to) {
        if (/^(src|providers)\//.test(target)) findings.push({ file: path, line, target, why: 'a place in no layer' });
        continue;
      }
      if (to.rank > from.rank) findings.push({ file: path, line, target, why: `layer ${to.rank} ${to.name} above ${from.rank} ${from.name}` });
      else if (from.provider && to.provider && from.provider !== to.provider) findings.push({ file: path, line, target, why: `provider ${to.provider} from provider ${from.provider}` });
    }
  }
  return { findings, imports };
}

describe('layers', () => {
  const files = ['src', 'providers', 'scripts'].flatMap(tsFiles).map((path) => ({ path, text: readFileSync(join(ROOT, path), 'utf8') }));
  const { findings, imports } = layerFindings(files);

  it('reads the imports of every source file', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(imports).toBeGreaterThan(500);
  });

  it('no module imports a layer above it, nor another provider', () => {
    const violations = findings.map((f) => `${f.file}:${f.line} imports ${f.target} (${f.why})`);
    expect(violations).toEqual([]);
  });

  it('finds each kind of import that points up', () => {
    const text = [
      "import { a } from '../steps/x/index.js';",
      "import type { B } from '../../providers/qemu/b.js';",
      "export { c } from '../cli/c.js';",
      "export type * from '../steps/d.js';",
      "const e = await import('../cli/e.js');",
      "type F = import('../steps/f.js').F;",
      "import { g } from './g.js';",
      "import { h } from 'node:fs';",
    ].join('\n');
    const { findings: found } = layerFindings([
      { path: 'src/core/sample.ts', text },
      { path: 'providers/hosts/sample.ts', text: "import type { Q } from '../qemu/q.js';\nimport { s } from '../../src/steps/s.js';" },
      { path: 'src/elsewhere/sample.ts', text: '' },
    ]);
    expect(found.map((f) => `${f.file}:${f.line} ${f.target} (${f.why})`)).toEqual([
      'src/core/sample.ts:1 src/steps/x/index.ts (layer 4 steps above 0 core)',
      'src/core/sample.ts:2 providers/qemu/b.ts (layer 5 providers above 0 core)',
      'src/core/sample.ts:3 src/cli/c.ts (layer 6 CLI above 0 core)',
      'src/core/sample.ts:4 src/steps/d.ts (layer 4 steps above 0 core)',
      'src/core/sample.ts:5 src/cli/e.ts (layer 6 CLI above 0 core)',
      'src/core/sample.ts:6 src/steps/f.ts (layer 4 steps above 0 core)',
      'providers/hosts/sample.ts:1 providers/qemu/q.ts (provider qemu from provider hosts)',
      'src/elsewhere/sample.ts:1  (is in no layer: add its place to LAYERS and docs/architecture.md)',
    ]);
  });
});
