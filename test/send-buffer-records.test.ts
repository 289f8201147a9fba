/** SendBuffer record ends (MSG_EOR): a segment never spans one; passed ends are forgotten. */
import { expect } from 'chai';
import { TsMempool } from '../src/mbuf/ts-mempool.js';
import { SendBuffer } from '../src/tcp/send-buffer.js';
import { allocTxMbuf } from '../src/tcp/zc.js';

describe('send-buffer: record ends (MSG_EOR)', () => {
  it('alignedLen cuts a segment at a record end inside it, also for the last bytes queued', () => {
    const pool = new TsMempool({ count: 64 });
    const sb = new SendBuffer(pool);
    sb.push(allocTxMbuf(pool, 300));
    sb.markRecordEnd(); // [0, 300) is a record
    sb.push(allocTxMbuf(pool, 500));
    sb.markRecordEnd(); // [300, 800)
    sb.push(allocTxMbuf(pool, 400));
    expect(sb.records).to.equal(2);
    expect(sb.alignedLen(0, 1000, 1000)).to.equal(300);
    expect(sb.alignedLen(300, 900, 1000)).to.equal(500);
    expect(sb.records).to.equal(1); // the first end is behind the asker now
    expect(sb.alignedLen(800, 400, 1000)).to.equal(400);
    expect(sb.records).to.equal(0);
    sb.markRecordEnd();
    sb.markRecordEnd(); // twice at one place: one end
    expect(sb.records).to.equal(1);
    sb.clear();
    expect(sb.records).to.equal(0);
    expect(pool.inUse()).to.equal(0);
  });
});
