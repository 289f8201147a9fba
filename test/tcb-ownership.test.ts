/**
 * Who writes the TCB. connection.ts declares TcpConnection's fields in
 * groups, each headed `// ---- title (written by a.ts, b.ts) ----`; a field
 * whose own doc comment says `written by x.ts` has that rule instead. This
 * test finds every write to a connection field in src/tcp (assignment,
 * compound assignment, ++/--, destructuring assignment), by type — whatever
 * the variable is called — and fails naming the file:line of any write from a
 * module that is not the field's owner. Initialisers in the constructor (and
 * in private methods only the constructor calls) are the declaration's and
 * always allowed. Writes through a structural view of
 * the connection (state.ts's StateHolder, socket.ts's SocketConnection) are
 * not of type TcpConnection and not seen.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TCP = path.join(ROOT, 'src/tcp');
const CONN = path.join(TCP, 'connection.ts');

/**
 * Groups whose header names no writer yet, with why: the test passes them
 * over (and fails once one gets a `written by`, so this list stays true).
 */
const NOT_YET_OWNED: Record<string, string> = {
};

/**
 * Writes a module still makes directly while its owner's function waits to
 * replace them, file → fields (none now). Listed pairs must still occur, so
 * the list only shrinks.
 */
const NOT_YET_MOVED: Record<string, string[]> = {};

interface Group { title: string; owners: string[] | null; fields: Map<string, string[] | null>; line: number }

/** `written by` names in a comment: every `something.ts` after the phrase. */
function writers(text: string): string[] | null {
  const i = text.indexOf('written by');
  if (i < 0) return null;
  return [...text.slice(i).matchAll(/[\w./-]+\.ts\b/g)].map((m) => m[0]);
}

/** The groups of TcpConnection's field declarations, from connection.ts's text. */
function readGroups(): Group[] {
  const sf = ts.createSourceFile(CONN, fs.readFileSync(CONN, 'utf8'), ts.ScriptTarget.ES2022, true);
  const cls = sf.statements.find((s): s is ts.ClassDeclaration => ts.isClassDeclaration(s) && s.name?.text === 'TcpConnection');
  if (cls === undefined) throw new Error('no class TcpConnection in connection.ts');
  const text = sf.getFullText();
  const groups: Group[] = [];
  for (const m of cls.members) {
    if (!ts.isPropertyDeclaration(m) || !ts.isIdentifier(m.name)) continue;
    // The comments before the declaration (its leading trivia) and on its line.
    const lead = text.slice(m.getFullStart(), m.getStart());
    for (const h of lead.matchAll(/\/\/ ---- (.*) ----/g)) {
      groups.push({ title: h[1], owners: writers(h[1]), fields: new Map(), line: sf.getLineAndCharacterOfPosition(m.getFullStart()).line + 2 });
    }
    const g = groups[groups.length - 1];
    if (g === undefined) throw new Error(`field ${m.name.text} before the first group comment`);
    const doc = (lead.split(/\/\/ ---- .* ----/).pop() ?? '') + text.slice(m.getStart(), m.getEnd());
    g.fields.set(m.name.text, writers(doc.replace(/\/\/ ---- .* ----/g, '')));
  }
  return groups;
}

interface Write { field: string; file: string; line: number }

/** Every write to a TcpConnection field in src/tcp outside TcpConnection's constructor. */
/**
 * TcpConnection's methods that only its constructor calls (`this.m()`), such
 * as primeDoubleFields: their writes are the construction's.
 */
