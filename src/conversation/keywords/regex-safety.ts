/**
 * A static check that refuses regular expressions able to backtrack catastrophically, so a staff member's
 * rule can never stall the callback path: nested quantifiers (`(a+)+`, `(\w*)*`), quantified alternations
 * (`(a|aa)*`), back-references and lookbehinds are refused, and patterns are bounded in length. Matching also
 * bounds the input it tests (MAX_REGEX_INPUT), so even an accepted pattern runs over at most that many chars.
 */

export const MAX_PATTERN_LENGTH = 200;
/** Only the first characters of a message are tested against regular-expression rules. */
export const MAX_REGEX_INPUT = 200;

export type RegexVerdict = { ok: true; regex: RegExp } | { ok: false; reason: string };

interface Group {
  /** The group (or something inside it) holds a quantifier. */
  quantified: boolean;
  alternation: boolean;
}

/** Whether `pattern` compiles and is free of the shapes that backtrack exponentially. */
export function checkRegex(pattern: string): RegexVerdict {
  if (pattern.length === 0) return { ok: false, reason: 'empty pattern' };
  if (pattern.length > MAX_PATTERN_LENGTH) return { ok: false, reason: `longer than ${MAX_PATTERN_LENGTH} characters` };
  let regex: RegExp;
  try {
    regex = new RegExp(pattern, 'iu');
  } catch (err) {
    return { ok: false, reason: `does not compile: ${err instanceof Error ? err.message : String(err)}` };
  }
  const stack: Group[] = [{ quantified: false, alternation: false }];
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      const next = pattern[i + 1] ?? '';
      if (/[1-9]/.test(next) || (next === 'k' && pattern[i + 2] === '<'))
        return { ok: false, reason: 'back-references are not allowed' };
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') {
      inClass = true;
      continue;
    }
    if (c === '(') {
      if (pattern.startsWith('(?<=', i) || pattern.startsWith('(?<!', i))
        return { ok: false, reason: 'lookbehind is not allowed' };
      stack.push({ quantified: false, alternation: false });
      continue;
    }
    if (c === '|') {
      stack[stack.length - 1]!.alternation = true;
      continue;
    }
    if (c === ')') {
      const group = stack.pop();
      if (!group || stack.length === 0) return { ok: false, reason: 'unbalanced parentheses' };
      const quantifier = quantifierAt(pattern, i + 1);
      if (quantifier.unbounded || quantifier.repeats) {
        if (group.quantified) return { ok: false, reason: 'nested quantifiers can backtrack catastrophically' };
        if (group.alternation && quantifier.unbounded)
          return { ok: false, reason: 'a repeated alternation can backtrack catastrophically' };
      }
      const parent = stack[stack.length - 1]!;
      parent.quantified ||= group.quantified || quantifier.unbounded || quantifier.repeats;
      continue;
    }
    const quantifier = quantifierAt(pattern, i);
    if (quantifier.unbounded || quantifier.repeats) stack[stack.length - 1]!.quantified = true;
  }
  return { ok: true, regex };
}

/** The quantifier starting at `i`: `*`, `+`, `{n,}` are unbounded; `{n,m}` with m > 1 repeats. `?` does neither. */
function quantifierAt(pattern: string, i: number): { unbounded: boolean; repeats: boolean } {
  const c = pattern[i];
  if (c === '*' || c === '+') return { unbounded: true, repeats: true };
  if (c === '{') {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i));
    if (!m) return { unbounded: false, repeats: false };
    if (m[2] !== undefined && m[3] === '') return { unbounded: true, repeats: true };
    const max = Number(m[3] ?? m[1]);
    return { unbounded: false, repeats: max > 1 };
  }
  return { unbounded: false, repeats: false };
}
