// The notify section of src/config.ts: production refuses to start without a channel's settings; elsewhere
// an unset channel is allowed (its messages are marked suppressed), but half a Twilio configuration is not.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type Env } from '../../src/config.ts';

const twilio = {
  TWILIO_ACCOUNT_SID: `AC${'ab'.repeat(16)}`,
  TWILIO_AUTH_TOKEN: 'secret-token',
  TWILIO_FROM: '+447700900000',
};
const problems = (env: Env) => {
  try {
    loadConfig(['notify'], env);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
};

describe('notify configuration', () => {
  it('defaults outside production: no channels, production timings', () => {
    const { notify } = loadConfig(['notify'], { FLOWS_ENV: 'development' });
    expect(notify).toMatchObject({
      smtpUrl: undefined,
      twilio: undefined,
      twilioApiBaseUrl: 'https://api.twilio.com',
      maxAttempts: 8,
      backoffMs: 30_000,
      maxBackoffMs: 3_600_000,
      emailMinIntervalMs: 100,
      smsMinIntervalMs: 1000,
    });
  });

  it('refuses to start in production without SMTP and Twilio settings, naming each', () => {
    expect(problems({ FLOWS_ENV: 'production' })).toEqual([
      'SMTP_URL: required in production (email notifications)',
      'TWILIO_ACCOUNT_SID: required in production (SMS notifications)',
      'TWILIO_AUTH_TOKEN: required in production (SMS notifications)',
      'TWILIO_FROM: required in production (SMS notifications)',
    ]);
    expect(problems({ FLOWS_ENV: 'production', SMTP_URL: 'smtps://u:p@mail.example:465', ...twilio })).toEqual([]);
  });

  it('refuses half a Twilio configuration and bad values anywhere', () => {
    expect(problems({ FLOWS_ENV: 'development', TWILIO_AUTH_TOKEN: 'x' })).toEqual([
      'TWILIO_ACCOUNT_SID: required with TWILIO_AUTH_TOKEN (SMS needs all three)',
      'TWILIO_FROM: required with TWILIO_AUTH_TOKEN (SMS needs all three)',
    ]);
    const bad = problems({
      FLOWS_ENV: 'development',
      SMTP_URL: 'http://mail',
      TWILIO_API_BASE_URL: 'ftp://x',
      NOTIFY_BACKOFF_MS: '1.5',
    });
    expect(bad.map((p) => p.split(':')[0])).toEqual(['SMTP_URL', 'TWILIO_API_BASE_URL', 'NOTIFY_BACKOFF_MS']);
  });

  it('resolves a full configuration with millisecond settings', () => {
    const { notify } = loadConfig(['notify'], {
      FLOWS_ENV: 'test',
      SMTP_URL: 'smtp://127.0.0.1:2525',
      ...twilio,
      TWILIO_API_BASE_URL: 'http://127.0.0.1:9999',
      NOTIFY_BACKOFF_MS: '5',
      NOTIFY_MAX_BACKOFF_MS: '50',
    });
    expect(notify.twilio).toEqual({
      accountSid: twilio.TWILIO_ACCOUNT_SID,
      authToken: 'secret-token',
      from: '+447700900000',
    });
    expect([notify.smtpUrl, notify.twilioApiBaseUrl, notify.backoffMs, notify.maxBackoffMs]).toEqual([
      'smtp://127.0.0.1:2525',
      'http://127.0.0.1:9999',
      5,
      50,
    ]);
  });
});

describe('logNotifyChannels', () => {
  it('warns, visibly, about each channel that is off', async () => {
    const { logNotifyChannels } = await import('../../src/notify/tasks.ts');
    const lines: [string, Record<string, unknown>, string][] = [];
    const log = {
      info: (f: Record<string, unknown>, m: string) => lines.push(['info', f, m]),
      warn: (f: Record<string, unknown>, m: string) => lines.push(['warn', f, m]),
      error: (f: Record<string, unknown>, m: string) => lines.push(['error', f, m]),
    };
    logNotifyChannels(loadConfig(['notify'], { FLOWS_ENV: 'development' }).notify, log);
    expect(lines).toEqual([
      [
        'warn',
        { channels: ['email (SMTP_URL)', 'sms (TWILIO_*)'] },
        'notification channels not configured: their messages will be marked suppressed',
      ],
    ]);
  });
});
