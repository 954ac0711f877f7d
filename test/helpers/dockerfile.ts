/**
 * A small Dockerfile reader for tests: enough of the syntax (comments, `\` continuations, stages, flags) to make
 * assertions about a file we write ourselves. Not a general parser: heredocs and parser directives are not handled.
 */

/** One instruction, continuation lines joined. */
export interface Instruction {
	/** Upper-cased: `FROM`, `RUN`, `COPY`... */
	readonly keyword: string;
	/** Everything after the keyword, whitespace collapsed. */
	readonly args: string;
	/** `--name=value` flags at the start of `args` (`COPY --from=build`), by name. */
	readonly flags: Readonly<Record<string, string>>;
	/** `args` without the leading flags. */
	readonly rest: string;
	/** 1-based line the instruction starts on. */
	readonly line: number;
}

/** A `FROM` and the instructions up to the next one. */
export interface Stage {
	readonly image: string;
	readonly name: string | undefined;
	readonly instructions: readonly Instruction[];
}

export interface ParsedDockerfile {
	/** Every instruction, in order. */
	readonly instructions: readonly Instruction[];
	/** `ARG`s before the first `FROM`: the only ones a `FROM` line can use. */
	readonly globalArgs: ReadonlyMap<string, string | undefined>;
	readonly stages: readonly Stage[];
}

/** Parses `text`; throws on a line that is not an instruction, so a typo cannot hide from the tests. */
export function parseDockerfile(text: string): ParsedDockerfile {
	const instructions: Instruction[] = [];
	const lines = text.split(/\r?\n/);
	let pending: { text: string; line: number } | undefined;

	for (const [index, raw] of lines.entries()) {
		const trimmed = raw.trim();

		// Comment lines may sit inside a continued instruction; Docker drops them there too.
		if (trimmed.startsWith('#') || (trimmed === '' && pending === undefined)) continue;

		const continued = trimmed.endsWith('\\');
		const part = continued ? trimmed.slice(0, -1) : trimmed;
		pending = pending ? { text: `${pending.text} ${part}`, line: pending.line } : { text: part, line: index + 1 };

		if (!continued) {
			instructions.push(toInstruction(pending.text, pending.line));
			pending = undefined;
		}
	}

	if (pending) instructions.push(toInstruction(pending.text, pending.line));

	const globalArgs = new Map<string, string | undefined>();
	const stages: { image: string; name: string | undefined; instructions: Instruction[] }[] = [];

	for (const instruction of instructions) {
		if (instruction.keyword === 'FROM') {
			const [image = '', as, name] = instruction.rest.split(' ');
			stages.push({ image, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
		} else if (stages.length === 0) {
			if (instruction.keyword !== 'ARG') throw new Error(`line ${instruction.line}: only ARG may precede FROM`);
			const [name = '', value] = splitAssignment(instruction.rest);
			globalArgs.set(name, value);
		} else {
			stages.at(-1)!.instructions.push(instruction);
		}
	}

	return { instructions, globalArgs, stages };
}

/** `NAME=value` (or a bare `NAME`) → `[name, value]`, one pair of surrounding quotes removed from the value. */
export function splitAssignment(text: string): [string, string | undefined] {
	const separator = text.indexOf('=');
	if (separator === -1) return [text.trim(), undefined];
	return [text.slice(0, separator).trim(), text.slice(separator + 1).replace(/^(["'])(.*)\1$/, '$2')];
}

/** `FROM image:${ARG}` with the global ARG defaults filled in, as Docker does when no --build-arg is given. */
export function resolveImage(image: string, globalArgs: ReadonlyMap<string, string | undefined>): string {
	return image.replace(/\$\{?(\w+)\}?/g, (whole, name: string) => globalArgs.get(name) ?? whole);
}

function toInstruction(text: string, line: number): Instruction {
	const match = /^([A-Za-z]+)\s+(.*)$/.exec(text.replace(/\s+/g, ' ').trim());
	if (!match) throw new Error(`line ${line}: not a Dockerfile instruction: ${text}`);

	const args = match[2]!.trim();
	const flags: Record<string, string> = {};
	let rest = args;

	for (let flag = /^--([\w-]+)=(\S+)\s*/.exec(rest); flag; flag = /^--([\w-]+)=(\S+)\s*/.exec(rest)) {
		flags[flag[1]!] = flag[2]!;
		rest = rest.slice(flag[0].length);
	}

	return { keyword: match[1]!.toUpperCase(), args, flags, rest, line };
}
