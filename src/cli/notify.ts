// `flows notify preview <template> [--payload file]`: renders a notification template (the sample payload
// unless a JSON file is given) as the email subject, plain text, HTML and SMS text, with the SMS's encoding
// and segment count. Touches no database and no provider.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { smsEncoding } from '../notify/gsm7.ts';
import { isTemplateName, render, samplePayload, templateNames, templates } from '../notify/templates.ts';

export async function preview(template: string, payloadFile?: string): Promise<string> {
  if (!isTemplateName(template)) {
    throw new Error(`unknown template '${template}'; known: ${templateNames.join(', ')}`);
  }
  const payload: unknown =
    payloadFile === undefined ? samplePayload(template) : JSON.parse(await readFile(payloadFile, 'utf8'));
  const r = render(template, payload);
  const sms = smsEncoding(r.sms);
  return [
    `template: ${template} (${templates[template].audience}) — ${templates[template].description}`,
    `subject: ${r.subject}`,
    '',
    '--- text ---',
    r.text,
    '--- html ---',
    r.html,
    '',
    `--- sms (${sms.encoding}, ${sms.units} ${sms.encoding === 'GSM-7' ? 'septets' : 'UTF-16 units'}, ${sms.segments} segment${sms.segments === 1 ? '' : 's'}) ---`,
    r.sms,
    '',
  ].join('\n');
}

export function register(program: Command): void {
  const notify = program.command('notify').description('notifications: email and SMS from the outbox');
  notify
    .command('preview')
    .description(`render a template: ${templateNames.join(', ')}`)
    .argument('<template>', 'template name')
    .option('--payload <file>', 'JSON payload (default: the template’s sample)')
    .action(async (template: string, options: { payload?: string }) => {
      process.stdout.write(await preview(template, options.payload));
    });
}
