// The notify__email and notify__sms tasks, built from a configuration source so tests can hand them
// millisecond timings and local providers. jobs/notify__*.ts use the process configuration.
import type { JobHelpers, Task } from 'graphile-worker';
import { z } from 'zod';
import { loadConfig, type NotifyConfig } from '../config.ts';
import { defineTask } from '../worker/define-task.ts';
import { deliver, type Channel, type NotifyLogger } from './deliver.ts';
import { smtpSender, twilioSender, type OutgoingEmail, type OutgoingSms, type Sender } from './senders.ts';

const payload = z.object({ id: z.uuid() });

let configured: NotifyConfig | undefined;
/** The notify section of the process configuration (loaded once). */
export function notifyConfig(): NotifyConfig {
  configured ??= loadConfig(['notify']).notify;
  return configured;
}

export function jobNotifyLogger(helpers: JobHelpers): NotifyLogger {
  return {
    info: (fields, message) => helpers.logger.info(message, fields),
    warn: (fields, message) => helpers.logger.warn(message, fields),
    error: (fields, message) => helpers.logger.error(message, fields),
  };
}

/** One sender per process and configuration (SMTP connections are pooled by nodemailer). */
const senders = new WeakMap<NotifyConfig, Partial<Record<Channel, Sender<OutgoingEmail> | Sender<OutgoingSms>>>>();
function senderFor(config: NotifyConfig, channel: Channel): Sender<OutgoingEmail> | Sender<OutgoingSms> | undefined {
  const cache = senders.get(config) ?? {};
  senders.set(config, cache);
  if (cache[channel] === undefined) {
    if (channel === 'email' && config.smtpUrl !== undefined) {
      cache.email = smtpSender({ ...config, smtpUrl: config.smtpUrl });
    } else if (channel === 'sms' && config.twilio !== undefined) {
      cache.sms = twilioSender({ ...config, twilio: config.twilio });
    }
  }
  return cache[channel];
}

/** Closes the cached senders of a configuration (tests). */
export function closeSenders(config: NotifyConfig): void {
  for (const sender of Object.values(senders.get(config) ?? {})) sender.close();
  senders.delete(config);
}

export function notifyTask(channel: Channel, config: () => NotifyConfig = notifyConfig): Task {
  return defineTask(payload, async ({ id }, helpers) => {
    const c = config();
    await helpers.withPgClient((db) =>
      deliver(
        {
          db,
          config: c,
          log: jobNotifyLogger(helpers),
          sender: senderFor(c, channel),
          signal: helpers.abortSignal,
          withFreshClient: (work) => helpers.withPgClient(work),
        },
        id,
        channel,
      ),
    );
  });
}

/** At worker start: says, visibly, which channels are off (their messages will be marked suppressed). */
export function logNotifyChannels(config: NotifyConfig, log: NotifyLogger): void {
  const off = [
    config.smtpUrl === undefined ? 'email (SMTP_URL)' : [],
    config.twilio === undefined ? 'sms (TWILIO_*)' : [],
  ]
    .flat()
    .filter((x) => x !== '');
  if (off.length > 0) {
    log.warn({ channels: off }, 'notification channels not configured: their messages will be marked suppressed');
  } else {
    log.info({ twilioApiBaseUrl: config.twilioApiBaseUrl }, 'notification channels configured');
  }
}
