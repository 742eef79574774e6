import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["**/*.test.ts"],
    exclude: ["node_modules/**", "gen/**"],
    testTimeout: 30_000,
    // Hooks start whole meshes; under two suites at once that can take a minute or more.
    hookTimeout: 150_000,
    pool: "forks",
    maxWorkers: 2,
    fileParallelism: true,
  },
});
