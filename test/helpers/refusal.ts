/** What a promise was refused with, asserted to be a `TokenRejectedError`, so a test can check its code. */
import { expect } from 'vitest';
import { TokenRejectedError } from '../../src/token/token-rejected-error.js';

export async function refusalOf(promise: Promise<unknown>): Promise<TokenRejectedError> {
	const error = await promise.then(
		() => undefined,
		(reason: unknown) => reason,
	);
	expect(error).toBeInstanceOf(TokenRejectedError);
	return error as TokenRejectedError;
}
