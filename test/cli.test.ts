import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cidrArg, formatHelp, intIn, listOf, parseArgs, UsageError, type CommandSpec } from '../src/cli/args.js';
import { startTzstack, tzstack, type Running } from './cli-helpers.js';

const SPEC: CommandSpec = {
  name: 'demo',
  summary: 'A command for testing the parser.',
  flags: [
    { name: 'dev', value: '<devargs>', required: true, help: 'device' },
    { name: 'ip', value: '<cidr>', parse: cidrArg, help: 'address' },
    { name: 'n', value: '<n>', default: '3', parse: intIn(1, 10), help: 'count' },
    { name: 'verbose', help: 'talk more' },
    { name: 'tag', value: '<t>', repeatable: true, short: 't', help: 'tags' },
    { name: 'svc', value: '<list>', default: 'all', parse: listOf(['a', 'b']), help: 'services' },
  ],
  positionals: [{ name: 'url', help: 'where' }],
};

function usageError(argv: string[]): string {
  try {
    parseArgs(SPEC, argv);
  } catch (e) {
    expect(e).to.be.instanceOf(UsageError);
    const msg = (e as Error).message;
    expect(msg).to.not.include('\n');
    return msg;
  }
  throw new Error(`no usage error for ${argv.join(' ')}`);
}

describe('cli: argument parser', () => {
  it('parses flags in both forms, defaults, switches, repeats and positionals', () => {
    const r = parseArgs(SPEC, ['--dev', 'x,y=1', '--ip=10.0.0.1/24', '--verbose', '--tag', 'a', '--tag=b', 'http://h/', '--svc', 'b']);
    expect(r.help).to.equal(false);
    expect(r.values).to.deep.equal({ dev: 'x,y=1', ip: '10.0.0.1/24', verbose: true, tag: ['a', 'b'], n: 3, svc: ['b'] });
    expect(r.positionals).to.deep.equal(['http://h/']);
    expect(parseArgs(SPEC, ['--dev', 'd', '--', '-x']).positionals).to.deep.equal(['-x']);
    expect(parseArgs(SPEC, ['--dev', 'd']).values.svc).to.deep.equal(['a', 'b']);
    expect(parseArgs(SPEC, ['--dev', 'd', '-t', 'x']).values.tag).to.deep.equal(['x']);
    expect(parseArgs(SPEC, ['--dev', 'd', '--svc', 'none']).values.svc).to.deep.equal([]);
  });

  it('treats --help anywhere as a request for help, even with other errors', () => {
    expect(parseArgs(SPEC, ['--bogus', '--help']).help).to.equal(true);
    expect(() => parseArgs(SPEC, ['--dev', 'd', '--', '--help'])).to.not.throw();
    expect(parseArgs(SPEC, ['--dev', 'd', '--', '--help']).help).to.equal(false);
    expect(parseArgs(SPEC, ['-h']).help).to.equal(true);
    expect(parseArgs(SPEC, ['--dev', 'd', '--help']).help).to.equal(true);
  });

  it('names the flag in a one-line error for every kind of mistake', () => {
    expect(usageError(['--dev', 'd', '--bogus'])).to.match(/unknown flag --bogus/);
    expect(usageError(['--dev', 'd', '-x'])).to.match(/unknown option -x/);
    expect(usageError(['--dev'])).to.match(/--dev needs a value/);
    expect(usageError(['--ip', '10.0.0.1/24'])).to.match(/missing --dev/);
    expect(usageError(['--dev', 'd', '--ip', '10.0.0.300/24'])).to.match(/--ip: '10.0.0.300\/24'/);
    expect(usageError(['--dev', 'd', '--ip', '10.0.0.1'])).to.match(/--ip:.*prefix length/);
    expect(usageError(['--dev', 'd', '--n', '11'])).to.match(/--n: 11 is out of range 1..10/);
    expect(usageError(['--dev', 'd', '--n', 'x'])).to.match(/--n: 'x' is not an integer/);
    expect(usageError(['--dev', 'd', '--verbose=yes'])).to.match(/--verbose takes no value/);
    expect(usageError(['--dev', 'd', '--dev', 'e'])).to.match(/--dev given more than once/);
    expect(usageError(['--dev', 'd', '--svc', 'a,c'])).to.match(/--svc: unknown 'c'/);
    expect(usageError(['--dev', 'd', 'u1', 'u2'])).to.match(/unexpected argument 'u2'/);
  });

  it('describes every flag in the help', () => {
    const h = formatHelp(SPEC);
    for (const f of SPEC.flags) expect(h).to.include(`--${f.name}`);
    expect(h).to.include('Default: 3');
    expect(h).to.include('(required)');
    expect(h).to.include('<url>');
    expect(h).to.include('-t, --tag <t>');
  });
});