function constructionMethods(sf: ts.SourceFile): Set<string> {
  const cls = sf.statements.find((s): s is ts.ClassDeclaration => ts.isClassDeclaration(s) && s.name?.text === 'TcpConnection');
  const out = new Set<string>();
  if (cls === undefined) return out;
  const callers = new Map<string, Set<string>>(); // method → the members calling it
  for (const m of cls.members) {
    const from = ts.isConstructorDeclaration(m) ? 'constructor' : m.name !== undefined && ts.isIdentifier(m.name) ? m.name.text : '?';
    const walk = (n: ts.Node): void => {
      if (ts.isPropertyAccessExpression(n) && n.expression.kind === ts.SyntaxKind.ThisKeyword) {
        let set = callers.get(n.name.text);
        if (set === undefined) callers.set(n.name.text, set = new Set());
        set.add(ts.isCallExpression(n.parent) && n.parent.expression === n ? from : '?');
      }
      ts.forEachChild(n, walk);
    };
    walk(m);
  }
  for (const m of cls.members) {
    if (!ts.isMethodDeclaration(m) || !ts.isIdentifier(m.name)) continue;
    const c = callers.get(m.name.text);
    if (c !== undefined && c.size === 1 && c.has('constructor')) out.add(m.name.text);
  }
  // Other files never see a private method; a public one might be called from anywhere.
  for (const m of cls.members) {
    if (ts.isMethodDeclaration(m) && ts.isIdentifier(m.name) && out.has(m.name.text)
      && !(ts.getCombinedModifierFlags(m) & ts.ModifierFlags.Private)) out.delete(m.name.text);
  }
  return out;
}

let scanned: Write[] | null = null;
function findWrites(): Write[] {
  if (scanned !== null) return scanned;
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const f of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, f.name);
      if (f.isDirectory()) walk(p);
      else if (f.name.endsWith('.ts') && !f.name.endsWith('.d.ts')) files.push(p);
    }
  };
  walk(TCP);
  const prog = ts.createProgram(files, {
    target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true, noEmit: true, skipLibCheck: true, types: [],
  });
  const checker = prog.getTypeChecker();
  const isConn = (e: ts.Expression): boolean => {
    const t = checker.getTypeAtLocation(e);
    const s = t.getSymbol() ?? t.aliasSymbol;
    return s !== undefined && s.getName() === 'TcpConnection'
      && (s.declarations ?? []).some((d) => path.resolve(d.getSourceFile().fileName) === CONN);
  };
  const out: Write[] = [];
  for (const sf of prog.getSourceFiles()) {
    const file = path.resolve(sf.fileName);
    if (!file.startsWith(TCP + path.sep)) continue;
    const rel = path.relative(TCP, file).split(path.sep).join('/');
    const record = (target: ts.Expression, inCtor: boolean): void => {
      if (ts.isParenthesizedExpression(target)) { record(target.expression, inCtor); return; }
      if (ts.isObjectLiteralExpression(target)) {
        for (const p of target.properties) {
          if (ts.isPropertyAssignment(p)) record(p.initializer, inCtor);
          else if (ts.isShorthandPropertyAssignment(p)) continue; // a local variable
          else if (ts.isSpreadAssignment(p)) record(p.expression, inCtor);
        }
        return;
      }
      if (ts.isArrayLiteralExpression(target)) { for (const e of target.elements) record(ts.isSpreadElement(e) ? e.expression : e, inCtor); return; }
      if (ts.isBinaryExpression(target) && target.operatorToken.kind === ts.SyntaxKind.EqualsToken) { record(target.left, inCtor); return; } // a default
      const acc = ts.isPropertyAccessExpression(target) ? target
        : ts.isElementAccessExpression(target) && ts.isStringLiteral(target.argumentExpression) ? target : null;
      if (acc === null || !isConn(acc.expression)) return;
      if (inCtor) return;
      const field = ts.isPropertyAccessExpression(acc) ? acc.name.text : (acc.argumentExpression as ts.StringLiteral).text;
      out.push({ field, file: rel, line: sf.getLineAndCharacterOfPosition(acc.getStart()).line + 1 });
    };
    const ctorOnly = file === CONN ? constructionMethods(sf) : new Set<string>();
    const visit = (n: ts.Node, inCtor: boolean): void => {
      if (file === CONN && n.parent !== undefined && ts.isClassDeclaration(n.parent) && n.parent.name?.text === 'TcpConnection'
        && (ts.isConstructorDeclaration(n) || (ts.isMethodDeclaration(n) && ts.isIdentifier(n.name) && ctorOnly.has(n.name.text)))) inCtor = true;
      if (ts.isBinaryExpression(n) && n.operatorToken.kind >= ts.SyntaxKind.FirstAssignment && n.operatorToken.kind <= ts.SyntaxKind.LastAssignment) {
        record(n.left, inCtor);
      } else if ((ts.isPrefixUnaryExpression(n) || ts.isPostfixUnaryExpression(n))
        && (n.operator === ts.SyntaxKind.PlusPlusToken || n.operator === ts.SyntaxKind.MinusMinusToken)) {
        record(n.operand, inCtor);
      } else if (ts.isDeleteExpression(n)) {
        record(n.expression, inCtor);
      } else if ((ts.isForOfStatement(n) || ts.isForInStatement(n)) && !ts.isVariableDeclarationList(n.initializer)) {
        record(n.initializer as ts.Expression, inCtor);
      }
      ts.forEachChild(n, (k) => visit(k, inCtor));
    };
    visit(sf, false);
  }
  scanned = out;
  return out;
}

