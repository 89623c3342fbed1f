// notify__email: sends one outbox message by email ({id}), enqueued by internal.notify_enqueue. Retries,
// backoff, the rate limit and "never twice" are in src/notify/deliver.ts.
import { notifyTask } from '../src/notify/tasks.ts';

export default notifyTask('email');
