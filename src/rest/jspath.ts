// The JSPath subset of `jwt-role-claim-key` (contract §3): `.a.b[0]`, `."quoted key"` and the
// filters `[?(@ == "x")]`, `!=`, `^==` (starts with), `==^` (ends with), `*==` (contains).

type Step =
  | { kind: 'key'; key: string }
  | { kind: 'index'; index: number }
  | { kind: 'filter'; op: '==' | '!=' | '^==' | '==^' | '*=='; value: string };

export class JsPathError extends Error {
  constructor(readonly path: string) {
    super(`invalid JSPath: ${path}`);
    this.name = 'JsPathError';
  }
}

export type JsPath = Step[];

export function parseJsPath(path: string): JsPath {
  const steps: Step[] = [];
  let i = 0;
  const fail = (): never => {
    throw new JsPathError(path);
  };
  const readQuoted = (): string => {
    const end = path.indexOf('"', i + 1);
    if (end < 0) fail();
    const text = path.slice(i + 1, end);
    i = end + 1;
    return text;
  };
  while (i < path.length) {
    if (path[i] === '.') {
      i += 1;
      if (path[i] === '"') {
        steps.push({ kind: 'key', key: readQuoted() });
      } else {
        const m = /^[A-Za-z0-9_$@-]+/.exec(path.slice(i));
        if (!m) fail();
        steps.push({ kind: 'key', key: m![0] });
        i += m![0].length;
      }
    } else if (path[i] === '[') {
      const rest = path.slice(i);
      const index = /^\[(\d+)\]/.exec(rest);
      const filter = /^\[\?\(@\s*(==\^|\^==|\*==|==|!=)\s*"([^"]*)"\)\]/.exec(rest);
      if (index) {
        steps.push({ kind: 'index', index: Number(index[1]) });
        i += index[0].length;
      } else if (filter) {
        steps.push({ kind: 'filter', op: filter[1] as '==', value: filter[2]! });
        i += filter[0].length;
      } else fail();
    } else fail();
  }
  return steps;
}

function matches(op: Extract<Step, { kind: 'filter' }>['op'], candidate: string, value: string): boolean {
  switch (op) {
    case '==':
      return candidate === value;
    case '!=':
      return candidate !== value;
    case '^==':
      return candidate.startsWith(value);
    case '==^':
      return candidate.endsWith(value);
    case '*==':
      return candidate.includes(value);
  }
}

/** Walks `path` through `value`; undefined when a step finds nothing. */
export function walkJsPath(path: JsPath, value: unknown): unknown {
  let current: unknown = value;
  for (const step of path) {
    if (step.kind === 'key') {
      if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
      current = (current as Record<string, unknown>)[step.key];
    } else if (step.kind === 'index') {
      if (!Array.isArray(current)) return undefined;
      current = current[step.index];
    } else {
      if (!Array.isArray(current)) return undefined;
      current = current.find((c) => typeof c === 'string' && matches(step.op, c, step.value));
    }
    if (current === undefined) return undefined;
  }
  return current;
}
