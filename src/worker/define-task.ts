// Every job task parses its payload with zod before doing its one retryable thing.
import type { JobHelpers, Task } from 'graphile-worker';
import type { z } from 'zod';

export class InvalidPayloadError extends Error {
  constructor(
    readonly task: string,
    readonly problems: string[],
  ) {
    super(`invalid payload for ${task}: ${problems.join('; ')}`);
    this.name = 'InvalidPayloadError';
  }
}

export function defineTask<S extends z.ZodType>(
  schema: S,
  run: (payload: z.infer<S>, helpers: JobHelpers) => Promise<void>,
): Task {
  return async (payload, helpers) => {
    const parsed = schema.safeParse(payload ?? {});
    if (!parsed.success) {
      throw new InvalidPayloadError(
        helpers.job.task_identifier,
        parsed.error.issues.map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`),
      );
    }
    await run(parsed.data, helpers);
  };
}
