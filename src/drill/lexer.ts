/**
 * Tokens of the packetdrill script language.
 *
 * Like packetdrill's flex lexer the language is free-form (newlines are
 * whitespace), but each token remembers its line and whether it opened
 * that line, so the parser can report positions and resynchronise on the
 * next event after a construct it cannot run.
 */
import { ScriptSyntaxError } from './ast.js';

export type TokenKind =
  | 'int'      // 123, -1
  | 'hex'      // 0x1f
  | 'float'    // 0.100, .5
  | 'ipv4'     // 192.0.2.1
  | 'word'     // socket, S, AF_INET, sackOK
  | 'string'   // "..."
  | 'command'  // `...`
  | 'code'     // %{ ... }%
  | 'ellipsis' // ...
  | 'option'   // --tolerance_usecs
  | 'punct'    // any other single character
  | 'eof';

export interface Token {
  kind: TokenKind;
  /** Source text (for strings/commands/code: the content without delimiters). */
  text: string;
  /** Numeric value for int/hex/float. */
  value: number;
  line: number;
  /** First token on its line. */
  bol: boolean;
}

const isDigit = (c: string): boolean => c >= '0' && c <= '9';
const isWordChar = (c: string): boolean =>
  (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || isDigit(c) || c === '_';
const IPV4_RE = /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+/;
const HEX_RE = /^0x[0-9a-fA-F]+/;
const FLOAT_RE = /^-?[0-9]*\.[0-9]+/;
const INT_RE = /^-?[0-9]+/;

/** Split a script into tokens; throws {@link ScriptSyntaxError} on an unterminated string/comment/block. */
export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let line = 1;
  let lastLine = 0;
  const push = (kind: TokenKind, text: string, value: number, atLine: number): void => {
    out.push({ kind, text, value, line: atLine, bol: atLine !== lastLine });
    lastLine = atLine;
  };
  const countLines = (s: string): number => {
    let n = 0;
    for (let k = 0; k < s.length; k++) if (s.charCodeAt(k) === 10) n++;
    return n;
  };
  while (i < src.length) {
    const c = src[i];
    if (c === '\n') { line++; i++; continue; }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') { i++; continue; }
    if (c === '/' && src[i + 1] === '/') {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      if (end < 0) throw new ScriptSyntaxError(line, 'unterminated /* comment');
      line += countLines(src.slice(i, end + 2));
      i = end + 2;
      continue;
    }
    if (c === '%' && src[i + 1] === '{') {
      const end = src.indexOf('}%', i + 2);
      if (end < 0) throw new ScriptSyntaxError(line, 'unterminated %{ code block');
      const body = src.slice(i + 2, end);
      push('code', body.trim(), 0, line);
      line += countLines(src.slice(i, end + 2));
      i = end + 2;
      continue;
    }
    if (c === '`' || c === '"') {
      let j = i + 1;
      let body = '';
      while (j < src.length && src[j] !== c) {
        if (src[j] === '\\' && j + 1 < src.length) {
          const e = src[j + 1];
          // A command goes to the shell as written (line continuations included); only \` is unescaped.
          if (c === '`') body += e === '`' ? e : '\\' + e;
          else if (e === 'x' && /[0-9a-fA-F]/.test(src[j + 2] ?? '')) {
            // C's \xNN (one or two digits here): a byte, kept as the char code (TCP_FASTOPEN_KEY values).
            const hex = /^[0-9a-fA-F]{1,2}/.exec(src.slice(j + 2))![0];
            body += String.fromCharCode(parseInt(hex, 16));
            j += 2 + hex.length;
            continue;
          } else if (/[0-7]/.test(e)) {
            const oct = /^[0-7]{1,3}/.exec(src.slice(j + 1))![0];
            body += String.fromCharCode(parseInt(oct, 8) & 0xff);
            j += 1 + oct.length;
            continue;
          } else body += e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e;
          j += 2;
        } else {
          body += src[j];
          j++;
        }
      }
      if (j >= src.length) throw new ScriptSyntaxError(line, `unterminated ${c === '`' ? 'back-quoted command' : 'string'}`);
      push(c === '`' ? 'command' : 'string', body, 0, line);
      line += countLines(src.slice(i, j + 1));
      i = j + 1;
      continue;
    }
    if (c === '.' && src[i + 1] === '.' && src[i + 2] === '.') {
      push('ellipsis', '...', 0, line);
      i += 3;
      continue;
    }
    if (c === '-' && src[i + 1] === '-' && isWordChar(src[i + 2] ?? '')) {
      let j = i + 2;
      while (j < src.length && isWordChar(src[j])) j++;
      push('option', src.slice(i + 2, j), 0, line);
      i = j;
      continue;
    }
    const startsNumber = isDigit(c)
      || (c === '-' && (isDigit(src[i + 1] ?? '') || (src[i + 1] === '.' && isDigit(src[i + 2] ?? ''))))
      || (c === '.' && isDigit(src[i + 1] ?? ''));
    if (startsNumber) {
      const rest = src.slice(i, i + 64);
      let m: RegExpExecArray | null;
      let kind: TokenKind;
      let value = 0;
      if ((m = IPV4_RE.exec(rest))) { kind = 'ipv4'; }
      else if ((m = HEX_RE.exec(rest))) { kind = 'hex'; value = parseInt(m[0].slice(2), 16); }
      else if ((m = FLOAT_RE.exec(rest))) { kind = 'float'; value = parseFloat(m[0]); }
      else { m = INT_RE.exec(rest)!; kind = 'int'; value = parseInt(m[0], 10); }
      let text = m[0];
      // A digit run glued to letters (e.g. `3des`) is a word, as in flex's longest match.
      if (kind === 'int' && isWordChar(src[i + text.length] ?? '') && !text.startsWith('-')) {
        let j = i + text.length;
        while (j < src.length && isWordChar(src[j])) j++;
        text = src.slice(i, j);
        kind = 'word';
      }
      push(kind, text, value, line);
      i += text.length;
      continue;
    }
    if (isWordChar(c)) {
      let j = i;
      while (j < src.length && isWordChar(src[j])) j++;
      push('word', src.slice(i, j), 0, line);
      i = j;
      continue;
    }
    push('punct', c, 0, line);
    i++;
  }
  out.push({ kind: 'eof', text: '', value: 0, line, bol: true });
  return out;
}
