import { defineConfig } from 'vitest/config';

export default defineConfig({
	test: {
		coverage: {
			provider: 'v8',
			include: ['src/**'],
			reporter: ['text-summary'],
		},
		projects: [
			{
				test: {
					name: 'unit',
					include: ['test/unit/**/*.test.ts'],
					// Unit tests first, then the end-to-end suite with its own worker limit.
					sequence: { groupOrder: 0 },
				},
			},
			{
				test: {
					name: 'e2e',
					include: ['test/e2e/**/*.test.ts'],
					sequence: { groupOrder: 1 },
					globalSetup: ['test/e2e/global-setup.ts'],
					testTimeout: 120_000,
					hookTimeout: 300_000,
					// Each file boots its own Directus processes; two at a time fit two cores.
					maxWorkers: 2,
				},
			},
		],
	},
});
