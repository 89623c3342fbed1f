// notify__sms: sends one outbox message by SMS through Twilio ({id}), enqueued by internal.notify_enqueue.
// Retries, backoff, the rate limit and "never twice" are in src/notify/deliver.ts.
import { notifyTask } from '../src/notify/tasks.ts';

export default notifyTask('sms');
