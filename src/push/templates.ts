/**
 * Message templates (templates/messages/*.json): our message kinds mapped to WeChat template ids per
 * account and to their fields, with {{variables}} from the profile, the event and the plan. Rendering is
 * strict: a missing variable is an error, found before a push is approved, never a blank field at send time.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

export const MessageTemplateFile = z
  .object({
    kind: z.string().regex(/^[a-z][a-z0-9_]{1,40}$/),
    title: z.string().min(1).max(60),
    /** Marketing messages pass consent, caps and quiet hours; service notices (a code, a payout) do not. */
    marketing: z.boolean(),
    /** WeChat template id per account key; `default` applies to accounts not listed. */
    templateIds: z.record(z.string(), z.string().min(1).max(64)),
    fields: z.record(z.string().regex(/^[a-z_]+[0-9]*$/), z.string().max(200)),
  })
  .strict();
export type MessageTemplate = z.infer<typeof MessageTemplateFile>;

export function defaultTemplatesDir(): string {
  return join(import.meta.dirname, '..', '..', 'templates', 'messages');
}

/** Reads and validates every template file; a bad file stops start-up with its name and problem. */
export function loadMessageTemplates(dir = defaultTemplatesDir()): Map<string, MessageTemplate> {
  const templates = new Map<string, MessageTemplate>();
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    const parsed = MessageTemplateFile.safeParse(JSON.parse(readFileSync(join(dir, file), 'utf8')));
    if (!parsed.success)
      throw new Error(
        `templates/messages/${file}: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`,
      );
    if (`${parsed.data.kind}.json` !== file)
      throw new Error(`templates/messages/${file}: kind must match the file name`);
    templates.set(parsed.data.kind, parsed.data);
  }
  return templates;
}

const VARIABLE = /\{\{\s*([a-zA-Z][a-zA-Z0-9_]*)\s*\}\}/g;

/** The variables a template needs. */
export function variablesOf(template: MessageTemplate): string[] {
  const names = new Set<string>();
  for (const text of Object.values(template.fields)) for (const m of text.matchAll(VARIABLE)) names.add(m[1]!);
  return [...names].sort();
}

export class MissingVariables extends Error {
  constructor(readonly missing: string[]) {
    super(`missing template variables: ${missing.join(', ')}`);
  }
}

export interface RenderedTemplate {
  templateId: string;
  data: Record<string, { value: string }>;
}

/** Fills a template for one account; WeChat caps a field's value at 20 characters for `thing` fields. */
export function renderTemplate(
  template: MessageTemplate,
  account: string,
  vars: Record<string, string | number | undefined>,
): RenderedTemplate {
  const missing = variablesOf(template).filter((v) => vars[v] === undefined || vars[v] === '');
  if (missing.length > 0) throw new MissingVariables(missing);
  const data: Record<string, { value: string }> = {};
  for (const [field, text] of Object.entries(template.fields)) {
    let value = text.replace(VARIABLE, (_m, name: string) => String(vars[name]));
    if (field.startsWith('thing') && [...value].length > 20) value = `${[...value].slice(0, 19).join('')}…`;
    data[field] = { value };
  }
  const templateId = template.templateIds[account] ?? template.templateIds.default;
  if (!templateId) throw new Error(`template ${template.kind} has no template id for account ${account}`);
  return { templateId, data };
}

/** Fills the {{variables}} of a plan's free text (WeCom and customer-service plans), as strictly as a template. */
export function renderText(text: string, vars: Record<string, string | number | undefined>): string {
  const names = [...new Set([...text.matchAll(VARIABLE)].map((m) => m[1]!))];
  const missing = names.filter((v) => vars[v] === undefined || vars[v] === '').sort();
  if (missing.length > 0) throw new MissingVariables(missing);
  return text.replace(VARIABLE, (_m, name: string) => String(vars[name]));
}