describe('tcb ownership: each group of TcpConnection fields is written by its module', function () {
  this.timeout(60000);
  const groups = readGroups();
  const owner = new Map<string, { group: Group; owners: string[] | null }>();
  for (const g of groups) for (const [f, own] of g.fields) owner.set(f, { group: g, owners: own ?? g.owners });

  it('every group names its writers, or is listed as not yet owned (with a reason)', () => {
    // A header may leave the writers to its fields when each field names its own.
    const unnamed = groups.filter((g) => g.owners === null && [...g.fields.values()].some((o) => o === null)).map((g) => g.title);
    expect(unnamed.sort()).to.deep.equal(Object.keys(NOT_YET_OWNED).sort());
    for (const g of groups) {
      for (const o of g.owners ?? []) expect(fs.existsSync(path.join(TCP, o)), `${g.title}: no src/tcp/${o}`).to.equal(true);
      for (const [f, own] of g.fields) for (const o of own ?? []) expect(fs.existsSync(path.join(TCP, o)), `${f}: no src/tcp/${o}`).to.equal(true);
    }
  });

  it('reads the rules connection.ts states', () => {
    expect(owner.get('sndNxt')?.owners).to.deep.equal(['seq-space.ts', 'tcb-init.ts']);
    expect(owner.get('iss')?.owners, 'a field\'s own rule').to.deep.equal(['tcb-init.ts']);
    expect(owner.get('rtxAt')?.owners).to.deep.equal(['timers.ts']);
    expect(owner.get('mss')?.owners).to.deep.equal(['pmtu.ts']);
    expect(owner.get('parent')?.owners).to.deep.equal(['layer.ts']);
  });

  it('no module writes a field it does not own', () => {
    const writes = findWrites();
    expect(writes.length, 'the scan found the writes').to.be.greaterThan(50);
    const bad: string[] = [];
    const pending = new Set<string>();
    for (const w of writes) {
      const o = owner.get(w.field);
      if (o === undefined) { bad.push(`src/tcp/${w.file}:${w.line} writes ${w.field}, which is no declared field`); continue; }
      if (o.owners === null) continue; // not yet owned
      if (o.owners.includes(w.file)) continue;
      if (NOT_YET_MOVED[w.file]?.includes(w.field)) { pending.add(`${w.file} ${w.field}`); continue; }
      bad.push(`src/tcp/${w.file}:${w.line} writes ${w.field} (group "${o.group.title}": ${o.owners.join(', ')})`);
    }
    expect(bad, bad.join('\n')).to.deep.equal([]);
    const listed = Object.entries(NOT_YET_MOVED).flatMap(([f, fields]) => fields.map((x) => `${f} ${x}`));
    expect(listed.filter((x) => !pending.has(x)), 'NOT_YET_MOVED lists writes that are gone').to.deep.equal([]);
  });

  it('sees the writes of every module that touches the TCB', () => {
    // The scan goes by type: every file writing to a connection appears, not just the `c.` ones.
    const files = new Set(findWrites().map((w) => w.file));
    for (const f of ['connection.ts', 'input.ts', 'output.ts', 'layer.ts', 'timers.ts']) expect(files.has(f), f).to.equal(true);
  });
});
