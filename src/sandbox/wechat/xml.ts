/**
 * The XML WeChat speaks on the callback: pushes built the way WeChat writes them (strings in CDATA,
 * numbers bare, nested elements for menu-event details) and replies read back into plain records.
 */
import { parseStringPromise } from 'xml2js';

export type XmlValue = string | number | XmlRecord | XmlRecord[];
export interface XmlRecord {
  [name: string]: XmlValue | undefined;
}

function cdata(text: string): string {
  // "]]>" cannot appear inside one CDATA section: split it across two.
  return `<![CDATA[${text.replace(/]]>/g, ']]]]><![CDATA[>')}]]>`;
}

function element(name: string, value: XmlValue): string {
  if (typeof value === 'number') return `<${name}>${value}</${name}>`;
  if (typeof value === 'string') return `<${name}>${cdata(value)}</${name}>`;
  if (Array.isArray(value)) return value.map((v) => element(name, v)).join('');
  return `<${name}>${fields(value)}</${name}>`;
}

function fields(record: XmlRecord): string {
  return Object.entries(record)
    .filter((entry): entry is [string, XmlValue] => entry[1] !== undefined)
    .map(([k, v]) => element(k, v))
    .join('');
}

/** `<xml>…</xml>` for a record, in the key order given. */
export function buildXml(record: XmlRecord): string {
  return `<xml>${fields(record)}</xml>`;
}

export interface ParsedXml {
  [name: string]: string | ParsedXml | ParsedXml[] | string[];
}

/** Parses `<xml>…</xml>` into a record of strings (nested elements become records, repeats arrays). */
export async function parseXml(text: string): Promise<ParsedXml> {
  const parsed = (await parseStringPromise(text, {
    explicitArray: false,
    explicitRoot: false,
    trim: true,
    emptyTag: () => '',
  })) as unknown;
  if (typeof parsed !== 'object' || parsed === null) throw new Error('not an XML document with fields');
  return parsed as ParsedXml;
}

/** A string field of a parsed record (undefined when absent or nested). */
export function textOf(record: ParsedXml, name: string): string | undefined {
  const v = record[name];
  return typeof v === 'string' ? v : undefined;
}
