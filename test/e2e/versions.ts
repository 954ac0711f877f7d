/** The Directus versions the end-to-end suite runs against: `BCC_E2E_DIRECTUS` (comma-separated) or both majors. */
export function directusVersions(): string[] {
	const list = process.env['BCC_E2E_DIRECTUS'] ?? '11.17.4,12.4.0';
	return list
		.split(',')
		.map((version) => version.trim())
		.filter(Boolean);
}
