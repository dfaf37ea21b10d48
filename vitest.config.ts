import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts'],
          setupFiles: ['test/fixtures/register-providers.ts'],
          // Some unit files spawn bin/dpdkci.js, which runs dist/: compiled first when stale.
          globalSetup: ['test/fixtures/build-dist.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          setupFiles: ['test/fixtures/register-providers.ts'],
          globalSetup: ['test/fixtures/build-dist.ts'],
          // One shared cluster per file, checks run in order; QEMU under TCG is slow.
          testTimeout: 15 * 60_000,
          hookTimeout: 20 * 60_000,
          // One file at a time: each brings up its own QEMU cluster.
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
          sequence: { concurrent: false },
        },
      },
    ],
  },
});
