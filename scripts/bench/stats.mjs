/**
 * Small numeric and text helpers shared by the benchmark's parts: medians and ranges, number formatting, and a
 * plain-text table that lines up in any terminal or log.
 */

/**
 * @typedef {{ median: number, min: number, max: number, samples: number[] }} Spread
 */

/**
 * Median and range of a list of numbers.
 * @param {number[]} values
 * @returns {Spread}
 */
export function spread(values) {
	const sorted = [...values].sort((a, b) => a - b);
	const middle = sorted.length >> 1;
	const median = sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
	return { median, min: sorted[0], max: sorted.at(-1), samples: values };
}

/**
 * A number with thousands separators and `digits` decimals.
 * @param {number} value @param {number} [digits]
 */
export function num(value, digits = 0) {
	if (!Number.isFinite(value)) return String(value);
	return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/**
 * `median (min – max)` of a spread, each formatted with `digits` decimals.
 * @param {Spread} value @param {number} [digits]
 */
export function range(value, digits = 0) {
	return `${num(value.median, digits)} (${num(value.min, digits)} – ${num(value.max, digits)})`;
}

/**
 * Bytes in MiB with one decimal.
 * @param {number} bytes
 */
export function mib(bytes) {
	return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * A plain-text table: a header row, a rule, then the rows; columns are left-aligned unless named in `right`.
 * @param {string[]} header @param {(string | number)[][]} rows @param {{ right?: number[], indent?: string }} [options]
 */
export function table(header, rows, { right = [], indent = '  ' } = {}) {
	const cells = [header, ...rows].map((row) => row.map(String));
	const widths = header.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length)));
	const line = (row) =>
		indent +
		row
			.map((cell, column) => (right.includes(column) ? cell.padStart(widths[column]) : cell.padEnd(widths[column])))
			.join('  ')
			.trimEnd();

	return [
		line(cells[0]),
		indent + widths.map((width) => '-'.repeat(width)).join('  '),
		...cells.slice(1).map(line),
	].join('\n');
}
