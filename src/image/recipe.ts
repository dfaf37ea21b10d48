import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** What defines a node image. Its hash keys the image cache: change any input and the image is rebuilt. */
export interface ImageRecipe {
  name: string;
  recipeDir: string;
  imageScriptsDir: string;
  buildScript: string;
  suite: string;
  diskSize: string;
}

export function walk(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(path));
    else out.push(path);
  }
  return out;
}

/** A hash over the recipe's files (paths, modes and contents), the build script, the suite and the size. */
export function recipeHash(recipe: ImageRecipe): string {
  const h = createHash('sha256');
  h.update(`suite=${recipe.suite}\ndisk=${recipe.diskSize}\n`);
  // Named by role and path inside their root, so that the same recipe hashes the same wherever it is.
  const files: [string, string][] = [
    ...walk(recipe.recipeDir).map((f): [string, string] => [`recipe/${relative(recipe.recipeDir, f)}`, f]),
    ...walk(recipe.imageScriptsDir).map((f): [string, string] => [`image-scripts/${relative(recipe.imageScriptsDir, f)}`, f]),
    ['build-script', recipe.buildScript],
  ];
  for (const [name, file] of files) {
    const mode = statSync(file).mode & 0o777;
    h.update(`${name}\0${mode.toString(8)}\0`);
    h.update(readFileSync(file));
    h.update('\0');
  }
  return h.digest('hex').slice(0, 16);
}