describe('cli: tzstack program', () => {
  it('--help lists the commands and exits 0; no arguments exits 2', () => {
    const r = tzstack(['--help']);
    expect(r.status).to.equal(0);
    expect(r.stdout).to.match(/Usage: tzstack <command>/);
    expect(r.stdout).to.match(/\bserve\b/);
    const none = tzstack([]);
    expect(none.status).to.equal(2);
    expect(none.stderr).to.match(/Usage/);
    expect(tzstack(['--version']).stdout).to.match(/^tzstack \d+\.\d+\.\d+/);
  });

  it('serve --help describes every flag', () => {
    const r = tzstack(['serve', '--help']);
    expect(r.status).to.equal(0);
    for (const f of ['--dev', '--ip', '--gateway', '--pcap', '--impair', '--stats', '--mem', '--services', 'ready']) expect(r.stdout).to.include(f);
    expect(tzstack(['help', 'serve']).stdout).to.equal(r.stdout);
  });

  it('usage errors print one line naming the flag and exit 2', () => {
    const cases: Array<[string[], RegExp]> = [
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['--frob'], /unknown flag --frob/],
      [['serve', '--dev', 'mem', '--ip', '10.0.0.1/24', '--bogus'], /--bogus/],
      [['serve', '--dev', 'mem'], /missing --ip/],
      [['serve', '--dev', 'mem', '--ip', 'ten'], /--ip/],
      [['serve', '--dev', 'mem', '--ip', '10.0.0.1/24', '--gateway', '10.0.0'], /--gateway/],
      [['serve', '--dev', 'mem', '--ip', '10.0.0.1/24', '--impair', 'loss=7'], /--impair: impairment 'loss'/],
      [['serve', '--dev', 'mem', '--ip', '10.0.0.1/24', '--impair', 'wobble=1'], /--impair: unknown impairment 'wobble'/],
      [['serve', '--dev', 'mem', '--ip', '10.0.0.1/24', '--mem', 'lots'], /--mem/],
      [['serve', '--dev', 'mem', '--ip', '10.0.0.1/24', '--services', 'ftp'], /--services: unknown 'ftp'/],
      [['serve', '--dev', 'mem', '--ip', '10.0.0.1/24', '--stats'], /--stats needs a value/],
    ];
    for (const [argv, re] of cases) {
      const r = tzstack(argv);
      expect(r.status, argv.join(' ')).to.equal(2);
      expect(r.stderr.trimEnd().split('\n'), argv.join(' ')).to.have.length(1);
      expect(r.stderr, argv.join(' ')).to.match(re);
      expect(r.stdout).to.equal('');
    }
  });

  describe('serve --dev mem', () => {
    let dir: string;
    let proc: Running | undefined;
    beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'tzT-cli-')); });
    afterEach(() => {
      proc?.kill();
      proc = undefined;
      rmSync(dir, { recursive: true, force: true });
    });

    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      it(`prints ready, and on ${sig} writes its stats and exits 0`, async () => {
        const stats = join(dir, 'stats.json');
        proc = startTzstack(['serve', '--dev', 'mem', '--ip', '10.73.9.1/24', '--stats', stats]);
        await proc.waitFor(/ready/);
        expect(proc.stdout).to.match(/ready 10\.73\.9\.1\/24 mac [0-9a-f:]{17} on mem/);
        expect(proc.stdout).to.match(/tcp services echo:7 discard:9 http:80/);
        proc.child.kill(sig);
        expect(await proc.exited()).to.equal(0);
        const s = JSON.parse(readFileSync(stats, 'utf8'));
        expect(s.dev).to.equal('mem');
        expect(s.pool.inUseAtExit).to.equal(0);
        expect(s.pool.capacity).to.equal(8191);
        expect(s.port.txPackets).to.be.at.least(1); // the gratuitous ARP
        expect(s.stack).to.have.property('arp');
        expect(s.stack).to.have.property('ip');
        expect(s.services).to.deep.include({ echo: 0, discard: 0, http: 0 });
      });
    }

    it('runs with --impair and --pcap, reporting both, and without services', async () => {
      const stats = join(dir, 'stats.json');
      const pcap = join(dir, 'cap.pcap');
      proc = startTzstack(['serve', '--dev', 'mem', '--ip', '10.73.9.1/24', '--stats', stats, '--pcap', pcap,
        '--impair', 'loss=0.5,delay=1,seed=3,dir=tx', '--services', 'none', '--mbufs', '1024']);
      await proc.waitFor(/ready/);
      expect(proc.stdout).to.not.match(/tcp services/);
      proc.child.kill('SIGTERM');
      expect(await proc.exited()).to.equal(0);
      const s = JSON.parse(readFileSync(stats, 'utf8'));
      expect(s.pool).to.deep.equal({ name: 'tzstack-mem', capacity: 1024, inUseAtExit: 0 });
      expect(s.impair.tx.in).to.be.at.least(1);
      expect(s.impair.rx.in).to.equal(0);
      expect(s.pcap.frames).to.be.at.least(1);
      const buf = readFileSync(pcap);
      expect(buf.readUInt32LE(0)).to.equal(0xa1b2c3d4);
      expect(buf.length).to.be.greaterThan(24 + 16 + 42 - 1);
      // the first frame is our gratuitous ARP: ethertype 0x0806
      expect(buf.readUInt16BE(24 + 16 + 12)).to.equal(0x0806);
    });

    it('reports a device that cannot be opened on one line with exit 1', function () {
      // A DPDK device name that does not exist (DPDK itself may be missing here: also one line, exit 1).
      const r = tzstack(['serve', '--dev', 'net_af_packet0,iface=tzTnonexist0', '--ip', '10.73.9.1/24', '--mem', '64']);
      expect(r.status).to.equal(1);
      // DPDK may log its own lines first; ours is one line naming the device
      expect(r.stderr).to.match(/^tzstack serve: \S/m);
      expect(existsSync(join(dir, 'stats.json'))).to.equal(false);
    });
  });
});
