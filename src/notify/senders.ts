// The two providers: email through nodemailer over SMTP_URL, SMS through the twilio client (its API base
// URL configurable, so tests talk to a local stand-in). Each send either returns the provider's message id
// or throws a SendError saying whether a retry could help: invalid addresses and numbers and 4xx refusals
// are permanent; connection failures, timeouts, 5xx, 429 and SMTP 4xx replies are transient.
import nodemailer from 'nodemailer';
import twilio from 'twilio';
import type { NotifyConfig } from '../config.ts';

export class SendError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SendError';
  }
}

/** Strips addresses and phone numbers from a provider's error text (it is stored and logged). */
export function redact(text: string): string {
  return text
    .replace(/[^\s<>@"']+@[^\s<>@"']+/g, '[address]')
    .replace(/\+?\d[\d ]{6,}\d/g, '[number]')
    .slice(0, 500);
}

export interface OutgoingEmail {
  /** The outbox id: the Message-ID is derived from it, so a resent message is recognisably the same. */
  id: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  attachments?: { filename: string; content: Buffer; contentType: string }[];
}
export interface OutgoingSms {
  id: string;
  to: string;
  body: string;
}
export interface Sender<M> {
  send(message: M, signal?: AbortSignal): Promise<{ providerMessageId: string }>;
  close(): void;
}

export const messageIdOf = (id: string) => `<${id}@notify.flows>`;

interface SmtpFailure {
  code?: string;
  responseCode?: number;
  message?: string;
}

export function smtpSender(config: NotifyConfig & { smtpUrl: string }): Sender<OutgoingEmail> {
  const transport = nodemailer.createTransport({
    url: config.smtpUrl,
    connectionTimeout: config.sendTimeoutMs,
    greetingTimeout: config.sendTimeoutMs,
    socketTimeout: config.sendTimeoutMs,
  });
  return {
    async send(message, signal) {
      signal?.throwIfAborted();
      try {
        const info = await transport.sendMail({
          from: config.emailFrom,
          to: message.to,
          subject: message.subject,
          text: message.text,
          html: message.html,
          messageId: messageIdOf(message.id),
          headers: { 'X-Flows-Notification': message.id },
          attachments: message.attachments,
        });
        if (info.rejected.length > 0) throw new SendError('recipient refused', true);
        return { providerMessageId: info.messageId };
      } catch (error) {
        if (error instanceof SendError) throw error;
        const e = error as SmtpFailure;
        // EENVELOPE: no valid recipient; 5xx replies: refused for good. SMTP 4xx and connection errors: retry.
        const permanent = e.code === 'EENVELOPE' || (e.responseCode !== undefined && e.responseCode >= 500);
        throw new SendError(
          redact(
            `smtp ${e.code ?? 'error'}${e.responseCode ? ` ${e.responseCode}` : ''}: ${e.message ?? String(error)}`,
          ),
          permanent,
          { cause: error },
        );
      }
    },
    close: () => transport.close(),
  };
}

interface TwilioFailure {
  status?: number;
  code?: number | string;
  message?: string;
}

export function twilioSender(
  config: NotifyConfig & { twilio: NonNullable<NotifyConfig['twilio']> },
): Sender<OutgoingSms> {
  const client = twilio(config.twilio.accountSid, config.twilio.authToken, {
    timeout: config.sendTimeoutMs,
    autoRetry: false,
  });
  // The API domain's base URL is public and read per request (Domain.absoluteUrl).
  client.api.baseUrl = config.twilioApiBaseUrl.replace(/\/+$/, '');
  const from = config.twilio.from;
  return {
    async send(message, signal) {
      signal?.throwIfAborted();
      try {
        const created = await client.messages.create({
          to: message.to,
          body: message.body,
          ...(from.startsWith('MG') ? { messagingServiceSid: from } : { from }),
        });
        return { providerMessageId: created.sid };
      } catch (error) {
        const e = error as TwilioFailure;
        const status = typeof e.status === 'number' ? e.status : undefined;
        const permanent = status !== undefined && status >= 400 && status < 500 && status !== 429 && status !== 408;
        throw new SendError(
          redact(
            `twilio ${status ?? 'network'}${e.code !== undefined ? ` (${e.code})` : ''}: ${e.message ?? String(error)}`,
          ),
          permanent,
          { cause: error },
        );
      }
    },
    close: () => undefined,
  };
}
