/**
 * The callback XML codec: untrusted XML in (xml2js, strict, no DOCTYPE or entity declarations, one
 * `<xml>` root), CDATA-safe XML out. Text is kept verbatim here; callers decide which fields to trim.
 */
import { Parser } from 'xml2js';

export type XmlValue = string | XmlNode | XmlValue[];
export interface XmlNode {
  [name: string]: XmlValue;
}

export type XmlErrorCode = 'xml_doctype_refused' | 'malformed_xml';

export class XmlError extends Error {
  constructor(
    readonly code: XmlErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'XmlError';
  }
}

// A DOCTYPE is where entity declarations (billion laughs, external entities) live; WeChat never sends one.
const DECLARATIONS = /<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)/i;

const parser = new Parser({
  async: false,
  strict: true,
  explicitArray: false,
  explicitRoot: true,
  ignoreAttrs: true,
  trim: false,
  emptyTag: '',
});

/** Parses a WeChat XML document into its `<xml>` element's children. */
export function parseXml(text: string): XmlNode {
  if (DECLARATIONS.test(text))
    throw new XmlError('xml_doctype_refused', 'XML with DOCTYPE or entity declarations is refused');
  let result: unknown;
  let failure: unknown;
  parser.reset();
  try {
    // With async: false xml2js calls back synchronously.
    parser.parseString(text, (err: unknown, value: unknown) => {
      failure = err;
      result = value;
    });
  } catch (err) {
    failure = err;
  }
  if (failure || typeof result !== 'object' || result === null)
    throw new XmlError('malformed_xml', 'The body is not well-formed XML');
  const root = (result as Record<string, unknown>).xml;
  if (root === '') return {};
  if (typeof root !== 'object' || root === null || Array.isArray(root))
    throw new XmlError('malformed_xml', 'The XML root element must be <xml>');
  return root as XmlNode;
}

// The safe-mode envelope as WeChat writes it; anything else goes through the full parser.
const ENVELOPE_ENCRYPT = /<Encrypt>\s*<!\[CDATA\[([A-Za-z0-9+/=]*)\]\]>\s*<\/Encrypt>/;

/**
 * The `Encrypt` value of a safe/compatible-mode body. The common shape is read directly (the value is
 * authenticated by msg_signature, and the rest of the envelope is not used); other shapes are parsed.
 */
export function encryptOf(text: string): string | undefined {
  if (DECLARATIONS.test(text))
    throw new XmlError('xml_doctype_refused', 'XML with DOCTYPE or entity declarations is refused');
  const fast = ENVELOPE_ENCRYPT.exec(text);
  if (fast) return fast[1];
  return textOf(parseXml(text), 'Encrypt')?.trim();
}

/** A text child, or undefined when absent or not text. */
export function textOf(node: XmlNode, name: string): string | undefined {
  const v = node[name];
  return typeof v === 'string' ? v : undefined;
}

/** A child element, or undefined. */
export function nodeOf(node: XmlNode, name: string): XmlNode | undefined {
  const v = node[name];
  return typeof v === 'object' && !Array.isArray(v) ? v : undefined;
}

/** Children that may appear once or many times, always as an array (WeChat's `List`, `item`). */
export function listOf(node: XmlNode | undefined, name: string): XmlNode[] {
  const v = node?.[name];
  if (v === undefined) return [];
  const items = Array.isArray(v) ? v : [v];
  return items.filter((x): x is XmlNode => typeof x === 'object' && !Array.isArray(x));
}

/** Wraps text in CDATA, splitting any `]]>` so the section cannot be closed early. */
export function cdata(text: string): string {
  return `<![CDATA[${text.replace(/]]>/g, ']]]]><![CDATA[>')}]]>`;
}

/** An element list rendered in order: strings become CDATA, numbers plain, nested arrays elements. */
export type XmlOut = Array<[string, string | number | XmlOut]>;

export function renderXml(children: XmlOut, root = 'xml'): string {
  const body = children
    .map(([name, value]) =>
      typeof value === 'number'
        ? `<${name}>${value}</${name}>`
        : typeof value === 'string'
          ? `<${name}>${cdata(value)}</${name}>`
          : renderXml(value, name),
    )
    .join('');
  return `<${root}>${body}</${root}>`;
}
