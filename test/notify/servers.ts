// The notification tests' providers, one set per test file: a real SMTP server and the Twilio stand-in
// (test/notify/support.ts), started before the file's tests and stopped after them. Separate from support.ts,
// which the resilience suite imports outside vitest.
import { afterAll, beforeAll } from 'vitest';
import { startMailbox, startTwilio, type Mailbox, type TwilioStandIn } from './support.ts';

export function useNotifyServers(options: { twilio?: boolean } = {}): { mailbox: Mailbox; twilio: TwilioStandIn } {
  const holder = {} as { mailbox: Mailbox; twilio: TwilioStandIn };
  beforeAll(async () => {
    holder.mailbox = await startMailbox();
    if (options.twilio) holder.twilio = await startTwilio();
  });
  afterAll(async () => {
    await holder.mailbox?.stop();
    await holder.twilio?.stop();
  });
  return holder;
}
