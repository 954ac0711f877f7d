const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether a reference from the configuration is a UUID (an id) rather than a name or an email. */
export function isUuid(reference: string): boolean {
	return UUID.test(reference);
}
