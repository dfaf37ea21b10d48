import { chmodSync, cpSync, mkdtempSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeImageRecipe } from '../../src/image/provision.js';
import { recipeHash } from '../../src/image/recipe.js';

function copyRecipe() {
  const dir = mkdtempSync(join(tmpdir(), 'recipe-'));
  const real = nodeImageRecipe();
  cpSync(real.recipeDir, join(dir, 'node'), { recursive: true });
  cpSync(real.imageScriptsDir, join(dir, 'scripts'), { recursive: true });
  cpSync(real.buildScript, join(dir, 'build.sh'));
  return nodeImageRecipe({ recipeDir: join(dir, 'node'), imageScriptsDir: join(dir, 'scripts'), buildScript: join(dir, 'build.sh') });
}

describe('the image cache key', () => {
  it('is stable for an unchanged recipe', () => {
    const r = copyRecipe();
    expect(recipeHash(r)).toBe(recipeHash(nodeImageRecipe()));
  });
  it('changes with the package list, a files/ file, a node script, its mode, the suite and the size', () => {
    const r = copyRecipe();
    const seen = new Set([recipeHash(r)]);
    const changed = () => {
      const h = recipeHash(r);
      expect(seen.has(h)).toBe(false);
      seen.add(h);
    };
    appendFileSync(join(r.recipeDir, 'packages.txt'), 'tcpdump\n');
    changed();
    writeFileSync(join(r.recipeDir, 'files', 'etc', 'new-file'), 'x');
    changed();
    appendFileSync(join(r.imageScriptsDir, 'dpdkci-seed.sh'), '\n# edit\n');
    changed();
    chmodSync(join(r.imageScriptsDir, 'dpdkci-seed.sh'), 0o700);
    changed();
    appendFileSync(r.buildScript, '\n# edit\n');
    changed();
    expect(recipeHash({ ...r, suite: 'trixie' })).not.toBe(recipeHash(r));
    expect(recipeHash({ ...r, diskSize: '16G' })).not.toBe(recipeHash(r));
  });
});
